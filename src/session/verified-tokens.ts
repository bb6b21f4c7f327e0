// Remembers which session tokens already passed the signature check, so that
// /auth/verify (every request to every protected application) does not pay
// for an EdDSA verification and a JWT parse on each one. Measured: those two
// were about 60% of the CPU time of one /auth/verify (the verification alone
// about half); see test/bench/forward-auth.ts for the figures against
// oauth2-proxy.
//
// What it remembers is a fact that cannot change: "these exact bytes carry a
// valid signature by key K and these claims". Everything that CAN change is
// checked again at every lookup, exactly as jose and SessionTokens.verify
// check it, so a cached answer is always the answer a fresh verification
// would give at that moment:
// - the key: the entry holds the SessionKey object that verified it and is
//   used only while that object is still the current or previous key of the
//   live set; a rotation that drops the key, or a reloaded key file/Secret,
//   makes the next request verify afresh (and fail if the key is gone);
// - time: nbf, exp (with the same clock tolerance) and the iat-in-the-future
//   check are re-evaluated against the caller's `now`, so an expired session
//   is refused at the very next request;
// - revocation, the binding, the connector (enabled, session.ttl, allowed
//   groups) are not the token's business: the callers check them on every
//   request against the live state (src/server/routes/auth.ts), cached or not.
//
// What it defends against / could break:
// - Only tokens whose signature verified enter (valid ones, and expired ones
//   so that a browser that keeps sending an expired cookie is refused as
//   cheaply as a valid one is let in). A forged or garbled token never does:
//   an attacker cannot fill the cache or evict entries without tokens we
//   signed. Each entry is bounded (tokens are at most 8 KiB) and so is the
//   count (LRU, DEFAULT_CAPACITY).
// - The key is the exact token text, compared in full (a token differing in
//   one byte, e.g. a tampered signature, is a miss); never a hash that is not
//   collision-resistant, which would let a crafted token take a valid one's
//   answer. The text itself rather than its SHA-256: hashing it was 6% of the
//   CPU time of a cached /auth/verify, and holding tokens gives nothing to
//   whoever can read this process's memory, which holds the signing key.
//   Stored as a flat copy, so the entry does not keep the request's whole
//   Cookie header alive.
// - Claims are frozen: one answer is shared by every request with that
//   cookie, and a caller mutating it must fail loudly, not leak into the next.
// - An entry lives at most MAX_ENTRY_AGE_MS whatever else holds, so nothing a
//   future check of verify() forgets to mirror here can stay stale for long.

import type { SessionKey, SessionKeySet } from './keys.ts';
import type { SessionClaims, VerifyResult } from './tokens.ts';

export const DEFAULT_CAPACITY = 10_000;
export const MAX_ENTRY_AGE_MS = 60_000;
const PROMOTE_INTERVAL_MS = 1000;

interface Entry {
  /** The key whose signature verified; the entry counts only while it is in the live set. */
  key: SessionKey;
  nbf: number | undefined;
  exp: number;
  /** Undefined for a token that was already expired when verified (only its expiry is known). */
  claims: SessionClaims | undefined;
  storedAt: number;
  /** When the entry was last moved to the most-recently-used end. */
  usedAt: number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;
  readonly #tolerance: number;
  readonly #clock: () => number;

  /**
   * @param toleranceSeconds the clock tolerance verify() gives jose
   * @param clock monotonic milliseconds for the entry age (tests)
   */
  constructor(toleranceSeconds: number, options: { capacity?: number; clock?: () => number } = {}) {
    this.#tolerance = toleranceSeconds;
    this.#capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.#clock = options.clock ?? performance.now.bind(performance);
  }

  /**
   * The answer verify() would give for `token` at `nowSeconds`
   * under the key set `set`, or undefined when it must verify afresh.
   */
  lookup(token: string, set: SessionKeySet, nowSeconds: number): VerifyResult | undefined {
    const e = this.#entries.get(token);
    if (e === undefined) return undefined;
    const now = this.#clock();
    if ((e.key !== set.current && e.key !== set.previous) || now - e.storedAt > MAX_ENTRY_AGE_MS) {
      this.#entries.delete(token);
      return undefined;
    }
    // The order of jose's checks (nbf, then exp) and then verify()'s own (iat).
    if (e.nbf !== undefined && e.nbf > nowSeconds + this.#tolerance) return { ok: false, reason: 'SessionInvalid' };
    if (e.exp <= nowSeconds - this.#tolerance) return { ok: false, reason: 'SessionExpired' };
    // Known only as expired, but not expired at this `now` (a clock set back): verify afresh.
    if (e.claims === undefined) return undefined;
    if (e.claims.iat > nowSeconds + this.#tolerance) return { ok: false, reason: 'SessionInvalid' };
    // Most recently used last: eviction takes the first. Moved at most once a
    // second (a Map delete and set on every hit cost more than the rest of the lookup).
    if (now - e.usedAt > PROMOTE_INTERVAL_MS) {
      e.usedAt = now;
      this.#entries.delete(token);
      this.#entries.set(token, e);
    }
    return { ok: true, claims: e.claims };
  }

  /**
   * Records a token whose signature `key` verified: with its claims when they
   * were accepted, without them when it was refused only for being expired.
   * Returns the (frozen) claims to hand out.
   */
  store(token: string, key: SessionKey, times: { nbf?: unknown; exp: number }, claims: SessionClaims | undefined): SessionClaims | undefined {
    if (this.#entries.size >= this.#capacity && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    const frozen = claims === undefined ? undefined : deepFreeze(claims);
    const nbf = typeof times.nbf === 'number' ? times.nbf : undefined;
    // A flat copy, equal to the token (a string that does not survive UTF-8 is kept as it is).
    const flat = Buffer.from(token, 'utf8').toString('utf8');
    const now = this.#clock();
    this.#entries.set(flat === token ? flat : token, { key, nbf, exp: times.exp, claims: frozen, storedAt: now, usedAt: now });
    return frozen;
  }

  get size(): number {
    return this.#entries.size;
  }
}
