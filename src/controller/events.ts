// Kubernetes Events for status transitions (never per login), so
// `kubectl describe ssoconnector` and event exporters show what happened.
//
// events.k8s.io/v1 rather than core/v1: it is the API client-go's current
// recorder writes, it has the fields we fill (regarding, reportingController,
// reportingInstance, action, series) as first-class fields, and the apiserver
// serves the same objects through core/v1, so `kubectl describe` and
// `kubectl get events` show them either way.
//
// Aggregation defends against a flapping connector filling etcd: the same
// (object, type, reason, message) seen again within 10 minutes of its last
// occurrence joins the existing Event's series (count + lastObservedTime)
// instead of creating a new Event.

import { hostname } from 'node:os';
import type { KubeAccess } from '../store/kube-access.ts';
import { kubeRequest, microTime, type KubeRequest, type KubeResponse } from './kube-client.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventObjectRef {
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  /** Default `sso.operator.dev/v1alpha1`. */
  apiVersion?: string;
}

interface EventLogger {
  warn(obj: object, msg: string): void;
}

export interface EventRecorderOptions {
  kubeConfig: KubeAccess;
  isLeader: () => boolean;
  logger: EventLogger;
  /** This replica (pod name); default the host name. */
  reportingInstance?: string;
  /** Transport, replaceable in tests. */
  request?: (req: KubeRequest) => Promise<KubeResponse>;
  now?: () => Date;
}

export const REPORTING_CONTROLLER = 'sso.operator.dev/sso-operator';
export const SERIES_WINDOW_MS = 10 * 60 * 1000;
/** events.k8s.io/v1 validation limit for `note`. */
const NOTE_MAX_BYTES = 1024;

interface SeriesEntry {
  namespace: string;
  eventName: string;
  count: number;
  lastSeen: number;
}

export class EventRecorder {
  readonly #request: (req: KubeRequest) => Promise<KubeResponse>;
  readonly #isLeader: () => boolean;
  readonly #logger: EventLogger;
  readonly #instance: string;
  readonly #now: () => Date;
  readonly #series = new Map<string, SeriesEntry>();
  /** Per aggregation key, so two identical records in a row cannot both create an Event. */
  readonly #chains = new Map<string, Promise<void>>();
  #seq = 0;
  /** Events created and series updates sent, for tests. */
  created = 0;
  updated = 0;

  constructor(options: EventRecorderOptions) {
    this.#request = options.request ?? ((req) => kubeRequest(options.kubeConfig, req));
    this.#isLeader = options.isLeader;
    this.#logger = options.logger;
    this.#instance = options.reportingInstance ?? hostname();
    this.#now = options.now ?? (() => new Date());
  }

  /** Records one occurrence. Resolves when it is written; never rejects (a lost Event must not fail a reconcile). */
  record(object: EventObjectRef, type: EventType, reason: string, message: string, action = 'Reconcile'): Promise<void> {
    if (!this.#isLeader()) return Promise.resolve();
    const key = JSON.stringify([object.kind, object.namespace, object.name, object.uid ?? '', type, reason, message]);
    const run = (this.#chains.get(key) ?? Promise.resolve())
      .then(() => this.#record(key, object, type, reason, message, action))
      .catch((err: unknown) => {
        this.#logger.warn({ kind: object.kind, namespace: object.namespace, name: object.name, reason, err: String(err) }, 'event dropped');
      });
    this.#chains.set(key, run);
    void run.then(() => {
      if (this.#chains.get(key) === run) this.#chains.delete(key);
    });
    return run;
  }

  async #record(key: string, object: EventObjectRef, type: EventType, reason: string, message: string, action: string): Promise<void> {
    const now = this.#now();
    this.#prune(now.getTime());
    const existing = this.#series.get(key);
    if (existing) {
      const count = existing.count + 1;
      const res = await this.#request({
        method: 'PATCH',
        path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(existing.namespace)}/events/${encodeURIComponent(existing.eventName)}`,
        contentType: 'application/merge-patch+json',
        body: { series: { count, lastObservedTime: microTime(now) } },
      });
      if (res.status >= 200 && res.status < 300) {
        existing.count = count;
        existing.lastSeen = now.getTime();
        this.updated++;
        return;
      }
      // 404: the apiserver's event TTL removed it; start over with a new Event.
      if (res.status !== 404) throw new Error(`series update of ${existing.eventName}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
      this.#series.delete(key);
    }
    // client-go names Events `<object>.<hex unix nanos>`; the sequence number keeps
    // two Events created in the same millisecond apart.
    const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000);
    const eventName = `${object.name}.${nanos.toString(16)}`;
    const res = await this.#request({
      method: 'POST',
      path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(object.namespace)}/events`,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName, namespace: object.namespace },
        eventTime: microTime(now),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.#instance,
        action,
        reason,
        type,
        note: truncate(message, NOTE_MAX_BYTES),
        regarding: {
          apiVersion: object.apiVersion ?? 'sso.operator.dev/v1alpha1',
          kind: object.kind,
          namespace: object.namespace,
          name: object.name,
          ...(object.uid ? { uid: object.uid } : {}),
        },
      },
    });
    if (res.status < 200 || res.status > 299) throw new Error(`create Event: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    this.#series.set(key, { namespace: object.namespace, eventName, count: 1, lastSeen: now.getTime() });
    this.created++;
  }

