// Capped exponential backoff with jitter for restarting list/watch loops.
// Jitter keeps many replicas (and many informers in one process) from
// reconnecting in lockstep after an apiserver restart.

export interface BackoffOptions {
  /** First delay, in ms (default 200). */
  initialMs?: number;
  /** Longest delay, in ms (default 30000). */
  maxMs?: number;
  /** A connection that stayed healthy this long (ms) resets the backoff (default 30000). */
  healthyMs?: number;
  /** In [0, 1); tests pass a fixed value. */
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly healthyMs: number;
  readonly #random: () => number;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = Math.max(1, options.initialMs ?? 200);
    this.maxMs = Math.max(this.initialMs, options.maxMs ?? 30_000);
    this.healthyMs = options.healthyMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Consecutive failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * The delay before the next attempt. `healthyForMs`: how long the attempt
   * that just ended ran; one that ran at least `healthyMs` was a success
   * that merely ended (a watch timing out), so the ladder starts over.
   */
  next(healthyForMs = 0): number {
    if (healthyForMs >= this.healthyMs) this.#failures = 0;
    // 2^n overflows to Infinity for large n, which Math.min caps.
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.#failures);
    this.#failures++;
    // "Equal jitter": never less than half the step, so the ladder still climbs.
    return Math.round(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  reset(): void {
    this.#failures = 0;
  }
}
