// At most `perSecond` starts in any window of one second: a sliding window
// rather than a token bucket, so an apiserver counting our writes per second
// never sees more than the configured number, not even right after a pause
// (a full bucket plus its refill would allow twice as many in one second).

export interface RateLimiterOptions {
  perSecond: number;
  /** ms clock; default performance.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const WINDOW_MS = 1000;

export class RateLimiter {
  readonly perSecond: number;
  /** Start times of the last `perSecond` grants, oldest at `#next`: a ring. */
  readonly #starts: number[];
  #next = 0;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Callers wait in order: one grant at a time. */
  #tail: Promise<void> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!Number.isFinite(options.perSecond) || options.perSecond < 1) throw new RangeError('perSecond must be at least 1');
    this.perSecond = Math.floor(options.perSecond);
    this.#starts = new Array<number>(this.perSecond).fill(-Infinity);
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  /** Resolves when one more start fits in the window; call it right before the request. */
  acquire(): Promise<void> {
    const turn = this.#tail.then(() => this.#grant());
    this.#tail = turn;
    return turn;
  }

  /** ms until a start would be granted now (0 = at once). */
  delayMs(): number {
    return Math.max(0, this.#starts[this.#next]! + WINDOW_MS - this.#now());
  }

  async #grant(): Promise<void> {
    for (let wait = this.delayMs(); wait > 0; wait = this.delayMs()) await this.#sleep(Math.ceil(wait));
    this.#starts[this.#next] = this.#now();
    this.#next = (this.#next + 1) % this.perSecond;
  }
}
