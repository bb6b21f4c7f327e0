// The provider's access token, handed to applications by forward-auth
// (`session.passAccessToken`, header X-Auth-Request-Access-Token as
// oauth2-proxy names it) for connectors whose apps read data on the user's
// behalf (Salesforce, HubSpot, Zoho, Zendesk, GitHub, any OIDC provider).
//
// Where it lives: in a token vault on the server side (in memory, or Redis
// with --redis-url so that every replica finds it), keyed by the session's
// jti and sealed with AES-256-GCM under a key that only the session cookie
// carries (claim `atk`, 32 random bytes made at sign-in). So:
// - the browser never holds the token (only the key, which opens nothing
//   without the vault's copy); a page script cannot read either (HttpOnly);
// - a copy of the vault (a Redis dump, a backup) opens nothing without the
//   cookies of live sessions;
// - the sealed record is bound to its session and connector (the AAD names
//   both), so a record moved under another jti does not open;
// - a changed, truncated or foreign record fails to open: AccessTokenInvalid,
//   never a token of someone else.
//
// Refresh: when the token is within its refresh margin of expiry (60 s, or
// half its lifetime when it lives less than two minutes) and there is a
// refresh token, the first request that needs it refreshes it at the
// provider's token endpoint; concurrent requests on this replica wait for
// that one refresh (single flight), and a lock in the vault keeps other
// replicas from refreshing the same session at once (a provider that rotates
// refresh tokens would reject the second use of the old one and end the
// session). A replica that loses the race passes the current token while it
// is still valid, else waits for the winner's result.
//
// Revocation: logout deletes the record and revokes the token at the
// provider (RFC 7009) when it has a revocation endpoint; a session that is
// revoked, expired, or whose binding or connector stops it never reaches the
// vault (forward-auth checks those first), and the record expires with the
// session.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { boundedRedisCall, hashedKey, redisTimeout } from '../redis/bounded-call.ts';

/** What the provider's token endpoint gave, as the vault keeps it. */
export interface ProviderTokens {
  accessToken: string;
  refreshToken?: string;
  /** Epoch seconds; absent when the provider did not say (the token is then never refreshed). */
  expiresAt?: number;
  /** Epoch seconds when it was obtained. */
  obtainedAt: number;
  tokenType?: string;
  scope?: string;
}

/** A session as the vault needs it: its id, lifetime, connector and sealing key. */
export interface TokenSession {
  jti: string;
  /** Epoch seconds. */
  exp: number;
  connector: string;
  /** The session's sealing key (base64url of 32 bytes), claim `atk`. */
  atk: string;
}

/** Where sealed records are kept. Every method rejects with TokenVaultUnavailableError when it cannot answer. */
export interface TokenVault {
  put(id: string, sealed: string, ttlSeconds: number): Promise<void>;
  get(id: string): Promise<string | undefined>;
  delete(id: string): Promise<void>;
  /** Takes the refresh lock of `id` for `ms` milliseconds; false when another holder has it. */
  lock(id: string, ms: number): Promise<boolean>;
  unlock(id: string): Promise<void>;
}

export class TokenVaultUnavailableError extends Error {
  override name = 'TokenVaultUnavailableError';
  readonly reason = 'TokenVaultUnavailable';
}

/** Seconds a record outlives its session (the session's clock tolerance and replica skew, as for revocations). */
const VAULT_GRACE_SECONDS = 60;
const SEAL_VERSION = 'v1.';
/** Longest sealed record accepted back from the vault (tokens of real providers are a few KB). */
const MAX_SEALED_LENGTH = 64 * 1024;
/** Longest token kept: a header value longer than this would be refused by most proxies anyway. */
export const MAX_ACCESS_TOKEN_LENGTH = 16 * 1024;

/** A fresh sealing key for a session (claim `atk`). */
export function newSealingKey(): string {
  return randomBytes(32).toString('base64url');
}

function keyOf(atk: string): Buffer | undefined {
  const key = Buffer.from(atk, 'base64url');
  return key.length === 32 && key.toString('base64url') === atk ? key : undefined;
}

const aadOf = (s: Pick<TokenSession, 'jti' | 'connector'>) => Buffer.from(`sso-access-token.v1\0${s.connector}\0${s.jti}`, 'utf8');

