// Revoked sessions: `/auth/logout` records the jti of the session it ends, and
// `/auth/verify` / `/auth/whoami` refuse it (401 SessionRevoked) until the
// token would have expired anyway. Without this a copied `sso_session` cookie
// keeps passing forward-auth for up to its whole lifetime after logout.
//
// Security notes:
// - Only the jti of a token that verified is ever revoked (the caller checks
//   it): an unverified jti would let anyone fill the list, or revoke someone
//   else's session by naming its jti.
// - Entries are kept until `exp` plus REVOCATION_GRACE_SECONDS: session
//   verification tolerates a few seconds of clock skew past `exp`, and
//   replicas' clocks differ, so dropping the entry at `exp` exactly would let
//   the revoked token pass again for those seconds on some replica.
// - No size cap and no eviction: evicting an unexpired entry would un-revoke
//   a session. The size is bounded by the sessions issued in one session
//   lifetime, since only a signed token can add an entry.
// - Failure policy: isRevoked() REJECTS when it cannot answer; forward-auth
//   turns that into 503, never 200, because "Redis is down" must not become
//   "every logged-out session works again". revoke() failing on logout is
//   logged and the logout answers as usual (the cookie is still cleared).

import { boundedRedisCall, hashedKey, redisTimeout } from '../redis/bounded-call.ts';
import type { RedisReplayCacheOptions } from '../saml/redis-replay-cache.ts';

export interface RevocationList {
  /** Records `jti` as revoked until `exp` (epoch seconds) plus the grace. Rejects if it cannot be recorded. */
  revoke(jti: string, exp: number): Promise<void>;
  /** True if `jti` was revoked and has not expired. Rejects when the answer is unknown (callers fail closed). */
  isRevoked(jti: string): Promise<boolean>;
}

/** Seconds an entry outlives `exp`: covers session verification's clock tolerance (5 s) and skew between replicas. */
export const REVOCATION_GRACE_SECONDS = 60;

/** Why isRevoked()/revoke() rejected; forward-auth answers 503 RevocationListUnavailable. */
export class RevocationListUnavailableError extends Error {
  override name = 'RevocationListUnavailableError';
  readonly reason = 'RevocationListUnavailable';
}

export interface MemoryRevocationListOptions {
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
  /** Minimum seconds between sweeps of expired entries (default 30). */
  sweepIntervalSeconds?: number;
}

/**
 * In-process list: right for one process (standalone) and, in cluster mode
 * without `--redis-url`, per replica only (a logout on one replica is not
 * seen by the others). Expired entries are swept lazily on revoke, at most
 * once per sweep interval, as in MemoryReplayCache.
 */
export class MemoryRevocationList implements RevocationList {
  readonly #entries = new Map<string, number>();
  readonly #now: () => number;
  readonly #sweepIntervalMs: number;
  #lastSweep: number;

  constructor(options: MemoryRevocationListOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweepIntervalMs = (options.sweepIntervalSeconds ?? 30) * 1000;
    this.#lastSweep = this.#now();
  }

  async revoke(jti: string, exp: number): Promise<void> {
    const nowMs = this.#now();
    if (nowMs - this.#lastSweep >= this.#sweepIntervalMs) this.#sweep(nowMs);
    const until = exp + REVOCATION_GRACE_SECONDS;
    if (until * 1000 <= nowMs) return;
    // Store a flat copy: the jti is read out of a decoded token payload, and
    // a string the engine hands out as a slice of that text would keep the
    // whole payload alive for as long as the entry lives (up to 8 h), as the
    // assertion text was by IDs in MemoryReplayCache.
    this.#entries.set(Buffer.from(jti, 'utf8').toString('utf8'), Math.max(until, this.#entries.get(jti) ?? 0));
  }

  async isRevoked(jti: string): Promise<boolean> {
    const until = this.#entries.get(jti);
    return until !== undefined && until * 1000 > this.#now();
  }

  /** Number of entries held (expired ones may linger until the next sweep). */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(nowMs: number): void {
    this.#lastSweep = nowMs;
    for (const [jti, until] of this.#entries) if (until * 1000 <= nowMs) this.#entries.delete(jti);
  }
}

/** The two Redis commands used; ioredis 5's `Redis` satisfies it as it is. */
export interface RedisRevocationClient {
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<'OK' | null>;
  exists(key: string): Promise<number>;
}

export type RedisRevocationListOptions = Pick<RedisReplayCacheOptions, 'timeoutMs' | 'now'> & {
  /** Key prefix (default `sso:revoked:`); lets several installations share one Redis. */
  keyPrefix?: string;
};

export const DEFAULT_REVOCATION_KEY_PREFIX = 'sso:revoked:';
/**
 * List shared by every replica through Redis (`--redis-url`): a logout on one
 * replica revokes the session on all. Key `sso:revoked:` + SHA-256 of the
 * jti (bounded key size whatever the jti holds), TTL up to exp + grace, so
 * Redis drops entries by itself. Each command is bounded by a timeout, as in
 * RedisReplayCache: a client queueing commands while it reconnects must not
 * hold forward-auth requests open; they get a 503 at once instead.
 */
export class RedisRevocationList implements RevocationList {
  readonly #redis: RedisRevocationClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(redis: RedisRevocationClient, options: RedisRevocationListOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? DEFAULT_REVOCATION_KEY_PREFIX;
    this.#timeoutMs = redisTimeout(options.timeoutMs);
    this.#now = options.now ?? Date.now;
  }

  /** The Redis key of a jti. */
  keyFor(jti: string): string {
    return hashedKey(this.#prefix, jti);
  }

  async revoke(jti: string, exp: number): Promise<void> {
    // Rounded up so the entry never expires before the token stops verifying.
    const seconds = Math.ceil(exp + REVOCATION_GRACE_SECONDS - this.#now() / 1000);
    // Already past: the token no longer verifies anywhere, and Redis refuses EX 0.
    if (seconds <= 0) return;
    const answer = await this.#bounded('SET', this.#redis.set(this.keyFor(jti), String(exp), 'EX', seconds));
    if (answer !== 'OK') throw new RevocationListUnavailableError(`unexpected Redis answer to SET: ${JSON.stringify(answer)}`);
  }

  async isRevoked(jti: string): Promise<boolean> {
    const answer = await this.#bounded('EXISTS', this.#redis.exists(this.keyFor(jti)));
    if (answer === 1) return true;
    if (answer === 0) return false;
    // Anything else is not an answer to EXISTS of one key: unknown, so not "not revoked".
    throw new RevocationListUnavailableError(`unexpected Redis answer to EXISTS: ${JSON.stringify(answer)}`);
  }

  #bounded<T>(command: string, call: Promise<T>): Promise<T> {
    return boundedRedisCall(call, this.#timeoutMs, command, (message, cause) => new RevocationListUnavailableError(message, { cause }));
  }
}
