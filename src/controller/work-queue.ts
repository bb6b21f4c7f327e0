// A level-based work queue in the manner of client-go's: a key is queued at
// most once, processed by one worker at a time, re-queued with exponential
// backoff on error, and may be scheduled for a later time ("requeue at T" is a
// return value of reconcile, not a timer hidden in the handler).
//
// Keys wait in priority lanes (key-queue.ts): the worker always takes the
// first key of the highest non-empty lane, so a change queued in a higher
// lane runs next, however many keys wait below it. Retries and scheduled
// requeues go to the lowest lane unless something queues them higher.
//
// The worker gives the event loop a turn at least every YIELD_EVERY_MS: a
// long run of quick reconciles (a burst of 100,000 objects) is a chain of
// resolved promises, which would otherwise hold off every socket and timer,
// the requests being served included, until the whole backlog is done.

import { KeyQueue } from './key-queue.ts';

/** `lane`: where the scheduled requeue goes (default the lowest). */
export type ReconcileResult<L extends string = string> = { requeueAfterMs?: number; lane?: L } | void;
/** `lane`: the lane the key was taken from. */
export type Reconciler<L extends string = string> = (key: string, lane: L) => Promise<ReconcileResult>;

export interface WorkQueueOptions<L extends string> {
  /** Lanes from the highest priority to the lowest; default one lane, `default`. */
  lanes?: readonly L[];
  /** Keys processed at once (never the same key twice at once); default 1. */
  concurrency?: number;
  /**
   * One more worker that takes keys of this lane only, so a key of it never
   * waits for the others to finish what they are doing (one slow reconcile
   * waiting on the network), only for its own lane.
   */
  reservedFor?: L;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: string, err: unknown) => void;
}

const YIELD_EVERY_MS = 10;

export class WorkQueue<L extends string = 'default'> {
  readonly #reconcile: Reconciler<L>;
  readonly #lanes: readonly L[];
  readonly #queue: KeyQueue<L>;
  readonly #active = new Set<string>();
  /** Keys added while being processed, with the highest lane asked for: run once more afterwards. */
  readonly #dirty = new Map<string, L>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  /** Keys waiting for a retry after a failure, and their lane: still work to do, so counted in depth(). */
  readonly #retrying = new Map<string, L>();
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onError?: (key: string, err: unknown) => void;
  readonly #concurrency: number;
  readonly #reservedFor: L | undefined;
  #workers = 0;
  #reservedRunning = false;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(reconcile: Reconciler<L>, options: WorkQueueOptions<L> = {}) {
    this.#reconcile = reconcile;
    this.#lanes = options.lanes ?? (['default'] as unknown as readonly L[]);
    this.#queue = new KeyQueue(this.#lanes);
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#reservedFor = options.reservedFor;
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#onError = options.onError;
  }

  /** Queues `key` in `lane` (default the lowest), or moves it up to that lane. */
  add(key: string, lane: L = this.#lowest()): void {
    if (this.#stopped) return;
    // Queued again before its retry came round: counted once, where it waits now.
    this.#retrying.delete(key);
    if (this.#active.has(key)) {
      // Processed right now: run once more afterwards, with the newest state.
      const asked = this.#dirty.get(key);
      if (asked === undefined || this.#lanes.indexOf(lane) < this.#lanes.indexOf(asked)) this.#dirty.set(key, lane);
      return;
    }
    if (!this.#queue.add(key, lane)) return;
    this.#startWorkers();
  }

  #startWorkers(): void {
    // Start on the next microtask, so a burst of events in one tick collapses.
    while (this.#workers < this.#concurrency && this.#workers < this.#queue.size) {
      this.#workers++;
      queueMicrotask(() => void this.#drain());
    }
    if (this.#reservedFor !== undefined && !this.#reservedRunning && this.#queue.depth(this.#reservedFor) > 0) {
      this.#reservedRunning = true;
      queueMicrotask(() => void this.#drain(this.#reservedFor));
    }
  }

  addAfter(key: string, delayMs: number, lane: L = this.#lowest()): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(key);
    if (existing) clearTimeout(existing);
    // setTimeout cannot take more than ~24.8 days; a later wake-up re-schedules.
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key, lane);
    }, Math.min(Math.max(0, delayMs), 2_000_000_000));
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Whether `key` is queued, being processed, or waiting for a retry or a scheduled requeue. */
  busy(key: string): boolean {
    return this.#queue.has(key) || this.#active.has(key) || this.#retrying.has(key) || this.#timers.has(key);
  }

  /** Resolves when nothing is queued or running (for tests and start-up). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Keys of `lane` waiting to be processed, those waiting for a retry after a
   * failure included (a write that failed is still to be done: a depth of 0
   * must mean nothing is left). Scheduled requeues (requeueAfterMs) are not.
   */
  depth(lane: L): number {
    let retrying = 0;
    for (const l of this.#retrying.values()) if (l === lane) retrying++;
    return this.#queue.depth(lane) + retrying;
  }

  oldestAgeSeconds(lane: L): number {
    return this.#queue.oldestAgeSeconds(lane);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#retrying.clear();
    this.#queue.clear();
    this.#dirty.clear();
    this.#wakeIdle();
  }

  #laneOf(lane: string | undefined): L {
    return lane !== undefined && (this.#lanes as readonly string[]).includes(lane) ? (lane as L) : this.#lowest();
  }

  #lowest(): L {
    return this.#lanes[this.#lanes.length - 1]!;
  }

  #isIdle(): boolean {
    return this.#stopped || (this.#queue.size === 0 && this.#active.size === 0 && this.#workers === 0 && !this.#reservedRunning);
  }

  /** One worker: takes keys (of lane `only`, for the reserved one) until none is left. */
  async #drain(only?: L): Promise<void> {
    let sliceStart = performance.now();
    try {
      for (let next = this.#queue.shift(only); next !== undefined && !this.#stopped; next = this.#queue.shift(only)) {
        const { key } = next;
        if (this.#active.has(key)) {
          // Another worker has it: run it once more when that one is done.
          const asked = this.#dirty.get(key);
          if (asked === undefined || this.#lanes.indexOf(next.lane) < this.#lanes.indexOf(asked)) this.#dirty.set(key, next.lane);
          continue;
        }
        this.#active.add(key);
        try {
          const result = await this.#reconcile(key, next.lane);
          this.#failures.delete(key);
          if (result && result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs, this.#laneOf(result.lane));
        } catch (err) {
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          this.#onError?.(key, err);
          // Retried in the lane it came from: a failed trust change stays one.
          this.addAfter(key, Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (n - 1)), next.lane);
          this.#retrying.set(key, next.lane);
        } finally {
          this.#active.delete(key);
          const lane = this.#dirty.get(key);
          if (lane !== undefined) {
            this.#dirty.delete(key);
            this.#queue.add(key, lane);
            this.#startWorkers();
          }
        }
        if (performance.now() - sliceStart >= YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    } finally {
      if (only !== undefined) this.#reservedRunning = false;
      else this.#workers--;
      if (this.#isIdle()) this.#wakeIdle();
      else if (!this.#stopped) this.#startWorkers();
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