/** Seals `tokens` for `session`. */
export function seal(session: TokenSession, tokens: ProviderTokens): string {
  const key = keyOf(session.atk);
  if (!key) throw new TypeError('the session sealing key is not 32 bytes of base64url');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aadOf(session));
  const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  return SEAL_VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Opens a sealed record of `session`; undefined when it is not one (tampered, foreign, malformed). */
export function open(session: TokenSession, sealed: string): ProviderTokens | undefined {
  const key = keyOf(session.atk);
  if (!key || !sealed.startsWith(SEAL_VERSION) || sealed.length > MAX_SEALED_LENGTH) return undefined;
  const raw = Buffer.from(sealed.slice(SEAL_VERSION.length), 'base64url');
  if (raw.length < 12 + 16 + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(aadOf(session));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.accessToken !== 'string' || typeof v.obtainedAt !== 'number') return undefined;
    const out: ProviderTokens = { accessToken: v.accessToken, obtainedAt: v.obtainedAt };
    if (typeof v.refreshToken === 'string') out.refreshToken = v.refreshToken;
    if (typeof v.expiresAt === 'number') out.expiresAt = v.expiresAt;
    if (typeof v.tokenType === 'string') out.tokenType = v.tokenType;
    if (typeof v.scope === 'string') out.scope = v.scope;
    return out;
  } catch {
    return undefined;
  }
}

/** Seconds before expiry at which a token is refreshed: 60, or half its lifetime when that is shorter. */
export function refreshMargin(tokens: ProviderTokens): number {
  if (tokens.expiresAt === undefined) return 0;
  return Math.min(60, Math.max(0, Math.floor((tokens.expiresAt - tokens.obtainedAt) / 2)));
}

/** Why a refresh failed: the provider refused the refresh token (the user must sign in again), or it could not be asked. */
export class RefreshRefusedError extends Error {
  override name = 'RefreshRefusedError';
}

export type ObtainResult =
  | { ok: true; accessToken: string; refreshed: boolean }
  | { ok: false; status: 401 | 503; reason: 'AccessTokenMissing' | 'AccessTokenInvalid' | 'AccessTokenExpired' | 'AccessTokenRefreshFailed' | 'ProviderUnavailable' | 'TokenVaultUnavailable' };

/**
 * Gets a new token set with a refresh token; rejects with RefreshRefusedError
 * when the provider refuses it, with anything else when it cannot be asked.
 */
export type Refresher = (refreshToken: string) => Promise<Omit<ProviderTokens, 'obtainedAt'> & { obtainedAt?: number }>;

export interface AccessTokenBrokerOptions {
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
  /** How long a replica that lost the refresh race waits for the winner's token (default 3 s). */
  waitMs?: number;
  /** How long the refresh lock is held at most (default 15 s: the token endpoint's 10 s timeout and some). */
  lockMs?: number;
}

/** Holds, refreshes and releases the provider tokens of sessions. */
export class AccessTokenBroker {
  readonly #vault: TokenVault;
  readonly #now: () => number;
  readonly #waitMs: number;
  readonly #lockMs: number;
  readonly #inflight = new Map<string, Promise<ObtainResult>>();

  constructor(vault: TokenVault, options: AccessTokenBrokerOptions = {}) {
    this.#vault = vault;
    this.#now = options.now ?? Date.now;
    this.#waitMs = options.waitMs ?? 3000;
    this.#lockMs = options.lockMs ?? 15_000;
  }

  #ttl(session: TokenSession): number {
    return Math.ceil(session.exp + VAULT_GRACE_SECONDS - this.#now() / 1000);
  }

  /** Keeps the tokens of a new session. Rejects with TokenVaultUnavailableError (the sign-in then fails). */
  async hold(session: TokenSession, tokens: ProviderTokens): Promise<void> {
    const ttl = this.#ttl(session);
    if (ttl <= 0) return;
    await this.#vault.put(session.jti, seal(session, tokens), ttl);
  }

  /**
   * The session's access token, refreshed first when it is due and a refresh
   * token and `refresh` are given. Never rejects.
   */
  obtain(session: TokenSession, refresh?: Refresher): Promise<ObtainResult> {
    const running = this.#inflight.get(session.jti);
    if (running) return running;
    const p = this.#obtain(session, refresh).finally(() => this.#inflight.delete(session.jti));
    this.#inflight.set(session.jti, p);
    return p;
  }

