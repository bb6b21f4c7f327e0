// Replay cache shared by every replica through Redis (`--redis-url`): an
// assertion accepted by one replica is refused by all the others.
//
// One atomic `SET key value EX seconds NX` per assertion: Redis answers OK
// only to the first writer, so two replicas receiving the same response at
// the same moment cannot both accept it (a GET-then-SET would let both pass).
//
// Security notes:
// - The key is `sso:replay:` + SHA-256 of the assertion ID: the ID is only
//   as well-formed as the IdP makes it (any length, any bytes), so hashing
//   bounds the key size and keeps foreign bytes out of the shared key space.
// - Any failure or timeout REJECTS. validateResponse turns that into a
//   ReplayCacheError and the HTTP layer answers 503: a response whose replay
//   status is unknown is never accepted, because "Redis is down" must not
//   become "every captured assertion can be replayed".
// - The timeout defends against a client that queues commands while it
//   reconnects (ioredis's default offline queue): the login fails fast with a
//   503 instead of hanging. A SET that lands after the timeout only records
//   the ID: the refused response cannot be replayed later, which is the safe way round.
//
// Written against the one command it needs, so src/saml does not depend on a
// Redis client; ioredis 5's `Redis` satisfies RedisSetNX as it is.

import { boundedRedisCall, hashedKey, redisTimeout } from '../redis/bounded-call.ts';
import type { ReplayCache } from './types.ts';

/** The single Redis command used (ioredis: `redis.set(key, value, 'EX', seconds, 'NX')`). */
export interface RedisSetNX {
  set(key: string, value: string, secondsToken: 'EX', seconds: number, nx: 'NX'): Promise<'OK' | null>;
}

export interface RedisReplayCacheOptions {
  /** Key prefix (default `sso:replay:`); lets several installations share one Redis. */
  keyPrefix?: string;
  /** Max ms to wait for Redis before rejecting (default 2000). */
  timeoutMs?: number;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
}

export const DEFAULT_REPLAY_KEY_PREFIX = 'sso:replay:';
/** Why remember() rejected; validateResponse wraps it in ReplayCacheError (HTTP 503). */
export class ReplayCacheUnavailableError extends Error {
  override name = 'ReplayCacheUnavailableError';
  readonly reason = 'ReplayCacheUnavailable';
}

export class RedisReplayCache implements ReplayCache {
  readonly #redis: RedisSetNX;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(redis: RedisSetNX, options: RedisReplayCacheOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? DEFAULT_REPLAY_KEY_PREFIX;
    this.#timeoutMs = redisTimeout(options.timeoutMs);
    this.#now = options.now ?? Date.now;
  }

  /** The Redis key of an assertion ID. */
  keyFor(id: string): string {
    return hashedKey(this.#prefix, id);
  }

  async remember(id: string, expiresAt: number): Promise<boolean> {
    // Rounded up so the entry never expires before the assertion does; at
    // least 1 s because Redis refuses EX 0 (an already expired assertion was
    // refused earlier, this only keeps the call valid).
    const seconds = Math.max(1, Math.ceil(expiresAt - this.#now() / 1000));
    const key = this.keyFor(id);
    // The value is only for an operator inspecting Redis: when it expires.
    const answer = await boundedRedisCall(
      this.#redis.set(key, String(expiresAt), 'EX', seconds, 'NX'),
      this.#timeoutMs,
      'SET',
      (message, cause) => new ReplayCacheUnavailableError(message, { cause }),
    );
    if (answer === 'OK') return true;
    if (answer === null) return false;
    // Anything else is not an answer to SET NX: unknown status, so not accepted.
    throw new ReplayCacheUnavailableError(`unexpected Redis answer to SET NX: ${JSON.stringify(answer)}`);
  }
}