  #prune(now: number): void {
    for (const [k, s] of this.#series) if (now - s.lastSeen > SERIES_WINDOW_MS) this.#series.delete(k);
  }
}

function truncate(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = s.slice(0, maxBytes - 3);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return out + '...';
}

// ---------------------------------------------------------------------------------
// Which Events a status change deserves. Pure, so the table of transitions is
// unit-tested without an apiserver.

export interface StatusConditionView {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface StatusView {
  conditions?: readonly StatusConditionView[];
  certificates?: readonly { fingerprint: string }[];
  /** UserBinding only. */
  phase?: string;
}

export interface TransitionEvent {
  type: EventType;
  reason: string;
  message: string;
}

const BINDING_EVENTS: Record<string, { type: EventType; reason: string }> = {
  Active: { type: 'Normal', reason: 'BindingActive' },
  PendingApproval: { type: 'Normal', reason: 'BindingPending' },
  Denied: { type: 'Normal', reason: 'BindingDenied' },
  Invalid: { type: 'Warning', reason: 'BindingInvalid' },
};

/**
 * Events for the change from `previous` to `next`. Pass as `previous` the status
 * last published for the object (in cluster mode, the status the object already
 * carries), so an operator restart does not replay every event; `undefined`
 * means the object has no status yet, and its first state counts as a change.
 * A status with `phase` is a UserBinding's, otherwise an SsoConnector's.
 */
export function transitionEvents(previous: StatusView | undefined, next: StatusView): TransitionEvent[] {
  if (next.phase !== undefined) return bindingEvents(previous, next);
  const events: TransitionEvent[] = [];
  const was = (type: string) => previous?.conditions?.find((c) => c.type === type);
  const now = (type: string) => next.conditions?.find((c) => c.type === type);

  const ready = now('Ready');
  const wasReady = was('Ready');
  if (ready?.status === 'True' && wasReady?.status !== 'True') {
    events.push({ type: 'Normal', reason: 'ConnectorReady', message: ready.message });
  }
  // A new failure reason while still not Ready is news too (the Secret is back
  // but its certificate is bad); the same reason again is not.
  // ReferenceConflict has its own event below; one Warning per cause is enough.
  if (ready?.status === 'False' && ready.reason !== 'ReferenceConflict' && (wasReady?.status !== 'False' || wasReady.reason !== ready.reason)) {
    events.push({ type: 'Warning', reason: 'ConnectorInvalid', message: `${ready.reason}: ${ready.message}` });
  }

  const before = new Set((previous?.certificates ?? []).map((c) => c.fingerprint));
  const after = new Set((next.certificates ?? []).map((c) => c.fingerprint));
  // Only a change between two non-empty sets is a rotation; appearing or
  // vanishing certificates are covered by ConnectorReady / ConnectorInvalid.
  if (before.size > 0 && after.size > 0) {
    const added = [...after].filter((f) => !before.has(f)).sort();
    const removed = [...before].filter((f) => !after.has(f)).sort();
    if (added.length || removed.length) {
      const parts = [];
      if (added.length) parts.push(`added ${added.map(shortFingerprint).join(', ')}`);
      if (removed.length) parts.push(`removed ${removed.map(shortFingerprint).join(', ')}`);
      events.push({ type: 'Normal', reason: 'CertificateRotated', message: `IdP certificates changed: ${parts.join('; ')}` });
    }
  }

  const expiring = now('CertificateExpiringSoon');
  if (expiring?.status === 'True' && was('CertificateExpiringSoon')?.status !== 'True') {
    events.push({ type: 'Warning', reason: 'CertificateExpiringSoon', message: expiring.message });
  }

  const unique = now('ReferenceUnique');
  if (unique?.status === 'False' && was('ReferenceUnique')?.status !== 'False') {
    events.push({ type: 'Warning', reason: 'ReferenceConflict', message: unique.message });
  }
  return events;
}

function bindingEvents(previous: StatusView | undefined, next: StatusView): TransitionEvent[] {
  if (previous?.phase === next.phase) return [];
  // A binding that starts out Active (declared Approved in Git) is no news:
  // nobody needs to act, and a GitOps sync of 100,000 bindings would write
  // 100,000 Events, doubling the writes that status has to wait behind.
  // A first state that needs a person (pending, denied, invalid) is announced.
  if (previous?.phase === undefined && next.phase === 'Active') return [];
  const e = BINDING_EVENTS[next.phase!];
  if (!e) return [];
  const ready = next.conditions?.find((c) => c.type === 'Ready');
  return [{ ...e, message: ready?.message ?? `phase ${next.phase}` }];
}

/** `sha256:` and the first 12 hex digits: enough to tell certificates apart in a message. */
export function shortFingerprint(fp: string): string {
  const m = /^sha256:([0-9a-f]{12})[0-9a-f]*$/.exec(fp);
  return m ? `sha256:${m[1]}...` : fp;
}
