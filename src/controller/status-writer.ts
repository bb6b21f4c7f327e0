// Status and Events, written apart from serving. The controller updates the
// registry first and then hands the status it computed to publish(), which
// only records it: nothing a reconcile does waits for a status write, so a
// trust change (a removed certificate, a denied binding) is served at once
// however many writes are pending. What we defend against: a backlog of
// bookkeeping (100,000 new bindings, each wanting a status) keeping a
// compromised key trusted while its replacement waits in the same queue.
//
// - Coalesced per object: only the latest status of an object is written;
//   an object changed five times while waiting is written once.
// - Rate-limited: status writes and Events together stay within `qps` per
//   second (rate-limiter.ts), with a few writes in flight at once.
// - Only what differs: a status equal to the one written last this term, or
//   to the one the object already carries (`observed`, as the informer saw
//   it), is not written. So a restart or a new leader writes only what
//   changed since, not every object again.
// - Leader only (cluster mode): a follower keeps what it would write; when it
//   becomes leader it resumes with every object whose status differs.
// - Events are the transitions between what the object carried (or what this
//   term last wrote) and what is written now, so a transition the previous
//   leader already announced is not announced again.
// - Visible: queue depth and age of the oldest pending write (metrics), and a
//   log line while the oldest has waited longer than `behindAfterSeconds`.

import { isDeepStrictEqual } from 'node:util';
import { transitionEvents, type StatusView } from './events.ts';
import { objectKey } from '../store/object-key.ts';
import { RateLimiter } from './rate-limiter.ts';
import type { StatusKind } from './status-sink.ts';
import { WorkQueue } from './work-queue.ts';

