# sso-operator image: Node 24 LTS runs the TypeScript sources directly (type
# stripping), so there is no build step beyond installing production
# dependencies.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY crds ./crds
# Non-root; the root filesystem can be mounted read-only (state lives in Secrets in cluster mode).
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["node", "src/cli.ts"]
CMD ["run"]
