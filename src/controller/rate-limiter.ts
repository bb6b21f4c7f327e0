// At most `perSecond` requests in any window of one second, as the server
// counts them. A token bucket would not do: after a pause its full bucket
// plus the refill allows twice the rate within one second. Nor would a
// sliding window over start times: a request delayed on its way lands closer
// to the next one than they were started.
//
// So there are `perSecond` slots, and a slot is free again one second after
// its request *finished*. The server receives a request between its start
// and its end, so two requests of one slot arrive at least a second apart,
// and among any perSecond + 1 requests two share a slot: no one-second
// window on the server's clock holds more than perSecond of them, whatever
// the network does. The price is a little throughput (the request's own
// latency), which errs on the side of the apiserver.

export interface RateLimiterOptions {
  perSecond: number;
  /** ms clock; default performance.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

// Each grant looks at every slot: bounded so that stays cheap on the event loop.
export const MAX_PER_SECOND = 1000;
const WINDOW_MS = 1000;

/** Call when the request is done (answered, failed or abandoned). Idempotent. */
export type Release = () => void;

export class RateLimiter {
  readonly perSecond: number;
  /** Per slot, when its last request finished; Infinity while one is in flight. */
  readonly #freedAt: number[];
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Callers are granted in order, one at a time. */
  #tail: Promise<unknown> = Promise.resolve();
  #wakeOnRelease: (() => void) | undefined;

  constructor(options: RateLimiterOptions) {
    if (!Number.isFinite(options.perSecond) || options.perSecond < 1 || options.perSecond > MAX_PER_SECOND) {
      throw new RangeError(`perSecond must be from 1 to ${MAX_PER_SECOND}`);
    }
    this.perSecond = Math.floor(options.perSecond);
    this.#freedAt = new Array<number>(this.perSecond).fill(-Infinity);
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  /** Resolves with the release function once a request may start; call it when the request is done. */
  acquire(): Promise<Release> {
    const turn = this.#tail.then(() => this.#grant());
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  async #grant(): Promise<Release> {
    for (;;) {
      let slot = 0;
      for (let i = 1; i < this.#freedAt.length; i++) if (this.#freedAt[i]! < this.#freedAt[slot]!) slot = i;
      const freedAt = this.#freedAt[slot]!;
      if (freedAt === Infinity) {
        // Every slot busy: wait for a request to finish.
        await new Promise<void>((resolve) => (this.#wakeOnRelease = resolve));
        continue;
      }
      const wait = freedAt + WINDOW_MS - this.#now();
      if (wait > 0) {
        await this.#sleep(Math.ceil(wait));
        continue;
      }
      this.#freedAt[slot] = Infinity;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.#freedAt[slot] = this.#now();
        const wake = this.#wakeOnRelease;
        this.#wakeOnRelease = undefined;
        wake?.();
      };
    }
  }
}
