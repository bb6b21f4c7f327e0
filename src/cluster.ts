// Cluster mode: informers -> controller -> registry -> HTTP, with status,
// Events and session-key rotation written only by the Lease holder. Every
// replica serves logins from its own caches.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { admit } from './api/index.ts';
import { DEFAULT_KUBE_QPS, type RunConfig } from './config.ts';
import { Controller } from './controller/controller.ts';
import { EventRecorder } from './controller/events.ts';
import { KubeStatusSink } from './controller/kube-status-sink.ts';
import { LeaderElector } from './controller/leader-election.ts';
import { Registry } from './controller/registry.ts';
import { StatusWriter } from './controller/status-writer.ts';
import { createMetrics } from './metrics/metrics.ts';
import { createLogger, serve, type Operator } from './operator.ts';
import { RedisReplayCache } from './saml/redis-replay-cache.ts';
import { MemoryReplayCache } from './saml/replay-cache.ts';
import type { ReplayCache } from './saml/types.ts';
import { KubeAccessRequestStore, announcingRequests } from './access/requests.ts';
import { kubeRequest } from './controller/kube-client.ts';
import { MemoryTokenVault, RedisTokenVault, type TokenVault } from './session/access-tokens.ts';
import { MemoryRevocationList, RedisRevocationList, type RevocationList } from './session/revocation.ts';
import { KubeKeyStore } from './session/kube-key-store.ts';
import { loadKubeAccess } from './store/kube-access.ts';
import { KubernetesStore } from './store/kubernetes-store.ts';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** True when this process can find a cluster: a kubeconfig was given or it runs in a pod. */
export function clusterAvailable(config: RunConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.kubeconfig !== undefined || (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_PORT !== undefined);
}

function ownNamespace(env: NodeJS.ProcessEnv): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return 'default';
  }
}

export interface ClusterOperator extends Operator {
  elector: LeaderElector;
  keyStore: KubeKeyStore;
  store: KubernetesStore;
}

export interface ClusterOptions {
  env?: NodeJS.ProcessEnv;
  /** Leader-election timings (tests shorten them). */
  lease?: { leaseDurationSeconds?: number; renewDeadlineSeconds?: number; retryPeriodSeconds?: number };
  identity?: string;
}

