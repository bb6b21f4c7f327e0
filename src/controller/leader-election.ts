// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// leaderelection semantics. Every replica serves traffic from its caches; only
// the leader writes status and records Events.
//
// Why there are never two leaders (the numbers are the defaults):
// - The leader counts its term from the moment it *started* its last successful
//   renewal (`renewedAt`), on its monotonic clock, and stops leading at
//   renewedAt + renewDeadline (10 s), whether or not a request is still in
//   flight; isLeader() computes this on every call, so a blocked event loop or
//   a late timer cannot stretch the term.
// - A candidate takes over a Lease held by someone else only after it has seen
//   the same Lease record, unchanged, for leaseDuration (15 s) on its own
//   monotonic clock (client-go's observedTime). It first saw that record after
//   the leader's write committed, which was after renewedAt; so it takes over
//   no earlier than renewedAt + leaseDuration, 5 s after the leader stopped.
// - Every write carries the resourceVersion that was read, so of two replicas
//   racing for the same record exactly one wins (the other gets 409).
// Only intervals on each replica's own clock are compared, never one replica's
// timestamp with another's clock, so a wall-clock offset between nodes does not
// matter; what the 5 s margin absorbs is clock *rate* differences, timer
// lateness and a status write issued just before the deadline that lands later.
// The Lease's renewTime is written for humans and other tools, not trusted here.

import { hostname } from 'node:os';
import type { KubeAccess } from '../store/kube-access.ts';
import { KubeApiError, kubeRequest, microTime } from './kube-client.ts';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  /** MicroTime strings (RFC 3339, six fractional digits). */
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec?: LeaseSpec;
}

/** 409 on create (someone created it first) or update (someone wrote since our read). */
export class LeaseConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseConflictError';
  }
}

/** The three Lease calls the elector makes; an in-memory one stands in for unit tests. */
export interface LeaseApi {
  get(namespace: string, name: string): Promise<Lease | undefined>;
  /** Rejects with LeaseConflictError when the Lease exists. */
  create(lease: Lease): Promise<Lease>;
  /** Rejects with LeaseConflictError when metadata.resourceVersion is stale. */
  update(lease: Lease): Promise<Lease>;
}

export class KubeLeaseApi implements LeaseApi {
  readonly #kc: KubeAccess;
  readonly #timeoutMs: number;

  constructor(kubeConfig: KubeAccess, timeoutMs = 5000) {
    this.#kc = kubeConfig;
    this.#timeoutMs = timeoutMs;
  }

  #path(namespace: string, name?: string): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  async get(namespace: string, name: string): Promise<Lease | undefined> {
    const res = await kubeRequest<Lease>(this.#kc, { method: 'GET', path: this.#path(namespace, name), timeoutMs: this.#timeoutMs });
    if (res.status === 404) return undefined;
    if (res.status !== 200 || !res.body) throw new KubeApiError(`get Lease ${namespace}/${name}`, res);
    return res.body;
  }

  async create(lease: Lease): Promise<Lease> {
    const { namespace, name } = lease.metadata;
    const res = await kubeRequest<Lease>(this.#kc, {
      method: 'POST',
      path: this.#path(namespace),
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      timeoutMs: this.#timeoutMs,
    });
    if (res.status === 409) throw new LeaseConflictError(`Lease ${namespace}/${name} already exists`);
    if (res.status !== 201 && res.status !== 200) throw new KubeApiError(`create Lease ${namespace}/${name}`, res);
    return res.body!;
  }

  async update(lease: Lease): Promise<Lease> {
    const { namespace, name } = lease.metadata;
    const res = await kubeRequest<Lease>(this.#kc, {
      method: 'PUT',
      path: this.#path(namespace, name),
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      timeoutMs: this.#timeoutMs,
    });
    if (res.status === 409) throw new LeaseConflictError(`Lease ${namespace}/${name} was written by someone else`);
    if (res.status !== 200) throw new KubeApiError(`update Lease ${namespace}/${name}`, res);
    return res.body!;
  }
}

/** Time, injectable so unit tests run terms of 15 s in microseconds. */
export interface LeaderClock {
  /** Wall clock: only for the acquireTime / renewTime written into the Lease. */
  now(): Date;
  /** Monotonic milliseconds: every interval the elector measures. */
  monotonic(): number;
  /** Runs fn after ms; returns a cancel function. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: LeaderClock = {
  now: () => new Date(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => {
    // unref: leader election alone must not keep a stopping process alive.
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

interface ElectionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LeaderElectorOptions {
  /** Used to build a KubeLeaseApi when `leaseApi` is not given. */
  kubeConfig?: KubeAccess;
  leaseApi?: LeaseApi;
  namespace: string;
  name?: string;
  /** Unique per process (pod name plus a random suffix): two processes with one identity would both lead. */
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  logger: ElectionLogger;
  onStartedLeading?: () => void | Promise<void>;
  onStoppedLeading?: () => void | Promise<void>;
  clock?: LeaderClock;
}

