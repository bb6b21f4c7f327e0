// A level-based work queue in the manner of client-go's: a key is queued at
// most once, processed by one worker at a time, re-queued with exponential
// backoff on error, and may be scheduled for a later time ("requeue at T" is a
// return value of reconcile, not a timer hidden in the handler).

export type ReconcileResult = { requeueAfterMs?: number } | void;
export type Reconciler = (key: string) => Promise<ReconcileResult>;

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  readonly #reconcile: Reconciler;
  readonly #queued = new Set<string>();
  readonly #order: string[] = [];
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onError?: (key: string, err: unknown) => void;
  #running = false;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(reconcile: Reconciler, options: WorkQueueOptions = {}) {
    this.#reconcile = reconcile;
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#onError = options.onError;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      // Processed right now: run once more afterwards, with the newest state.
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    // Start on the next microtask, so a burst of events in one tick collapses.
    queueMicrotask(() => void this.#drain());
  }

  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(key);
    if (existing) clearTimeout(existing);
    // setTimeout cannot take more than ~24.8 days; a later wake-up re-schedules.
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, Math.min(Math.max(0, delayMs), 2_000_000_000));
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Resolves when nothing is queued or running (for tests and start-up). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#order.length = 0;
    this.#queued.clear();
  }

  #isIdle(): boolean {
    return this.#order.length === 0 && this.#active.size === 0;
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#order.length > 0 && !this.#stopped) {
        const key = this.#order.shift()!;
        this.#queued.delete(key);
        this.#active.add(key);
        try {
          const result = await this.#reconcile(key);
          this.#failures.delete(key);
          if (result && result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (err) {
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          this.#onError?.(key, err);
          this.addAfter(key, Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (n - 1)));
        } finally {
          this.#active.delete(key);
          if (this.#dirty.delete(key)) this.add(key);
        }
      }
    } finally {
      this.#running = false;
      if (this.#isIdle()) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
