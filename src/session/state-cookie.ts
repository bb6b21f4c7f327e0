// The login-state cookie (`__Host-sso_state` on https, `sso_state` on
// loopback http; the name is chosen in cookies.ts and login-state.ts): up to
// 8 logins in flight, each with the AuthnRequest ID the response must answer
// (InResponseTo), the connector and the validated target. Only the opaque
// `sid` travels through the IdP (as RelayState or `?s=`); everything else
// stays in this cookie, so any replica can finish the login without shared
// storage.
//
// Format: `v2.<payload>.<mac>` where payload = base64url(deflate-raw(JSON))
// and mac = base64url(HMAC-SHA256(stateKey, "sso_state.v2." + name + "." +
// payload)), `name` being the cookie's own name: a value made for
// `__Host-sso_state` does not verify under any other name, so it cannot be
// copied into a cookie an attacker can plant (login-state.ts). The v1 format
// (no name in the MAC, the release before the __Host- rename) is read only
// where the caller allows it, for that one release.
//
// Security notes:
// - The HMAC defends against a forged or edited state (an attacker choosing
//   the InResponseTo or the redirect target); it is checked in constant time
//   before anything is decompressed or parsed, so only data we signed is
//   ever inflated (no zip bomb) and a bad cookie yields an empty list,
//   never an exception.
// - Entries expire after 10 minutes and are used once (takePending removes
//   the entry), limiting replay of a captured login.
// - takePending requires the connector to match: one connector's pending
//   login cannot be completed at another connector's ACS.
// - Size is bounded (8 entries, field caps, total budget) so the cookie
//   stays under the browsers' 4 KB limit instead of being silently dropped.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { secretKeyOf } from './secret-key.ts';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

export const MAX_PENDING_LOGINS = 8;
export const PENDING_TTL_SECONDS = 600;
export const MAX_RD_LENGTH = 2048;
/** Budget for the cookie value; with name and attributes the header stays under ~3.7 KB. */
export const MAX_STATE_VALUE_LENGTH = 3600;

const MAX_SID_LENGTH = 64;
const MAX_RID_LENGTH = 256;
const MAX_CONNECTOR_LENGTH = 320;
const MAX_INFLATED_BYTES = 64 * 1024;
const PREFIX = 'v2';
const MAC_CONTEXT = 'sso_state.v2.';
/** The format before the name was bound into the MAC; read only when the caller allows it. */
const LEGACY_PREFIX = 'v1';
const LEGACY_MAC_CONTEXT = 'sso_state.v1.';
/** The cookie name values are bound to when the caller names none. */
const DEFAULT_NAME = 'sso_state';

export interface PendingLogin {
  /** Opaque state id: what travels as RelayState or `?s=`. */
  sid: string;
  /** AuthnRequest ID. */
  rid: string;
  /** Connector `ns/name`. */
  c: string;
  /** Validated redirect target. */
  rd: string;
  /** Expiry, epoch seconds. */
  exp: number;
  /**
   * 'logout' for an SP-initiated single logout waiting for the IdP's
   * LogoutResponse (rid is then the LogoutRequest ID); absent for a login.
   */
  k?: 'logout' | 'test';
}

export type PendingKind = 'login' | 'logout' | 'test';

const SID = /^[A-Za-z0-9_-]+$/;
// Printable ASCII only: keeps the cookie compact and free of anything that
// needs escaping (checkRedirect already returns URL-parser-normalised ASCII).
const PRINTABLE = /^[\x21-\x7e]+$/;

function entryProblem(e: PendingLogin): string | undefined {
  if (typeof e.sid !== 'string' || !SID.test(e.sid) || e.sid.length > MAX_SID_LENGTH) return 'sid';
  if (typeof e.rid !== 'string' || !PRINTABLE.test(e.rid) || e.rid.length > MAX_RID_LENGTH) return 'rid';
  if (typeof e.c !== 'string' || !PRINTABLE.test(e.c) || e.c.length > MAX_CONNECTOR_LENGTH) return 'c';
  if (typeof e.rd !== 'string' || !PRINTABLE.test(e.rd)) return 'rd';
  if (e.rd.length > MAX_RD_LENGTH) return 'rd (longer than 2048 characters)';
  if (typeof e.exp !== 'number' || !Number.isSafeInteger(e.exp)) return 'exp';
  if (e.k !== undefined && e.k !== 'logout' && e.k !== 'test') return 'k';
  return undefined;
}

function nowSeconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}

/** A new pending login with a fresh random sid and a 10-minute expiry. Throws RangeError on invalid fields. */
export function createPending(input: { rid: string; c: string; rd: string }, now: Date = new Date()): PendingLogin {
  const entry: PendingLogin = {
    sid: randomBytes(16).toString('base64url'),
    rid: input.rid,
    c: input.c,
    rd: input.rd,
    exp: nowSeconds(now) + PENDING_TTL_SECONDS,
  };
  const problem = entryProblem(entry);
  if (problem) throw new RangeError(`invalid pending login: ${problem}`);
  return entry;
}