export async function startCluster(config: RunConfig, logger: Logger = createLogger(config.logLevel), options: ClusterOptions = {}): Promise<ClusterOperator> {
  const env = options.env ?? process.env;
  const kubeConfig = await loadKubeAccess(config.kubeconfig, env);
  const namespace = ownNamespace(env);
  const leaseNamespace = config.leaseNamespace ?? namespace;
  const identity = options.identity ?? env.POD_NAME ?? `${hostname()}-${randomBytes(3).toString('hex')}`;

  const metrics = createMetrics();
  const registry = new Registry();
  let elector: LeaderElector | undefined;
  const isLeader = () => elector?.isLeader() ?? false;
  const events = new EventRecorder({ kubeConfig, isLeader, logger, reportingInstance: identity });
  // Access requests reach any replica; their connector Events are written by the one that took them.
  const requestEvents = new EventRecorder({ kubeConfig, isLeader: () => true, logger, reportingInstance: identity });
  const keyStore = new KubeKeyStore({ kubeConfig, namespace, isLeader, logger });
  // UserBindings are listed in the background: serving starts once the
  // connectors are compiled, and binding decisions wait for the index
  // (a restart with 100,000 bindings was 39 s to /readyz, the list ~30 s of it).
  const store = new KubernetesStore({ kubeConfig, namespaces: config.namespaces, admit, logger, metrics, background: ['UserBinding'] });
  // Status and Events are bookkeeping: within --kube-qps, after serving state.
  const statusWriter = new StatusWriter({
    target: new KubeStatusSink({ kubeConfig }),
    isLeader,
    observed: (kind, ns, name) => store.observedStatus(kind, ns, name),
    events,
    qps: config.kubeQPS ?? DEFAULT_KUBE_QPS,
    logger,
  });
  elector = new LeaderElector({
    kubeConfig,
    namespace: leaseNamespace,
    identity,
    logger,
    ...options.lease,
    onStartedLeading: () => {
      logger.info({ identity }, 'became leader: writing status');
      // Resumes with every object whose status differs from the one it carries;
      // Events announce what changed since the previous leader wrote it.
      statusWriter.startedLeading();
      controller.republishBindingStatuses();
      void keyStore.rotateIfDue();
    },
    onStoppedLeading: () => logger.warn({ identity }, 'no longer leader: status writes stop'),
  });

  let redis: Redis | undefined;
  let replay: ReplayCache;
  let revocations: RevocationList;
  let tokenVault: TokenVault;
  if (config.redisURL) {
    // Loaded only with --redis-url (~6 MB of RSS otherwise spent for nothing).
    const { Redis } = await import('ioredis');
    // No offline queue: while Redis is away a login gets a 503 at once instead of waiting.
    redis = new Redis(config.redisURL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'));
    replay = new RedisReplayCache(redis);
    // Shared: a logout on any replica revokes the session on all of them.
    // While Redis is away, forward-auth answers 503 (the state is unknown).
    revocations = new RedisRevocationList(redis);
    tokenVault = new RedisTokenVault(redis);
  } else {
    replay = new MemoryReplayCache();
    // Per replica only: a logout revokes the session on the replica that
    // served it; the others keep honouring a copied cookie until it expires.
    // Give --redis-url to share revocations across replicas.
    revocations = new MemoryRevocationList();
    // Per replica too: with session.passAccessToken and several replicas, a
    // request served by a replica that did not see the sign-in finds no token
    // (401, the user signs in again). Give --redis-url.
    tokenVault = new MemoryTokenVault();
    logger.info('no --redis-url: replay cache, revoked sessions and passed access tokens are kept per replica');
  }

  await keyStore.start();
  const controller = new Controller({ store, registry, status: statusWriter, metrics, logger, publicURL: config.publicURL });
  elector.start();

  const op = await serve({
    config,
    logger,
    metrics,
    registry,
    controller,
    statusWriter,
    store,
    keys: () => keyStore.current(),
    mode: 'cluster',
    startedLog: { identity, namespace, leaseNamespace },
    replay,
    revocations,
    tokenVault,
    // Access requests: created on the apiserver (create only), where admins approve or deny them.
    // Each new one also gets an Event on its connector, from whichever replica took it.
    accessRequests: announcingRequests(new KubeAccessRequestStore((path, body) => kubeRequest(kubeConfig, { method: 'POST', path, body })), (binding) => {
      const connector = binding.spec.connectors[0] ?? '';
      const { namespace } = binding.metadata;
      const uid = store.get('SsoConnector', namespace, connector)?.metadata.uid;
      void requestEvents.record(
        { kind: 'SsoConnector', namespace, name: connector, ...(uid ? { uid } : {}) },
        'Normal',
        'AccessRequested',
        `${binding.spec.user} requests access (UserBinding ${binding.metadata.name}, approval Pending)`,
        'RequestAccess',
      );
    }),
    status: () => ({
      mode: 'cluster',
      identity,
      leader: isLeader(),
      namespaces: config.namespaces.length ? config.namespaces : 'all',
      problems: store.problems(),
      sessionKeys: keyStore.status(),
      statusBacklog: statusWriter.backlog(),
      connectors: [...registry.current().connectors.values()].map((c) => ({ key: c.key, reference: c.reference, ready: c.ready, enabled: c.enabled, reason: c.notReadyReason })),
    }),
    onStopped: async () => {
      await elector!.stop();
      keyStore.stop();
      redis?.disconnect();
    },
  });
  return { ...op, elector, keyStore, store };
}
