# sso-operator image: Node 24 LTS runs the TypeScript sources directly (type
# stripping), so there is no build step beyond installing production
# dependencies.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# Memory (issue 10: 1,000 connectors and 100,000 bindings under 300 MiB RSS;
# docs/operations.md, "Memory"). Test harnesses, benchmarks and the scale
# run read these lines (test/support/operator-runtime.ts), so what they
# measure is what this image runs.
# - Two malloc arenas instead of one per thread (its effect alone was not
#   measured; the figures are for all of these together).
# - The compile cache, filled below, holds the type-stripped sources: the
#   TypeScript stripper (a WebAssembly module, ~18 MB RSS) is then never
#   loaded.
ENV MALLOC_ARENA_MAX=2 NODE_COMPILE_CACHE=/app/.compile-cache
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY crds ./crds
# Every module imported once (the entry point through `help`), so its stripped and compiled form is cached.
RUN node -e "const fs = require('node:fs'); (async () => { for (const f of fs.readdirSync('src', { recursive: true })) if (f.endsWith('.ts') && f !== 'cli.ts') await import('./src/' + f); })()" \
 && node src/cli.ts help > /dev/null
# Non-root; the root filesystem can be mounted read-only (state lives in Secrets in cluster mode).
USER 1000:1000
EXPOSE 8080 9090
# - The heap limit follows the pod's memory limit (75% of it: 384 MB of the
#   chart's 512Mi), where Node's default, half of it, left too little for
#   100,000 bindings.
# - A young generation of 2 x 4 MB: Node sizes it from the machine's memory
#   (2 x 32 MB on a large node), which was ~100 MB of RSS for garbage that a
#   small one collects as cheaply (bench figures in docs/operations.md).
ENTRYPOINT ["node", "--max-old-space-size-percentage=75", "--max-semi-space-size=4", "src/cli.ts"]
CMD ["run"]