/** Where statuses go: the status subresource, or memory in standalone mode. */
export interface StatusTarget {
  /** Writes the whole status this operator owns. `gone`: the object no longer exists. Throws when refused. */
  write(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<'written' | 'gone'>;
  /** The object was deleted (optional: a target that keeps copies drops its own). */
  forget?(kind: StatusKind, namespace: string, name: string): void;
}

export interface StatusEvents {
  record(obj: { kind: string; namespace: string; name: string; uid?: string }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

interface WriterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface StatusWriterOptions {
  target: StatusTarget;
  logger: WriterLogger;
  /** Whether this replica writes (cluster mode: it holds the Lease). Default always. */
  isLeader?: () => boolean;
  /** The status the object carries now, as the store last saw it, if known. */
  observed?: (kind: StatusKind, namespace: string, name: string) => Record<string, unknown> | undefined;
  /** Records Kubernetes Events for transitions (cluster mode). */
  events?: StatusEvents;
  /** Status writes and Events per second, together; default unlimited. */
  qps?: number;
  /** Writes in flight at once; default min(qps, 32), or 4 without a limit. */
  concurrency?: number;
  /** Log "status writes are behind" while the oldest pending write is older; default 60. */
  behindAfterSeconds?: number;
}

export const STATUS_LANES = ['SsoConnector', 'UserBinding'] as const satisfies readonly StatusKind[];
/**
 * The writer's lanes: connectors' status first, then Events (transitions,
 * few), then bindings' status. An Event no longer follows its status write
 * at once: 1,000 new connectors each announced ConnectorReady between two
 * status writes, so within the same --kube-qps their statuses took twice as
 * long to land.
 */
const LANES = ['SsoConnector', 'Event', 'UserBinding'] as const;
type Lane = (typeof LANES)[number];
/** How long a written binding status is remembered: the watch brings it back within seconds. */
const WRITTEN_BINDING_MS = 60_000;

interface PendingEvent {
  obj: { kind: string; namespace: string; name: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

interface Desired {
  kind: StatusKind;
  namespace: string;
  name: string;
  uid: string | undefined;
  status: Record<string, unknown>;
}

export class StatusWriter {
  readonly #o: StatusWriterOptions;
  readonly #isLeader: () => boolean;
  readonly #limiter: RateLimiter | undefined;
  /** What the controller wants, leader or not. Kept by reference: the controller never mutates a status it published. */
  readonly #desired = new Map<string, Desired>();
  /**
   * What this replica wrote (and announced) since it last became leader, and
   * to which object (uid): an object deleted and created again under the same
   * name before its status came round is a new object, with no status yet.
   */
  readonly #written = new Map<string, { uid: string | undefined; status: Record<string, unknown> }>();
  /** When each binding status in #written was written (performance.now), oldest first: see #remember. */
  readonly #bindingWrittenAt = new Map<string, number>();
  /** Connectors' status first: they are fewer and tell admins more. */
  readonly #queue: WorkQueue<Lane>;
  /** Events waiting in the Event lane, by their queue key. */
  readonly #events = new Map<string, PendingEvent>();
  #eventSeq = 0;
  #roomWaiters: { kind: StatusKind; limit: number; resolve: () => void }[] = [];
  #behindTimer: NodeJS.Timeout | undefined;
  /** When "behind" was last logged (ms), 0 when not behind. */
  #behindLoggedAt = 0;
  /** Status writes that reached the target, for tests and metrics. */
  writes = 0;

  constructor(options: StatusWriterOptions) {
    this.#o = options;
    this.#isLeader = options.isLeader ?? (() => true);
    this.#limiter = options.qps !== undefined && Number.isFinite(options.qps) ? new RateLimiter({ perSecond: options.qps }) : undefined;
    this.#queue = new WorkQueue<Lane>((key) => (this.#events.has(key) ? this.#announce(key) : this.#write(key)).finally(() => this.#wakeRoom()), {
      lanes: LANES,
      // Enough in flight that the apiserver's latency, not this, bounds the rate below qps.
      concurrency: options.concurrency ?? (this.#limiter ? Math.min(this.#limiter.perSecond, 32) : 4),
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      onError: (key, err) => options.logger.warn({ key, err: err instanceof Error ? err.message : String(err) }, 'status write failed; retrying with backoff'),
    });
  }

  /** Records the status `kind/namespace/name` should have; written later, at most once per change. */
  publish(kind: StatusKind, namespace: string, name: string, uid: string | undefined, status: Record<string, unknown>): void {
    const key = objectKey(kind, namespace, name);
    // A binding that carries this status already, with no write of it under
    // way, or any binding status on a follower: nothing is kept (at a
    // restart 100,000 bindings each had their status held here, ~80 MB with
    // what the controller computed). A replica that becomes leader has the
    // controller publish every binding status again
    // (Controller.republishBindingStatuses), so a follower needs no copy.
    if (kind === 'UserBinding' && !this.#queue.busy(key) && (!this.#isLeader() || this.#carried(kind, namespace, name, status))) {
      this.#desired.delete(key);
      this.#written.delete(key);
      return;
    }
    this.#desired.set(key, { kind, namespace, name, uid, status });
    if (this.#isLeader() && !this.#wrote(key, uid, status)) this.#queue.add(key, kind);
    this.#watchBacklog();
  }

  /**
   * Resolves once fewer than `limit` writes of `kind` wait (at once when this
   * replica does not write). The controller computes a binding's status
   * only then: 85,000 bindings without a status yet, each computed and held
   * here while ~100 are written per second, were ~60 MB; waiting, each is
   * just its key in the controller's queue.
   */
  room(kind: StatusKind, limit: number): Promise<void> {
    if (this.hasRoom(kind, limit)) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push({ kind, limit, resolve }));
  }

  /** Whether room(kind, limit) would resolve at once. */
  hasRoom(kind: StatusKind, limit: number): boolean {
    return !this.#isLeader() || this.#queue.depth(kind) < limit;
  }

  /**
   * Whether publish() of this status would add a write to the queue (rather
   * than drop it as already carried or written, or replace the status of a
   * write already waiting). Changes nothing.
   */
  wouldQueue(kind: StatusKind, namespace: string, name: string, uid: string | undefined, status: Record<string, unknown>): boolean {
    if (!this.#isLeader()) return false;
    const key = objectKey(kind, namespace, name);
    if (this.#queue.busy(key)) return false;
    if (kind === 'UserBinding' && this.#carried(kind, namespace, name, status)) return false;
    return !this.#wrote(key, uid, status);
  }

  /** The object carries this status already, as the store last saw it. */
  #carried(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.#o.observed !== undefined && isDeepStrictEqual(this.#o.observed(kind, namespace, name), status);
  }

  /** This term wrote this very status to this very object (same uid). */
  #wrote(key: string, uid: string | undefined, status: Record<string, unknown>): boolean {
    const written = this.#written.get(key);
    return written !== undefined && written.uid === uid && isDeepStrictEqual(written.status, status);
  }

  /** The status this replica last wants for the object (pending or written this term), if it keeps one. */
  known(kind: StatusKind, namespace: string, name: string): Record<string, unknown> | undefined {
    const key = objectKey(kind, namespace, name);
    return this.#desired.get(key)?.status ?? this.#written.get(key)?.status;
  }

  #wakeRoom(): void {
    if (this.#roomWaiters.length === 0) return;
    const waiting = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of waiting) {
      if (!this.#isLeader() || this.#queue.depth(w.kind) < w.limit) w.resolve();
      else this.#roomWaiters.push(w);
    }
  }

  forget(kind: StatusKind, namespace: string, name: string): void {
    const key = objectKey(kind, namespace, name);
    this.#desired.delete(key);
    this.#written.delete(key);
    this.#bindingWrittenAt.delete(key);
    this.#o.target.forget?.(kind, namespace, name);
  }

  /**
   * This replica became leader: what it wrote in an earlier term is forgotten
   * (another leader may have written over it since), and every object whose
   * desired status differs from the one it carries is queued.
   */
  startedLeading(): void {
    this.#written.clear();
    this.#bindingWrittenAt.clear();
    for (const [key, d] of this.#desired) this.#queue.add(key, d.kind);
    this.#watchBacklog();
  }

  /** Resolves when no write is pending that this replica could make now. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  depth(kind: StatusKind): number {
    return this.#queue.depth(kind);
  }

  oldestAgeSeconds(kind: StatusKind): number {
    return this.#queue.oldestAgeSeconds(kind);
  }

  /** The backlog as /admin/status shows it. */
  backlog(): { pending: number; oldestSeconds: number; qps: number | 'unlimited' } {
    return {
      pending: STATUS_LANES.reduce((n, k) => n + this.depth(k), 0),
      oldestSeconds: Math.max(...STATUS_LANES.map((k) => this.oldestAgeSeconds(k))),
      qps: this.#limiter?.perSecond ?? 'unlimited',
    };
  }

  close(): void {
    this.#queue.stop();
    for (const w of this.#roomWaiters.splice(0)) w.resolve();
    this.#events.clear();
    clearInterval(this.#behindTimer);
    this.#behindTimer = undefined;
  }

  async #write(key: string): Promise<void> {
    if (!this.#desired.has(key) || !this.#isLeader()) return;
    const wanted = this.#desired.get(key)!;
    if (isDeepStrictEqual(this.#before(key), wanted.status)) {
      this.#remember(key, wanted);
      return;
    }
    const release = await this.#limiter?.acquire();
    let done: { d: Desired; before: Record<string, unknown> | undefined } | undefined;
    try {
      // Read again: the status may have changed while we waited for the limiter.
      const d = this.#desired.get(key);
      if (d === undefined || !this.#isLeader()) return;
      const before = this.#before(key);
      const result = await this.#o.target.write(d.kind, d.namespace, d.name, d.status);
      if (result === 'gone') {
        // Deleted meanwhile: the store's delete event makes the controller forget it.
        this.#o.logger.info({ kind: d.kind, namespace: d.namespace, name: d.name }, 'status not written: object is gone');
        return;
      }
      this.writes++;
      // Not remembered for an object forgotten (deleted) while the write was on its way.
      if (this.#desired.has(key)) this.#remember(key, d);
      done = { d, before };
    } finally {
      release?.();
    }
    if (!this.#o.events) return;
    const { d, before } = done;
    for (const e of transitionEvents(before as StatusView | undefined, d.status as StatusView)) {
      // A key no object has (a kind never has a space in it), in arrival order.
      const key = `event ${++this.#eventSeq}`;
      this.#events.set(key, { obj: { kind: d.kind, namespace: d.namespace, name: d.name, ...(d.uid ? { uid: d.uid } : {}) }, type: e.type, reason: e.reason, message: e.message });
      this.#queue.add(key, 'Event');
    }
  }

  /**
   * `d` is what the object carries now (written, or found there). A binding's
   * status is then kept only until the watch has surely brought it back
   * (WRITTEN_BINDING_MS), after which what the object carries answers: a
   * leader that wrote 100,000 binding statuses otherwise held each twice
   * (wanted and written) for the rest of its term.
   */
  #remember(key: string, d: Desired): void {
    this.#written.set(key, { uid: d.uid, status: d.status });
    if (d.kind !== 'UserBinding') return;
    if (this.#desired.get(key) === d) this.#desired.delete(key);
    const now = performance.now();
    this.#bindingWrittenAt.delete(key);
    this.#bindingWrittenAt.set(key, now);
    // In the order written: the oldest first.
    for (const [k, at] of this.#bindingWrittenAt) {
      if (now - at < WRITTEN_BINDING_MS) break;
      this.#bindingWrittenAt.delete(k);
      this.#written.delete(k);
    }
  }

  /** Records one Event, within the same qps as the status writes. */
  async #announce(key: string): Promise<void> {
    const e = this.#events.get(key)!;
    this.#events.delete(key);
    if (!this.#o.events || !this.#isLeader()) return;
    const release = await this.#limiter?.acquire();
    try {
      await this.#o.events.record(e.obj, e.type, e.reason, e.message);
    } finally {
      release?.();
    }
  }

  /** The status the object has now, as far as this replica knows: what it wrote this term, else what the object carries. */
  #before(key: string): Record<string, unknown> | undefined {
    const d = this.#desired.get(key);
    const written = this.#written.get(key);
    if (written !== undefined && written.uid === d?.uid) return written.status;
    return d && this.#o.observed?.(d.kind, d.namespace, d.name);
  }

  /** While anything is queued, checks every 5 s (or twice per limit) whether the oldest write waits too long; logged once a minute. */
  #watchBacklog(): void {
    if (this.#behindTimer !== undefined) return;
    const limit = this.#o.behindAfterSeconds ?? 60;
    this.#behindTimer = setInterval(() => {
      const b = this.backlog();
      if (b.pending === 0) {
        if (this.#behindLoggedAt !== 0) this.#o.logger.info({}, 'status writes caught up');
        this.#behindLoggedAt = 0;
        clearInterval(this.#behindTimer);
        this.#behindTimer = undefined;
        return;
      }
      if (b.oldestSeconds > limit && Date.now() - this.#behindLoggedAt >= 60_000) {
        this.#o.logger.warn(
          { pending: b.pending, oldestSeconds: Math.round(b.oldestSeconds), qps: b.qps },
          'status writes are behind: sign-ins and forward-auth use the current configuration, the status on the objects lags',
        );
        this.#behindLoggedAt = Date.now();
      }
    }, Math.min(5000, limit * 500));
    this.#behindTimer.unref();
  }
}