  async #read(session: TokenSession): Promise<ProviderTokens | Extract<ObtainResult, { ok: false }>> {
    let sealed: string | undefined;
    try {
      sealed = await this.#vault.get(session.jti);
    } catch {
      return { ok: false, status: 503, reason: 'TokenVaultUnavailable' };
    }
    if (sealed === undefined) return { ok: false, status: 401, reason: 'AccessTokenMissing' };
    return open(session, sealed) ?? { ok: false, status: 401, reason: 'AccessTokenInvalid' };
  }

  async #obtain(session: TokenSession, refresh?: Refresher): Promise<ObtainResult> {
    const read = await this.#read(session);
    if ('ok' in read) return read;
    let tokens = read;
    const nowS = () => Math.floor(this.#now() / 1000);
    const valid = (t: ProviderTokens) => t.expiresAt === undefined || nowS() < t.expiresAt;
    const due = (t: ProviderTokens) => t.expiresAt !== undefined && nowS() >= t.expiresAt - refreshMargin(t);
    if (!due(tokens)) return { ok: true, accessToken: tokens.accessToken, refreshed: false };
    if (tokens.refreshToken === undefined || !refresh) {
      return valid(tokens) ? { ok: true, accessToken: tokens.accessToken, refreshed: false } : { ok: false, status: 401, reason: 'AccessTokenExpired' };
    }
    let locked: boolean;
    try {
      locked = await this.#vault.lock(session.jti, this.#lockMs);
    } catch {
      return valid(tokens) ? { ok: true, accessToken: tokens.accessToken, refreshed: false } : { ok: false, status: 503, reason: 'TokenVaultUnavailable' };
    }
    if (!locked) {
      // Another replica refreshes this session right now.
      if (valid(tokens)) return { ok: true, accessToken: tokens.accessToken, refreshed: false };
      const until = this.#now() + this.#waitMs;
      while (this.#now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        const again = await this.#read(session);
        if ('ok' in again) return again;
        if (!due(again) || valid(again)) return { ok: true, accessToken: again.accessToken, refreshed: false };
      }
      return { ok: false, status: 503, reason: 'ProviderUnavailable' };
    }
    try {
      // The record may have been refreshed between the first read and the lock.
      const again = await this.#read(session);
      if ('ok' in again) return again;
      tokens = again;
      if (!due(tokens)) return { ok: true, accessToken: tokens.accessToken, refreshed: false };
      let fresh: ProviderTokens;
      try {
        const got = await refresh(tokens.refreshToken!);
        fresh = {
          ...got,
          obtainedAt: got.obtainedAt ?? nowS(),
          // A provider that does not rotate refresh tokens answers without one: keep ours.
          ...(got.refreshToken === undefined && tokens.refreshToken !== undefined ? { refreshToken: tokens.refreshToken } : {}),
        };
      } catch (err) {
        if (err instanceof RefreshRefusedError) {
          // The provider ended the grant (revoked, expired, rotated away): the
          // stored token is of no further use, and the user signs in again.
          await this.#vault.delete(session.jti).catch(() => undefined);
          return { ok: false, status: 401, reason: 'AccessTokenRefreshFailed' };
        }
        return valid(tokens) ? { ok: true, accessToken: tokens.accessToken, refreshed: false } : { ok: false, status: 503, reason: 'ProviderUnavailable' };
      }
      if (fresh.accessToken.length === 0 || fresh.accessToken.length > MAX_ACCESS_TOKEN_LENGTH) return { ok: false, status: 401, reason: 'AccessTokenRefreshFailed' };
      const ttl = this.#ttl(session);
      try {
        if (ttl > 0) await this.#vault.put(session.jti, seal(session, fresh), ttl);
      } catch {
        // The new token is good; without storing it the next request refreshes again.
      }
      return { ok: true, accessToken: fresh.accessToken, refreshed: true };
    } finally {
      await this.#vault.unlock(session.jti).catch(() => undefined);
    }
  }

  /**
   * Ends a session's tokens: deletes the record and hands the tokens to
   * `revoke` (the provider's revocation endpoint) when given. Never rejects;
   * returns what happened, for the log.
   */
  async release(session: TokenSession, revoke?: (tokens: ProviderTokens) => Promise<void>): Promise<'released' | 'absent' | 'unavailable' | 'revocationFailed'> {
    const read = await this.#read(session);
    try {
      await this.#vault.delete(session.jti);
    } catch {
      return 'unavailable';
    }
    if ('ok' in read) return read.reason === 'TokenVaultUnavailable' ? 'unavailable' : 'absent';
    if (revoke) {
      try {
        await revoke(read);
      } catch {
        return 'revocationFailed';
      }
    }
    return 'released';
  }
}

