// Prometheus metrics, one Registry per app instance (never prom-client's
// global registry, so tests and several apps in one process do not clash).
//
// Conventions (DESIGN.md section 6): `sso_` prefix, base units, `_total`
// counters, `_seconds` histograms; labels namespace/connector/result/reason.
// No metric has a label for a user identity: that would leak who signs in
// to anyone who can scrape, and make series cardinality unbounded.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  loginAttempts: Counter<'namespace' | 'connector' | 'result' | 'reason'>;
  loginDuration: Histogram<'namespace' | 'connector' | 'result'>;
  idpCertNotAfter: Gauge<'namespace' | 'connector' | 'fingerprint'>;
  connectors: Gauge<'state'>;
  reconcileTotal: Counter<'kind' | 'result'>;
  reconcileDuration: Histogram<'kind'>;
  sessionsIssued: Counter<'namespace' | 'connector'>;
  forwardAuth: Counter<'result' | 'reason'>;
  /** Sign-in requests answered 429 by --rate-limit-per-address / --rate-limit-per-connector, by scope and endpoint (login, acs, callback). */
  rateLimited: Counter<'scope' | 'endpoint'>;
  /** Access requests (spec.access.requests) by result: created, exists, active, rate_limited, refused, failed. */
  accessRequests: Counter<'namespace' | 'connector' | 'result'>;
  /** Access requests waiting for an administrator, per connector; filled at scrape time (attachPendingRequests). */
  accessRequestsPending: Gauge<'namespace' | 'connector'>;
  /** session.passAccessToken: refreshes of provider access tokens by forward-auth, by result (Refreshed, or the reason code of a failure). */
  accessTokenRefresh: Counter<'namespace' | 'connector' | 'result'>;
  /** SAML single logout messages: `initiator` idp (a LogoutRequest) or sp (our request's LogoutResponse). */
  logouts: Counter<'namespace' | 'connector' | 'initiator' | 'result' | 'reason'>;
  /** Seconds since each watched resource's last event or list; the Kubernetes store fills it at scrape time. */
  informerStaleness: Gauge<'resource'>;
  /** Keys waiting per work queue; filled at scrape time (attachQueues). */
  queueDepth: Gauge<'queue'>;
  /** Seconds the oldest waiting key of each queue has waited; filled at scrape time. */
  queueOldestAge: Gauge<'queue'>;
}

/**
 * The work queues, from the most urgent: `reconcile_trust` (connector
 * changes that may narrow trust: a Secret, spec or deletion), `reconcile`
 * (new connectors, retries, scheduled requeues), `binding_status` (the status
 * of bindings, whose serving state is applied as their events arrive), and
 * `status_connectors` / `status_bindings` (status writes to the apiserver,
 * within --kube-qps).
 */
export const QUEUES = ['reconcile_trust', 'reconcile', 'binding_status', 'status_connectors', 'status_bindings'] as const;
export type QueueName = (typeof QUEUES)[number];
export interface QueueStats {
  queue: QueueName;
  depth: number;
  oldestSeconds: number;
}

export type ConnectorState = 'ready' | 'not_ready' | 'disabled';
export const CONNECTOR_STATES: readonly ConnectorState[] = ['ready', 'not_ready', 'disabled'];

export interface CreateMetricsOptions {
  /** Register Node's default process metrics (prom-client names). Default true. */
  defaultMetrics?: boolean;
}