/**
 * Adds an entry (newest last), dropping expired ones and, beyond 8, the
 * oldest. An entry with the same sid is replaced. Throws RangeError on an
 * invalid entry (e.g. rd longer than 2048 characters).
 */
export function addPending(list: readonly PendingLogin[], entry: PendingLogin, now: Date = new Date()): PendingLogin[] {
  const problem = entryProblem(entry);
  if (problem) throw new RangeError(`invalid pending login: ${problem}`);
  const t = nowSeconds(now);
  const kept = list.filter((e) => e.exp > t && e.sid !== entry.sid);
  kept.push({ ...entry });
  return kept.slice(-MAX_PENDING_LOGINS);
}

/**
 * Removes and returns the entry with this sid if it belongs to `connector`,
 * is of `kind` and is not expired. The entry is removed from `rest` even when
 * the connector or kind does not match, so a state id is never usable twice.
 * The kind keeps a pending logout's LogoutRequest ID from ever standing for
 * an AuthnRequest ID at the ACS, and the reverse.
 */
export function takePending(
  list: readonly PendingLogin[],
  sid: string,
  connector: string,
  now: Date = new Date(),
  kind: PendingKind = 'login',
): { entry?: PendingLogin; rest: PendingLogin[] } {
  const t = nowSeconds(now);
  const found = list.find((e) => e.sid === sid);
  const rest = list.filter((e) => e.sid !== sid && e.exp > t);
  if (!found || found.c !== connector || found.exp <= t) return { rest };
  // The IdP's answer to a login and to an admin's test sign-in (k: 'test')
  // comes to the same endpoint: 'login' takes both, and the caller looks at
  // entry.k; a logout is only ever taken as a logout.
  const k = found.k ?? 'login';
  if (kind === 'login' ? k === 'logout' : k !== kind) return { rest };
  return { entry: { ...found }, rest };
}

function mac(payload: string, key: Uint8Array, name: string): Buffer {
  return createHmac('sha256', secretKeyOf(key)).update(`${MAC_CONTEXT}${name}.${payload}`).digest();
}

function legacyMac(payload: string, key: Uint8Array): Buffer {
  return createHmac('sha256', secretKeyOf(key)).update(LEGACY_MAC_CONTEXT + payload).digest();
}

function pack(entries: readonly PendingLogin[], key: Uint8Array, name: string): string {
  const json = JSON.stringify(entries.map((e) => ({ sid: e.sid, rid: e.rid, c: e.c, rd: e.rd, exp: e.exp, ...(e.k ? { k: e.k } : {}) })));
  // Level 6: 18 µs against 160 µs for level 9 on one entry, a few bytes longer; every level inflates alike.
  const payload = deflateRawSync(Buffer.from(json, 'utf8'), { level: 6 }).toString('base64url');
  return `${PREFIX}.${payload}.${mac(payload, key, name).toString('base64url')}`;
}

/**
 * Cookie value for these entries. When the value would exceed the size
 * budget the oldest entries are dropped first; invalid entries are skipped.
 * An empty list encodes to '' (the caller then clears the cookie).
 */
export function encodeState(entries: readonly PendingLogin[], key: Uint8Array, name: string = DEFAULT_NAME): string {
  let list = entries.filter((e) => entryProblem(e) === undefined).slice(-MAX_PENDING_LOGINS);
  while (list.length > 0) {
    const value = pack(list, key, name);
    if (value.length <= MAX_STATE_VALUE_LENGTH) return value;
    list = list.slice(1);
  }
  return '';
}

/**
 * Entries of a cookie value read under the cookie name `o.name`: a tampered,
 * foreign or malformed value, or one made for another cookie name, gives [].
 * `o.legacy` also accepts the v1 format (the release before the name was
 * bound into the MAC). Expired entries are dropped. Never throws.
 */
export function decodeState(value: string | undefined | null, key: Uint8Array, now: Date = new Date(), o: { name?: string; legacy?: boolean } = {}): PendingLogin[] {
  try {
    if (!value || value.length > MAX_STATE_VALUE_LENGTH) return [];
    const parts = value.split('.');
    if (parts.length !== 3) return [];
    const legacy = parts[0] === LEGACY_PREFIX && o.legacy === true;
    if (parts[0] !== PREFIX && !legacy) return [];
    const payload = parts[1] ?? '';
    const given = Buffer.from(parts[2] ?? '', 'base64url');
    const expected = legacy ? legacyMac(payload, key) : mac(payload, key, o.name ?? DEFAULT_NAME);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return [];
    const json = inflateRawSync(Buffer.from(payload, 'base64url'), { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8');
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed)) return [];
    const t = nowSeconds(now);
    const out: PendingLogin[] = [];
    for (const item of parsed.slice(-MAX_PENDING_LOGINS)) {
      if (typeof item !== 'object' || item === null) continue;
      const { sid, rid, c, rd, exp, k } = item as Record<string, unknown>;
      const entry = { sid, rid, c, rd, exp, ...(k !== undefined ? { k } : {}) } as PendingLogin;
      if (entryProblem(entry) !== undefined || entry.exp <= t) continue;
      out.push(entry);
    }
    return out;
  } catch {
    return [];
  }
}
