// Assembles one operator process: store -> controller -> registry -> HTTP.
// The standalone mode lives here; the cluster mode in cluster.ts shares serve().

import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { admit } from './api/index.ts';
import type { RunConfig } from './config.ts';
import { Controller } from './controller/controller.ts';
import { Registry } from './controller/registry.ts';
import { MemoryStatusSink } from './controller/status-sink.ts';
import { StatusWriter } from './controller/status-writer.ts';
import { attachPendingRequests, attachQueues, createMetrics, type Metrics } from './metrics/metrics.ts';
import { MemoryReplayCache } from './saml/replay-cache.ts';
import type { ReplayCache } from './saml/types.ts';
import { DirectoryAccessRequestStore, type AccessRequestStore } from './access/requests.ts';
import { AccessTokenBroker, MemoryTokenVault, type TokenVault } from './session/access-tokens.ts';
import { MemoryRevocationList, type RevocationList } from './session/revocation.ts';
import { buildAdminApp } from './server/admin-app.ts';
import { buildPublicApp, type PublicAppOptions } from './server/public-app.ts';
import { loadOrCreateKeyFile, type SessionKeySet } from './session/keys.ts';
import { SessionTokens } from './session/tokens.ts';
import { DirectoryStore } from './store/directory-store.ts';
import type { Store, StoredObject } from './store/types.ts';

export interface Operator {
  publicApp: FastifyInstance;
  adminApp: FastifyInstance;
  controller: Controller;
  registry: Registry;
  store: Store;
  metrics: Metrics;
  statusWriter: StatusWriter;
  /** Bound addresses, e.g. http://127.0.0.1:8080 */
  publicAddress: string;
  adminAddress: string;
  /** Graceful: readiness off, no new work, in-flight requests finish, then close. */
  stop(): Promise<void>;
}

export interface StandaloneOperator extends Operator {
  status: MemoryStatusSink;
  store: DirectoryStore;
}