export function createMetrics(opts: CreateMetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const loginAttempts = new Counter({
    name: 'sso_login_attempts_total',
    help: 'Login attempts (ACS and callback), by outcome and reason code.',
    labelNames: ['namespace', 'connector', 'result', 'reason'] as const,
    registers,
  });
  const loginDuration = new Histogram({
    name: 'sso_login_duration_seconds',
    help: 'Time to process a login response, in seconds.',
    labelNames: ['namespace', 'connector', 'result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const idpCertNotAfter = new Gauge({
    name: 'sso_idp_certificate_not_after_seconds',
    help: 'Expiry (notAfter) of each trusted IdP certificate, as a Unix timestamp in seconds.',
    labelNames: ['namespace', 'connector', 'fingerprint'] as const,
    registers,
  });
  const connectors = new Gauge({
    name: 'sso_connectors',
    help: 'Number of connectors by state.',
    labelNames: ['state'] as const,
    registers,
  });
  for (const state of CONNECTOR_STATES) connectors.set({ state }, 0);
  const reconcileTotal = new Counter({
    name: 'sso_reconcile_total',
    help: 'Reconciles by resource kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const reconcileDuration = new Histogram({
    name: 'sso_reconcile_duration_seconds',
    help: 'Reconcile duration by resource kind, in seconds.',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
    registers,
  });
  const sessionsIssued = new Counter({
    name: 'sso_sessions_issued_total',
    help: 'Sessions issued after a successful login.',
    labelNames: ['namespace', 'connector'] as const,
    registers,
  });
  const forwardAuth = new Counter({
    name: 'sso_forward_auth_total',
    help: 'Forward-auth decisions (/auth/verify) by result and reason.',
    labelNames: ['result', 'reason'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'sso_rate_limited_total',
    help: 'Sign-in requests refused with 429 by a rate limit, by scope (address, connector) and endpoint.',
    labelNames: ['scope', 'endpoint'] as const,
    registers,
  });
  const accessRequests = new Counter({
    name: 'sso_access_requests_total',
    help: 'Access requests (spec.access.requests) by result: created, exists (asked before), active (has access already), rate_limited, refused, failed.',
    labelNames: ['namespace', 'connector', 'result'] as const,
    registers,
  });
  const accessRequestsPending = new Gauge({
    name: 'sso_access_requests_pending',
    help: 'Access requests waiting for an administrator (UserBindings with approval: Pending), per connector.',
    labelNames: ['namespace', 'connector'] as const,
    registers,
  });
  const accessTokenRefresh = new Counter({
    name: 'sso_access_token_refresh_total',
    help: 'Provider access tokens refreshed by forward-auth (session.passAccessToken): result Refreshed, or the reason code of a failed refresh.',
    labelNames: ['namespace', 'connector', 'result'] as const,
    registers,
  });
  const logouts = new Counter({
    name: 'sso_logouts_total',
    help: 'Logout messages handled: SAML single logout (initiator idp: an IdP LogoutRequest; sp: the LogoutResponse to ours) and OIDC back-channel logout tokens (initiator idp), by outcome and reason code.',
    labelNames: ['namespace', 'connector', 'initiator', 'result', 'reason'] as const,
    registers,
  });
  const informerStaleness = new Gauge({
    name: 'sso_informer_staleness_seconds',
    help: 'Seconds since the last watch event (bookmarks included) or successful list of each watched resource (cluster mode).',
    labelNames: ['resource'] as const,
    registers,
  });

  const queueDepth = new Gauge({
    name: 'sso_queue_depth',
    help: 'Keys waiting in each work queue, those waiting for a retry after a failure included (reconcile_trust, reconcile, binding_status, status_connectors, status_bindings).',
    labelNames: ['queue'] as const,
    registers,
  });
  const queueOldestAge = new Gauge({
    name: 'sso_queue_oldest_item_age_seconds',
    help: 'Seconds the oldest waiting key of each work queue has waited (0 when the queue is empty).',
    labelNames: ['queue'] as const,
    registers,
  });
  for (const queue of QUEUES) {
    queueDepth.set({ queue }, 0);
    queueOldestAge.set({ queue }, 0);
  }

  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  return {
    registry,
    loginAttempts,
    loginDuration,
    idpCertNotAfter,
    connectors,
    reconcileTotal,
    reconcileDuration,
    sessionsIssued,
    forwardAuth,
    rateLimited,
    accessRequests,
    accessRequestsPending,
    accessTokenRefresh,
    logouts,
    informerStaleness,
    queueDepth,
    queueOldestAge,
  };
}

/** Fills the queue gauges from `read` at every scrape (prom-client's collect hook). */
export function attachQueues(metrics: Metrics, read: () => readonly QueueStats[]): void {
  const depth = metrics.queueDepth as unknown as { collect?: () => void };
  const age = metrics.queueOldestAge as unknown as { collect?: () => void };
  depth.collect = () => {
    for (const q of read()) metrics.queueDepth.set({ queue: q.queue }, q.depth);
  };
  age.collect = () => {
    for (const q of read()) metrics.queueOldestAge.set({ queue: q.queue }, q.oldestSeconds);
  };
}

/** Fills sso_access_requests_pending at scrape time from `read` (connector `ns/name` -> waiting requests). */
export function attachPendingRequests(metrics: Metrics, read: () => Promise<Map<string, number>>): void {
  const gauge = metrics.accessRequestsPending as unknown as { collect?: () => Promise<void> };
  gauge.collect = async () => {
    metrics.accessRequestsPending.reset();
    let counts: Map<string, number>;
    try {
      counts = await read();
    } catch {
      return;
    }
    for (const [key, n] of counts) {
      const [namespace, connector] = key.split('/') as [string, string];
      metrics.accessRequestsPending.set({ namespace, connector }, n);
    }
  };
}

type PerConnector = Counter<string> | Gauge<string> | Histogram<string>;

async function removeSeries(metric: PerConnector, namespace: string, connector: string): Promise<void> {
  const { values } = await metric.get();
  const seen = new Set<string>();
  for (const v of values) {
    const labels = { ...(v.labels as Record<string, string | number>) };
    // Histogram buckets carry an extra `le` label that is not part of the series key.
    delete labels.le;
    if (labels.namespace !== namespace || labels.connector !== connector) continue;
    const key = JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) continue;
    seen.add(key);
    metric.remove(labels);
  }
}

/**
 * Removes every series of a deleted connector (all results, reasons and
 * certificate fingerprints), so it stops being exported. Never rejects, so
 * callers may fire and forget it.
 */
export async function forgetConnector(metrics: Metrics, namespace: string, name: string): Promise<void> {
  const perConnector: PerConnector[] = [
    metrics.loginAttempts,
    metrics.loginDuration,
    metrics.idpCertNotAfter,
    metrics.sessionsIssued,
    metrics.accessTokenRefresh,
    metrics.accessRequests,
    metrics.accessRequestsPending,
    metrics.logouts,
  ];
  certSeries.get(metrics.idpCertNotAfter)?.delete(`${namespace}/${name}`);
  for (const metric of perConnector) {
    try {
      await removeSeries(metric, namespace, name);
    } catch {
      // A metric that cannot be read keeps its series; nothing else to do.
    }
  }
}

/**
 * Replaces the certificate-expiry series of one connector: fingerprints no
 * longer trusted (rotated out) disappear.
 */
export function setIdpCertificates(
  metrics: Metrics,
  namespace: string,
  connector: string,
  certs: readonly { fingerprint: string; notAfter: string | Date }[],
): Promise<void> {
  // The fingerprints this connector's series carry are remembered rather
  // than found by reading every series: with 1,000 connectors that read was
  // O(n) per reconcile.
  let byConnector = certSeries.get(metrics.idpCertNotAfter);
  if (byConnector === undefined) certSeries.set(metrics.idpCertNotAfter, (byConnector = new Map()));
  const key = `${namespace}/${connector}`;
  for (const fingerprint of byConnector.get(key) ?? []) metrics.idpCertNotAfter.remove({ namespace, connector, fingerprint });
  const fingerprints: string[] = [];
  for (const c of certs) {
    const ms = c.notAfter instanceof Date ? c.notAfter.getTime() : Date.parse(c.notAfter);
    if (Number.isFinite(ms)) {
      metrics.idpCertNotAfter.set({ namespace, connector, fingerprint: c.fingerprint }, Math.floor(ms / 1000));
      fingerprints.push(c.fingerprint);
    }
  }
  if (fingerprints.length > 0) byConnector.set(key, fingerprints);
  else byConnector.delete(key);
  return Promise.resolve();
}

/** Per certificate-expiry gauge: `namespace/connector` -> the fingerprints of its series. */
const certSeries = new WeakMap<object, Map<string, string[]>>();