/** A default identity: host name (the pod name in a cluster) and a random suffix. */
export function defaultIdentity(): string {
  return `${hostname()}_${crypto.randomUUID()}`;
}

export class LeaderElector {
  readonly #api: LeaseApi;
  readonly #ns: string;
  readonly #name: string;
  readonly #id: string;
  readonly #leaseSeconds: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #log: ElectionLogger;
  readonly #clock: LeaderClock;
  readonly #onStarted: (() => void | Promise<void>) | undefined;
  readonly #onStopped: (() => void | Promise<void>) | undefined;

  #started = false;
  #stopped = false;
  #leading = false;
  /** Monotonic start of the last successful acquire/renew attempt. */
  #renewedAt = Number.NEGATIVE_INFINITY;
  /** The last Lease read or written (its resourceVersion is used for updates and release). */
  #lease: Lease | undefined;
  /** The Lease record as last seen, and when (monotonic) it was first seen like that. */
  #observedRecord = '';
  #observedAt = 0;
  #cancelTick: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  #inflight: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(o: LeaderElectorOptions) {
    if (!o.leaseApi && !o.kubeConfig) throw new Error('LeaderElector needs kubeConfig or leaseApi');
    this.#ns = o.namespace;
    this.#name = o.name ?? 'sso-operator';
    this.#id = o.identity;
    this.#leaseSeconds = o.leaseDurationSeconds ?? 15;
    const renewDeadline = o.renewDeadlineSeconds ?? 10;
    const retry = o.retryPeriodSeconds ?? 2;
    // The same checks as client-go's NewLeaderElector: the margin argued at the top needs them.
    if (!(this.#leaseSeconds > renewDeadline)) throw new Error('leaseDurationSeconds must be greater than renewDeadlineSeconds');
    if (!(renewDeadline > retry * 1.2)) throw new Error('renewDeadlineSeconds must be greater than 1.2 * retryPeriodSeconds');
    if (!(retry > 0)) throw new Error('retryPeriodSeconds must be positive');
    if (!this.#id) throw new Error('identity must not be empty');
    this.#renewDeadlineMs = renewDeadline * 1000;
    this.#retryMs = retry * 1000;
    this.#api = o.leaseApi ?? new KubeLeaseApi(o.kubeConfig!, Math.max(1000, this.#renewDeadlineMs / 2));
    this.#log = o.logger;
    this.#clock = o.clock ?? systemClock;
    this.#onStarted = o.onStartedLeading;
    this.#onStopped = o.onStoppedLeading;
  }

  get identity(): string {
    return this.#id;
  }

  /** True while this replica's term lasts; computed now, not when a timer last ran. */
  isLeader(): boolean {
    return this.#leading && !this.#stopped && this.#clock.monotonic() < this.#renewedAt + this.#renewDeadlineMs;
  }

  /** Starts campaigning; the first attempt runs at once. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#tick();
  }

  /**
   * Stops campaigning. A leader calls onStoppedLeading first, then releases the
   * Lease (empty holder, leaseDurationSeconds 1, as client-go's ReleaseOnCancel)
   * so another replica takes over at its next retry instead of after expiry.
   * Never rejects.
   */
  stop(): Promise<void> {
    // Every caller (signal handler, app onClose) waits for the same release.
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTick?.();
    await this.#inflight;
    this.#lose('stopping');
    const lease = this.#lease;
    if (!lease || lease.spec?.holderIdentity !== this.#id) return;
    const now = microTime(this.#clock.now());
    try {
      this.#lease = await this.#api.update({
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
      });
      this.#log.info({ lease: `${this.#ns}/${this.#name}`, identity: this.#id }, 'leader lease released');
    } catch (err) {
      // A conflict means someone else holds it already; anything else, it expires on its own.
      this.#log.warn({ lease: `${this.#ns}/${this.#name}`, err: String(err) }, 'could not release the leader lease');
    }
  }

  async #tick(): Promise<void> {
    this.#cancelTick = undefined;
    if (this.#stopped) return;
    const attempt = this.#tryAcquireOrRenew().catch((err: unknown) => {
      // Defence in depth: #tryAcquireOrRenew handles its own errors; nothing here may crash the process.
      this.#log.error({ err: String(err) }, 'leader election attempt failed');
    });
    this.#inflight = attempt;
    await attempt;
    this.#inflight = undefined;
    if (!this.#stopped) this.#cancelTick = this.#clock.setTimeout(() => void this.#tick(), this.#retryMs);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const attemptStart = this.#clock.monotonic();
    const now = microTime(this.#clock.now());
    let lease: Lease | undefined;
    try {
      lease = await this.#api.get(this.#ns, this.#name);
    } catch (err) {
      this.#failed('get', err);
      return;
    }

    if (!lease) {
      try {
        const created = await this.#api.create({
          metadata: { name: this.#name, namespace: this.#ns },
          spec: { holderIdentity: this.#id, leaseDurationSeconds: this.#leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        this.#succeeded(created, attemptStart);
      } catch (err) {
        this.#failed('create', err);
      }
      return;
    }

    this.#lease = lease;
    this.#observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const mine = holder === this.#id;
    const duration = (spec.leaseDurationSeconds ?? this.#leaseSeconds) * 1000;
    if (!mine && holder !== '' && this.#observedAt + duration > this.#clock.monotonic()) {
      // Held by a live leader. If we thought we led, someone took it: our term is over.
      this.#lose(`lease held by ${holder}`);
      return;
    }

    const transitions = spec.leaseTransitions ?? 0;
    try {
      const updated = await this.#api.update({
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.#id,
          leaseDurationSeconds: this.#leaseSeconds,
          acquireTime: mine ? (spec.acquireTime ?? now) : now,
          renewTime: now,
          leaseTransitions: mine ? transitions : transitions + 1,
        },
      });
      if (!mine) this.#log.info({ lease: `${this.#ns}/${this.#name}`, previous: holder || undefined, identity: this.#id }, 'took over the leader lease');
      this.#succeeded(updated, attemptStart);
    } catch (err) {
      this.#failed('update', err);
    }
  }

  #observe(lease: Lease): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = this.#clock.monotonic();
    }
  }

