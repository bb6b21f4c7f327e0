// Revoked sessions: `/auth/logout` records the jti of the session it ends, and
// `/auth/verify` / `/auth/whoami` refuse it (401 SessionRevoked) until the
// token would have expired anyway. Without this a copied `sso_session` cookie
// keeps passing forward-auth for up to its whole lifetime after logout.
//
// Single logout from the IdP names the user (NameID) and the IdP session
// (SessionIndex), not our jti, and often arrives without our cookie (a
// cross-site POST does not carry a SameSite=Lax cookie). Those revoke by
// session key (revokeIssuedBefore): every session carrying that key and
// issued at or before the revocation time is refused; sessions issued later
// (the user signing in again) are not.
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
// - Session keys come from a LogoutRequest whose signature by the IdP was
//   checked (src/saml/logout.ts), never from an unsigned request.
// - Failure policy: isRevoked() REJECTS when it cannot answer; forward-auth
//   turns that into 503, never 200, because "Redis is down" must not become
//   "every logged-out session works again". revoke() failing on logout is
//   logged and the logout answers as usual (the cookie is still cleared).

import { createHash } from 'node:crypto';
import { boundedRedisCall, hashedKey, redisTimeout } from '../redis/bounded-call.ts';
import type { RedisReplayCacheOptions } from '../saml/redis-replay-cache.ts';
import type { OidcSessionRef, SamlSessionRef } from './tokens.ts';

export interface RevocationList {
  /** Records `jti` as revoked until `exp` (epoch seconds) plus the grace. Rejects if it cannot be recorded. */
  revoke(jti: string, exp: number): Promise<void>;
  /**
   * Revokes every session that carries the session key `key` and was issued
   * at or before `revokedAt` (epoch seconds); remembered until `until` plus
   * the grace (the longest such a session can live). Rejects if it cannot be recorded.
   */
  revokeIssuedBefore(key: string, revokedAt: number, until: number): Promise<void>;
  /**
   * True if `jti` was revoked, or (given `session`) one of its keys was
   * revoked at or after its `iat`. Rejects when the answer is unknown
   * (callers fail closed).
   */
  isRevoked(jti: string, session?: SessionKeys): Promise<boolean>;
  /**
   * The same answer at once, for a list held in this process (forward-auth
   * asks on every request; a promise costs a trip through the microtask
   * queue). Absent on lists that need I/O to answer.
   */
  isRevokedNow?(jti: string, session?: SessionKeys): boolean;
}

/** What identifies a session besides its jti: when it was issued and its session keys. */
export interface SessionKeys {
  iat: number;
  keys: readonly string[];
}

const sha256hex = (v: string): string => createHash('sha256').update(v, 'utf8').digest('hex');

/** Most SessionIndex values of one LogoutRequest revoked one by one; with more, the NameID is revoked as a whole. */
export const MAX_LOGOUT_SESSION_INDEXES = 16;

/**
 * Revocation keys a SAML session carries: its NameID at `connector`, and its
 * SessionIndex (or, without one, an "unindexed" key of the NameID). Built
 * from SHA-256 hashes, so a session that carries only the hash of an overlong
 * value is found as well.
 */
export function samlSessionKeys(connector: string, ref: SamlSessionRef | undefined): string[] {
  if (!ref) return [];
  const nameID = ref.nameID !== undefined ? sha256hex(ref.nameID) : ref.nameIDSha256;
  if (nameID === undefined) return [];
  const index = ref.sessionIndex !== undefined ? sha256hex(ref.sessionIndex) : ref.sessionIndexSha256;
  return [`saml-nameid:${connector}\0${nameID}`, index !== undefined ? `saml-session:${connector}\0${index}` : `saml-unindexed:${connector}\0${nameID}`];
}

/**
 * Keys an IdP LogoutRequest for `nameID` revokes at `connector`: each named
 * SessionIndex, plus the NameID's sessions that have no SessionIndex (which
 * no index can name); without indexes, or with more than
 * MAX_LOGOUT_SESSION_INDEXES (bounding the entries one request can add),
 * every session of the NameID.
 */
export function logoutRequestKeys(connector: string, nameID: string, sessionIndexes: readonly string[]): string[] {
  const id = sha256hex(nameID);
  if (sessionIndexes.length === 0 || sessionIndexes.length > MAX_LOGOUT_SESSION_INDEXES) return [`saml-nameid:${connector}\0${id}`];
  const keys = new Set(sessionIndexes.map((si) => `saml-session:${connector}\0${sha256hex(si)}`));
  keys.add(`saml-unindexed:${connector}\0${id}`);
  return [...keys];
}

/** Revocation keys an OIDC session carries: the provider's subject and, when it gave one, its session id, at `connector`. */
export function oidcSessionKeys(connector: string, ref: OidcSessionRef | undefined): string[] {
  if (!ref) return [];
  return [`oidc-sub:${connector}\0${ref.subSha256}`, ...(ref.sidSha256 !== undefined ? [`oidc-sid:${connector}\0${ref.sidSha256}`] : [])];
}

/** Keys a back-channel logout token revokes at `connector`: the provider session it names, else every session of its subject. */
export function logoutTokenKeys(connector: string, token: { sub?: string; sid?: string }): string[] {
  if (token.sid !== undefined) return [`oidc-sid:${connector}\0${sha256hex(token.sid)}`];
  return token.sub !== undefined ? [`oidc-sub:${connector}\0${sha256hex(token.sub)}`] : [];
}