/** Log redaction is defence in depth: nothing should log these, and if it does they are masked. */
export const REDACT = [
  'token', '*.token', 'cookie', '*.cookie', 'headers.cookie', 'SAMLResponse', '*.SAMLResponse', 'SAMLRequest', '*.SAMLRequest',
  'privateKey', '*.privateKey', 'password', '*.password', 'stateKey', '*.stateKey',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  // Synchronous stdout: a line is out before the next step (readiness, exit),
  // so nothing is lost on a crash and a log reader never sees them late.
  return pino({ level, base: { app: 'sso-operator' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination ?? pino.destination({ dest: 1, sync: true }));
}

export interface ServeInput {
  config: RunConfig;
  logger: Logger;
  metrics: Metrics;
  registry: Registry;
  controller: Controller;
  statusWriter: StatusWriter;
  store: Store;
  keys: () => SessionKeySet;
  replay: ReplayCache;
  /** Sessions ended by logout (shared through Redis in cluster mode with --redis-url). */
  revocations: RevocationList;
  /** Provider tokens of sessions (session.passAccessToken); shared through Redis like revocations. */
  tokenVault: TokenVault;
  /** Where access requests are recorded (spec.access.requests), and how many wait per connector. */
  accessRequests?: AccessRequestStore;
  appOptions?: PublicAppOptions;
  status: () => unknown;
  /** Extra readiness condition (cluster mode: informers synced). */
  ready?: () => boolean;
  /** `standalone` or `cluster`, and fields for the start-up log line. */
  mode: string;
  startedLog?: Record<string, unknown>;
  /** Runs after the listeners closed (release the Lease, close Redis, ...). */
  onStopped?: () => Promise<void>;
}

/** Starts the admin listener, then the controller, then the public listener; returns the process handle. */
export async function serve(input: ServeInput): Promise<Operator> {
  const { config, logger, metrics, registry, controller, store, statusWriter } = input;
  attachQueues(metrics, () => controller.queueStats());
  // Pending access requests: the store's own count (standalone: its folder), else the Pending bindings served.
  const pendingRequests = input.accessRequests?.pendingCounts?.bind(input.accessRequests);
  attachPendingRequests(metrics, pendingRequests ?? (async () => registry.current().bindings.countByPhase('PendingApproval')));
  let started = false;
  let closing = false;
  // The admin listener comes up first, so liveness answers while the caches
  // sync; readiness stays 503 until the first reconcile of everything is done.
  const adminApp = await buildAdminApp({
    metrics,
    ready: () => started && !closing && store.synced() && (input.ready?.() ?? true),
    status: input.status,
  });
  const adminAddress = await adminApp.listen({ host: config.adminListen.host, port: config.adminListen.port });
  try {
    await controller.start();
  } catch (err) {
    await adminApp.close();
    throw err;
  }
  const sessions = new SessionTokens(input.keys, config.publicURL);
  const publicApp = await buildPublicApp(
    {
      registry,
      sessions,
      stateKey: () => input.keys().stateKey,
      replay: input.replay,
      revocations: input.revocations,
      accessTokens: new AccessTokenBroker(input.tokenVault),
      ...(input.accessRequests ? { accessRequests: input.accessRequests } : {}),
      metrics,
      logger,
      stopping: () => closing,
      config: {
        publicURL: config.publicURL,
        ...(config.cookieDomain ? { cookieDomain: config.cookieDomain } : {}),
        allowedRedirectHosts: config.allowedRedirectHosts,
        trustProxy: config.trustProxy,
        ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
        ...(config.requestTimeoutSeconds !== undefined ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
      },
    },
    input.appOptions,
  );
  // An answer sent after stop() began closes its connection: fastify's close()
  // only drops the connections idle at that moment, so a keep-alive connection
  // whose request was in flight would otherwise hold the close open until the
  // client let go of it (a browser: minutes), past the 10 s shutdown bound,
  // and the Lease would never be released.
  // A callback hook: it runs on every answer, and an async one costs a promise each.
  publicApp.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  const publicAddress = await publicApp.listen({ host: config.listen.host, port: config.listen.port });
  // Logged before readiness turns on, so whoever waits for /readyz finds it.
  logger.info({ ...input.startedLog, publicURL: config.publicURL, listen: publicAddress, admin: adminAddress }, `sso-operator started (${input.mode})`);
  started = true;
  let stopping: Promise<void> | undefined;
  return {
    publicApp,
    adminApp,
    controller,
    registry,
    statusWriter,
    store,
    metrics,
    publicAddress,
    adminAddress,
    stop() {
      stopping ??= (async () => {
        const began = Date.now();
        // Readiness goes off first so load balancers stop sending new requests;
        // fastify's close() then waits for the requests already in flight.
        closing = true;
        await controller.stop();
        statusWriter.close();
        // ...but not for ever: Node's request timeout stops with the server,
        // so a client that stalls in its body would hold the close open past
        // the 10 s shutdown bound (cli/run.ts), and the Lease would never be
        // released. What is still open after the grace is cut.
        const cut = setTimeout(() => {
          logger.warn({ graceMs: STOP_GRACE_MS }, 'requests still in flight at the end of the shutdown grace: their connections are closed');
          publicApp.server.closeAllConnections();
        }, Math.max(0, STOP_GRACE_MS - (Date.now() - began)));
        try {
          await publicApp.close();
        } finally {
          clearTimeout(cut);
        }
        await input.onStopped?.();
        await adminApp.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

/** How long stop() waits for requests in flight before it closes their connections (within the CLI's 10 s bound). */
export const STOP_GRACE_MS = 7_000;

export async function startStandalone(config: RunConfig & { manifests: string }, logger: Logger = createLogger(config.logLevel)): Promise<StandaloneOperator> {
  const metrics = createMetrics();
  const registry = new Registry();
  const status = new MemoryStatusSink(logger);
  const keys = await loadOrCreateKeyFile(join(config.stateDir, 'session-keys.json'));

  const overlay: StoredObject[] = [];
  const appOptions: PublicAppOptions = {};
  let store: DirectoryStore | undefined;
  if (config.demoIdp) {
    // Loaded only with --demo-idp: the development IdP and OP (oidc-provider
    // and its web stack) cost every other start ~0.5 s and ~30 MB (measured).
    const [{ createDemoIdp }, { createDemoOp }] = await Promise.all([import('./demo-idp/app.ts'), import('./demo-idp/oidc-op.ts')]);
    const demo = await createDemoIdp({
      publicURL: config.publicURL,
      logger,
      users: () => store?.get('ConfigMap', 'default', 'demo-idp-users')?.data?.['users.yaml'],
    });
    const op = await createDemoOp({
      publicURL: config.publicURL,
      logger,
      users: () => store?.get('ConfigMap', 'default', 'demo-idp-users')?.data?.['users.yaml'],
    });
    overlay.push(...demo.overlay, ...op.overlay);
    appOptions.plugins = [demo.plugin, op.plugin];
    appOptions.homeLinks = [{ href: '/demo-idp/', text: 'Development demo IdP (started with --demo-idp; never use it in production)' }];
    logger.warn({ url: `${config.publicURL}/demo-idp/` }, 'the development demo IdP is on: never use --demo-idp in production');
  }
  const directory = new DirectoryStore({ dir: config.manifests, admit, logger, overlay });
  store = directory;
  const statusWriter = new StatusWriter({ target: status, logger });
  const controller = new Controller({ store: directory, registry, status: statusWriter, metrics, logger, publicURL: config.publicURL });

  const op = await serve({
    config,
    logger,
    metrics,
    registry,
    controller,
    statusWriter,
    store: directory,
    keys: () => keys,
    replay: new MemoryReplayCache(),
    // One process: an in-memory list sees every logout.
    revocations: new MemoryRevocationList(),
    // One process: in memory. Provider tokens do not survive a restart (their
    // sessions do): forward-auth then answers 401 and the user signs in again.
    tokenVault: new MemoryTokenVault(),
    // Access requests are manifests written into a folder of their own; the admin moves one into the manifests folder to approve it.
    accessRequests: new DirectoryAccessRequestStore(config.requestsDir ?? join(config.stateDir, 'requests')),
    appOptions,
    mode: 'standalone',
    startedLog: { manifests: config.manifests },
    status: () => ({ mode: 'standalone', manifests: config.manifests, problems: directory.problems(), statusBacklog: statusWriter.backlog(), resources: status.list() }),
  });
  return { ...op, status, store: directory };
}
