// Assembles one operator process: store -> controller -> registry -> HTTP.

import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { admit } from './api/index.ts';
import { Controller } from './controller/controller.ts';
import { Registry } from './controller/registry.ts';
import { MemoryStatusSink } from './controller/status-sink.ts';
import { createDemoIdp } from './demo-idp/app.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { MemoryReplayCache } from './saml/replay-cache.ts';
import { buildAdminApp } from './server/admin-app.ts';
import { buildPublicApp, type PublicAppOptions } from './server/public-app.ts';
import { loadOrCreateKeyFile } from './session/keys.ts';
import { SessionTokens } from './session/tokens.ts';
import type { RunConfig } from './config.ts';
import { DirectoryStore } from './store/directory-store.ts';
import type { StoredObject } from './store/types.ts';

export interface Operator {
  publicApp: FastifyInstance;
  adminApp: FastifyInstance;
  controller: Controller;
  registry: Registry;
  status: MemoryStatusSink;
  store: DirectoryStore;
  metrics: Metrics;
  /** Bound addresses, e.g. http://127.0.0.1:8080 */
  publicAddress: string;
  adminAddress: string;
  stop(): Promise<void>;
}

/** Log redaction is defence in depth: nothing should log these, and if it does they are masked. */
export const REDACT = [
  'token', '*.token', 'cookie', '*.cookie', 'headers.cookie', 'SAMLResponse', '*.SAMLResponse', 'SAMLRequest', '*.SAMLRequest',
  'privateKey', '*.privateKey', 'password', '*.password', 'stateKey', '*.stateKey',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { app: 'sso-operator' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

export async function startStandalone(config: RunConfig & { manifests: string }, logger: Logger = createLogger(config.logLevel)): Promise<Operator> {
  const metrics = createMetrics();
  const registry = new Registry();
  const status = new MemoryStatusSink(logger);
  const keyFile = join(config.stateDir, 'session-keys.json');
  const keys = await loadOrCreateKeyFile(keyFile);
  const sessions = new SessionTokens(() => keys, config.publicURL);

  const overlay: StoredObject[] = [];
  const appOptions: PublicAppOptions = {};
  let store: DirectoryStore;
  if (config.demoIdp) {
    const demo = await createDemoIdp({
      publicURL: config.publicURL,
      logger,
      users: () => store.get('ConfigMap', 'default', 'demo-idp-users')?.data?.['users.yaml'],
    });
    overlay.push(...demo.overlay);
    appOptions.plugins = [demo.plugin];
    appOptions.homeLinks = [{ href: '/demo-idp/', text: 'Development demo IdP (started with --demo-idp; never use it in production)' }];
    logger.warn({ url: `${config.publicURL}/demo-idp/` }, 'the development demo IdP is on: never use --demo-idp in production');
  }
  store = new DirectoryStore({ dir: config.manifests, admit, logger, overlay });
  const controller = new Controller({ store, registry, status, metrics, logger, publicURL: config.publicURL });

  let synced = false;
  await controller.start();
  synced = store.synced();

  const publicApp = await buildPublicApp(
    {
      registry,
      sessions,
      stateKey: () => keys.stateKey,
      replay: new MemoryReplayCache(),
      metrics,
      logger,
      config: {
        publicURL: config.publicURL,
        ...(config.cookieDomain ? { cookieDomain: config.cookieDomain } : {}),
        allowedRedirectHosts: config.allowedRedirectHosts,
        trustProxy: config.trustProxy,
      },
    },
    appOptions,
  );
  let closing = false;
  const adminApp = await buildAdminApp({
    metrics,
    ready: () => synced && !closing,
    status: () => ({
      mode: 'standalone',
      manifests: config.manifests,
      problems: store.problems(),
      resources: status.list(),
    }),
  });
  const publicAddress = await publicApp.listen({ host: config.listen.host, port: config.listen.port });
  const adminAddress = await adminApp.listen({ host: config.adminListen.host, port: config.adminListen.port });
  logger.info({ publicURL: config.publicURL, listen: publicAddress, admin: adminAddress, manifests: config.manifests }, 'sso-operator started (standalone)');

  return {
    publicApp,
    adminApp,
    controller,
    registry,
    status,
    store,
    metrics,
    publicAddress,
    adminAddress,
    async stop() {
      closing = true;
      await controller.stop();
      await Promise.allSettled([publicApp.close(), adminApp.close()]);
    },
  };
}