  #succeeded(lease: Lease, attemptStart: number): void {
    this.#lease = lease;
    this.#observe(lease);
    if (this.#stopped) return;
    const deadline = attemptStart + this.#renewDeadlineMs;
    if (this.#clock.monotonic() >= deadline) {
      // The write landed, but later than a term may last: do not start a term
      // that is already over; the next attempt renews with a fresh start time.
      this.#lose('renewal answered after the renew deadline');
      return;
    }
    this.#renewedAt = Math.max(this.#renewedAt, attemptStart);
    this.#armDeadline();
    if (!this.#leading) {
      this.#leading = true;
      this.#log.info({ lease: `${this.#ns}/${this.#name}`, identity: this.#id }, 'became leader');
      this.#callback('onStartedLeading', this.#onStarted);
    }
  }

  #failed(op: string, err: unknown): void {
    if (err instanceof LeaseConflictError) {
      // Lost a race: normal when two replicas try at once.
      this.#log.info({ lease: `${this.#ns}/${this.#name}`, op }, 'leader lease changed meanwhile; will retry');
    } else {
      this.#log.warn({ lease: `${this.#ns}/${this.#name}`, op, err: String(err) }, 'leader lease call failed; will retry');
    }
    this.#checkDeadline();
  }

  /** A timer at the end of the term, so onStoppedLeading runs on time even while a request hangs. */
  #armDeadline(): void {
    this.#cancelDeadline?.();
    const left = this.#renewedAt + this.#renewDeadlineMs - this.#clock.monotonic();
    this.#cancelDeadline = this.#clock.setTimeout(() => {
      this.#cancelDeadline = undefined;
      if (!this.#leading) return;
      // Timers and performance.now() may disagree by a fraction of a millisecond.
      if (this.#clock.monotonic() < this.#renewedAt + this.#renewDeadlineMs) this.#armDeadline();
      else this.#checkDeadline();
    }, Math.max(0, left) + 1);
  }

  #checkDeadline(): void {
    if (this.#leading && this.#clock.monotonic() >= this.#renewedAt + this.#renewDeadlineMs) {
      this.#lose(`not renewed within ${this.#renewDeadlineMs / 1000}s`);
    }
  }

  #lose(why: string): void {
    this.#cancelDeadline?.();
    this.#cancelDeadline = undefined;
    if (!this.#leading) return;
    this.#leading = false;
    this.#log.warn({ lease: `${this.#ns}/${this.#name}`, identity: this.#id, why }, 'stopped leading');
    this.#callback('onStoppedLeading', this.#onStopped);
  }

  #callback(name: string, fn: (() => void | Promise<void>) | undefined): void {
    if (!fn) return;
    try {
      void Promise.resolve(fn()).catch((err: unknown) => this.#log.error({ err: String(err) }, `${name} failed`));
    } catch (err) {
      this.#log.error({ err: String(err) }, `${name} failed`);
    }
  }
}
