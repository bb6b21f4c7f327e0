// The login-state cookie as the routes of every protocol use it: a pending
// login or logout added when a flow starts, a spent one removed when it comes
// back. One place, so SAML, OIDC and OAuth2 keep the same rules
// (state-cookie.ts holds the format and its security notes). Routes read the
// state only through readPendingState and write it only through
// stateCookieLines / addPendingCookies, never by cookie name.
//
// Security: this defends against cookie tossing. Without a prefix, a sibling
// subdomain (evil.example.com next to sso.example.com), or any host allowed to
// set cookies for Domain=example.com, could plant a `sso_state` in the
// browser: login CSRF and fixation of the pending login. The attacker starts a
// login of their own, plants the validly signed state it got (the HMAC cannot
// tell: the cookie is genuinely ours), and has the victim's browser deliver
// the IdP's answer or the provider's callback for it, which signs the victim
// in as the attacker. On an https public URL the cookie is therefore
// `__Host-sso_state` (cookies.ts): browsers accept a `__Host-` cookie only
// from this exact host (Secure, Path=/, no Domain), and an unprefixed one is
// never used while ours is present.
//
// The value is bound to the cookie's name (the name is in its HMAC,
// state-cookie.ts): a value an attacker obtains from a login of their own as
// `__Host-sso_state` does not verify when planted as `sso_state`.
//
// Transition: the unprefixed `sso_state` is still read on https for one
// release, when the request has no `__Host-sso_state` (a login started before
// the upgrade), and expired as soon as the state is written back under the new
// name. Under that name only the previous release's v1 format is accepted on
// https (this release never writes `sso_state` there), so a tossed cookie
// could only carry a value the previous release issued, and those expire 10
// minutes after it stopped serving (PENDING_TTL_SECONDS).

import { HOST_STATE_COOKIE, PLAIN_STATE_COOKIE, parseCookies, serializeCookie, stateCookieName, stateCookieOptions } from '../session/cookies.ts';
import { PENDING_TTL_SECONDS, addPending, decodeState, encodeState, type PendingLogin } from '../session/state-cookie.ts';
import type { PublicContext } from './context.ts';

/** The pending logins and logouts a request brought, and what writing them back must clean up. */
export interface PresentedState {
  entries: PendingLogin[];
  /**
   * The request carried the unprefixed `sso_state` on an https public URL
   * (set before the rename, or planted): the next write expires it.
   */
  expirePlain: boolean;
}

/**
 * The pending entries of the request's state cookie (`cookieHeader`: its
 * Cookie header); a missing, tampered or foreign cookie gives none. On https
 * `__Host-sso_state` wins whenever it is present, even when it holds nothing
 * valid: an unprefixed one is never merged with it nor used in its place.
 */
export function readPendingState(ctx: PublicContext, cookieHeader: string | undefined, now: Date): PresentedState {
  const cookies = parseCookies(cookieHeader);
  const name = stateCookieName(ctx.config.publicURL);
  // Loopback http (development): the one name; values of the previous release (v1) still read.
  if (name === PLAIN_STATE_COOKIE) return { entries: decodeState(cookies[PLAIN_STATE_COOKIE], ctx.stateKey(), now, { name: PLAIN_STATE_COOKIE, legacy: true }), expirePlain: false };
  const expirePlain = cookies[PLAIN_STATE_COOKIE] !== undefined;
  const hostValue = cookies[HOST_STATE_COOKIE];
  if (hostValue !== undefined) return { entries: decodeState(hostValue, ctx.stateKey(), now, { name: HOST_STATE_COOKIE }), expirePlain };
  // Kept for one release after the rename to __Host-sso_state (remove it in
  // the next one): a login or logout started before the upgrade comes back
  // with the old name only, and would otherwise fail with StateMismatch /
  // UnsolicitedResponseRefused / LogoutNotPending. Only the v1 format the
  // previous release wrote is accepted here (legacy, and no v2 value is ever
  // bound to this name on https), with its HMAC checked exactly as before.
  const plain = cookies[PLAIN_STATE_COOKIE];
  return { entries: plain?.startsWith('v1.') ? decodeState(plain, ctx.stateKey(), now, { legacy: true }) : [], expirePlain };
}

/**
 * The Set-Cookie lines that store `entries` as the state cookie: the cookie
 * itself (deleted rather than kept empty when nothing is left) and, when the
 * request brought the unprefixed `sso_state` on https, a line expiring it.
 * The old cookie was always host-only with Path=/ (stateCookieOptions never
 * set a Domain, --cookie-domain applies to the session cookie only), so the
 * deletion carries no Domain either: one with Domain would not match it. A
 * planted `sso_state` with Domain=parent is out of our reach; it is ignored
 * while `__Host-sso_state` is there and expires on its own.
 */
export function stateCookieLines(ctx: PublicContext, presented: PresentedState, entries: readonly PendingLogin[]): string[] {
  const value = encodeState(entries, ctx.stateKey(), stateCookieName(ctx.config.publicURL));
  const options = stateCookieOptions(ctx.config.publicURL);
  const lines = [serializeCookie(stateCookieName(ctx.config.publicURL), value, value === '' ? { ...options, maxAge: 0 } : options)];
  if (presented.expirePlain) lines.push(serializeCookie(PLAIN_STATE_COOKIE, '', { ...options, maxAge: 0 }));
  return lines;
}

/**
 * The Set-Cookie lines of the state cookie with one more pending login (or
 * logout, `k: 'logout'`) beside those the browser already holds
 * (`cookieHeader`), expiring in PENDING_TTL_SECONDS. Entries that came under
 * the old name move to the new one.
 */
export function addPendingCookies(ctx: PublicContext, cookieHeader: string | undefined, entry: Omit<PendingLogin, 'exp'>, now: Date): string[] {
  const presented = readPendingState(ctx, cookieHeader, now);
  const pending = addPending(presented.entries, { ...entry, exp: Math.floor(now.getTime() / 1000) + PENDING_TTL_SECONDS }, now);
  return stateCookieLines(ctx, presented, pending);
}