export interface MemoryTokenVaultOptions {
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
  sweepIntervalSeconds?: number;
}

/** In-process vault: standalone, or one replica (with several, give --redis-url). */
export class MemoryTokenVault implements TokenVault {
  readonly #entries = new Map<string, { sealed: string; until: number }>();
  readonly #locks = new Map<string, number>();
  readonly #now: () => number;
  readonly #sweepMs: number;
  #lastSweep: number;

  constructor(options: MemoryTokenVaultOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweepMs = (options.sweepIntervalSeconds ?? 30) * 1000;
    this.#lastSweep = this.#now();
  }

  async put(id: string, sealed: string, ttlSeconds: number): Promise<void> {
    const now = this.#now();
    if (now - this.#lastSweep >= this.#sweepMs) this.#sweep(now);
    this.#entries.set(id, { sealed, until: now + ttlSeconds * 1000 });
  }

  async get(id: string): Promise<string | undefined> {
    const e = this.#entries.get(id);
    return e && e.until > this.#now() ? e.sealed : undefined;
  }

  async delete(id: string): Promise<void> {
    this.#entries.delete(id);
  }

  async lock(id: string, ms: number): Promise<boolean> {
    const now = this.#now();
    const held = this.#locks.get(id);
    if (held !== undefined && held > now) return false;
    this.#locks.set(id, now + ms);
    return true;
  }

  async unlock(id: string): Promise<void> {
    this.#locks.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [id, e] of this.#entries) if (e.until <= now) this.#entries.delete(id);
    for (const [id, until] of this.#locks) if (until <= now) this.#locks.delete(id);
  }
}

/** The Redis commands used; ioredis 5's `Redis` satisfies it as it is. */
export interface RedisTokenVaultClient {
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<'OK' | null>;
  set(key: string, value: string, msToken: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
  get(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<number>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export const DEFAULT_TOKEN_KEY_PREFIX = 'sso:token:';

/** Deletes the lock only while it is still ours (it may have expired and been taken by another replica). */
const UNLOCK_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Vault shared by every replica through Redis (--redis-url): key
 * `sso:token:` + SHA-256 of the jti, TTL to the session's end, each command
 * bounded in time like the other Redis state.
 */
export class RedisTokenVault implements TokenVault {
  readonly #redis: RedisTokenVaultClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #owner = randomBytes(12).toString('base64url');

  constructor(redis: RedisTokenVaultClient, options: { keyPrefix?: string; timeoutMs?: number } = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? DEFAULT_TOKEN_KEY_PREFIX;
    this.#timeoutMs = redisTimeout(options.timeoutMs);
  }

  keyFor(id: string): string {
    return hashedKey(this.#prefix, id);
  }

  #lockKey(id: string): string {
    return hashedKey(this.#prefix, `lock\0${id}`);
  }

  async put(id: string, sealed: string, ttlSeconds: number): Promise<void> {
    const answer = await this.#bounded('SET', this.#redis.set(this.keyFor(id), sealed, 'EX', Math.max(1, Math.ceil(ttlSeconds))));
    if (answer !== 'OK') throw new TokenVaultUnavailableError(`unexpected Redis answer to SET: ${JSON.stringify(answer)}`);
  }

  async get(id: string): Promise<string | undefined> {
    const answer = await this.#bounded('GET', this.#redis.get(this.keyFor(id)));
    if (answer === null) return undefined;
    if (typeof answer !== 'string') throw new TokenVaultUnavailableError('unexpected Redis answer to GET');
    return answer;
  }

  async delete(id: string): Promise<void> {
    await this.#bounded('DEL', this.#redis.del(this.keyFor(id)));
  }

  async lock(id: string, ms: number): Promise<boolean> {
    const answer = await this.#bounded('SET NX', this.#redis.set(this.#lockKey(id), this.#owner, 'PX', ms, 'NX'));
    return answer === 'OK';
  }

  async unlock(id: string): Promise<void> {
    await this.#bounded('EVAL', this.#redis.eval(UNLOCK_SCRIPT, 1, this.#lockKey(id), this.#owner));
  }

  #bounded<T>(command: string, call: Promise<T>): Promise<T> {
    return boundedRedisCall(call, this.#timeoutMs, command, (message, cause) => new TokenVaultUnavailableError(message, { cause }));
  }
}