/** Every revocation key a session carries, whatever its protocol. */
export function sessionRevocationKeys(connector: string, claims: { saml?: SamlSessionRef; oidc?: OidcSessionRef }): string[] {
  return [...samlSessionKeys(connector, claims.saml), ...oidcSessionKeys(connector, claims.oidc)];
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
  /** Session key -> [revokedAt, until]. */
  readonly #keys = new Map<string, [number, number]>();
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

  async revokeIssuedBefore(key: string, revokedAt: number, until: number): Promise<void> {
    const nowMs = this.#now();
    if (nowMs - this.#lastSweep >= this.#sweepIntervalMs) this.#sweep(nowMs);
    const keepUntil = until + REVOCATION_GRACE_SECONDS;
    if (keepUntil * 1000 <= nowMs) return;
    const held = this.#keys.get(key);
    const flat = Buffer.from(key, 'utf8').toString('utf8');
    this.#keys.set(flat, [Math.max(revokedAt, held?.[0] ?? 0), Math.max(keepUntil, held?.[1] ?? 0)]);
  }

  async isRevoked(jti: string, session?: SessionKeys): Promise<boolean> {
    return this.isRevokedNow(jti, session);
  }

  isRevokedNow(jti: string, session?: SessionKeys): boolean {
    const nowMs = this.#now();
    const until = this.#entries.get(jti);
    if (until !== undefined && until * 1000 > nowMs) return true;
    for (const key of session?.keys ?? []) {
      const held = this.#keys.get(key);
      if (held && held[1] * 1000 > nowMs && held[0] >= session!.iat) return true;
    }
    return false;
  }

  /** Number of entries held (expired ones may linger until the next sweep). */
  get size(): number {
    return this.#entries.size + this.#keys.size;
  }

  #sweep(nowMs: number): void {
    this.#lastSweep = nowMs;
    for (const [jti, until] of this.#entries) if (until * 1000 <= nowMs) this.#entries.delete(jti);
    for (const [key, [, until]] of this.#keys) if (until * 1000 <= nowMs) this.#keys.delete(key);
  }
}

/** The Redis commands used; ioredis 5's `Redis` satisfies it as it is. */
export interface RedisRevocationClient {
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<'OK' | null>;
  exists(key: string): Promise<number>;
  mget(keys: string[]): Promise<Array<string | null>>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/**
 * Raises a session key's revocation time and TTL, never lowers them (one
 * atomic step): replicas' clocks differ, and a later revocation stamped by a
 * replica that runs behind must not shorten an earlier one.
 */
const RAISE_SCRIPT = `
local held = tonumber(redis.call('GET', KEYS[1]) or '')
local at = tonumber(ARGV[1])
if held ~= nil and held > at then at = held end
local ttl = redis.call('TTL', KEYS[1])
local seconds = tonumber(ARGV[2])
if ttl > seconds then seconds = ttl end
redis.call('SET', KEYS[1], tostring(at), 'EX', seconds)
return 1`;

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

  /** The Redis key of a session key (hashed with a separator no jti contains). */
  sessionKeyFor(key: string): string {
    return hashedKey(this.#prefix, `key\0${key}`);
  }

  async revokeIssuedBefore(key: string, revokedAt: number, until: number): Promise<void> {
    const seconds = Math.ceil(until + REVOCATION_GRACE_SECONDS - this.#now() / 1000);
    if (seconds <= 0) return;
    const answer = await this.#bounded('EVAL', this.#redis.eval(RAISE_SCRIPT, 1, this.sessionKeyFor(key), String(revokedAt), seconds));
    if (answer !== 1) throw new RevocationListUnavailableError(`unexpected Redis answer to EVAL: ${JSON.stringify(answer)}`);
  }

  async revoke(jti: string, exp: number): Promise<void> {
    // Rounded up so the entry never expires before the token stops verifying.
    const seconds = Math.ceil(exp + REVOCATION_GRACE_SECONDS - this.#now() / 1000);
    // Already past: the token no longer verifies anywhere, and Redis refuses EX 0.
    if (seconds <= 0) return;
    const answer = await this.#bounded('SET', this.#redis.set(this.keyFor(jti), String(exp), 'EX', seconds));
    if (answer !== 'OK') throw new RevocationListUnavailableError(`unexpected Redis answer to SET: ${JSON.stringify(answer)}`);
  }

  async isRevoked(jti: string, session?: SessionKeys): Promise<boolean> {
    if (session && session.keys.length > 0) {
      // One round trip for the jti and every session key.
      const keys = [this.keyFor(jti), ...session.keys.map((k) => this.sessionKeyFor(k))];
      const answer = await this.#bounded('MGET', this.#redis.mget(keys));
      if (!Array.isArray(answer) || answer.length !== keys.length) {
        throw new RevocationListUnavailableError(`unexpected Redis answer to MGET of ${keys.length} keys`);
      }
      if (answer[0] !== null) return true;
      for (const value of answer.slice(1)) {
        if (value === null) continue;
        const revokedAt = Number(value);
        // Unreadable is unknown, not "not revoked".
        if (!Number.isFinite(revokedAt)) throw new RevocationListUnavailableError('unexpected value of a revoked session key');
        if (revokedAt >= session.iat) return true;
      }
      return false;
    }
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
