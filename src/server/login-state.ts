// The login-state cookie (sso_state) as the routes of every protocol use it:
// a pending login or logout added when a flow starts, a spent one removed when
// it comes back. One place, so SAML, OIDC and OAuth2 keep the same rules
// (state-cookie.ts holds the format and its security notes).

import { STATE_COOKIE, parseCookies, serializeCookie, stateCookieOptions } from '../session/cookies.ts';
import { PENDING_TTL_SECONDS, addPending, decodeState, encodeState, type PendingLogin } from '../session/state-cookie.ts';
import type { PublicContext } from './context.ts';

/** The Set-Cookie line of `sso_state` holding `entries`; with none left the cookie is deleted rather than kept empty. */
export function stateCookieLine(ctx: PublicContext, entries: readonly PendingLogin[]): string {
  const value = encodeState(entries, ctx.stateKey());
  const options = stateCookieOptions(ctx.config.publicURL);
  return serializeCookie(STATE_COOKIE, value, value === '' ? { ...options, maxAge: 0 } : options);
}

/**
 * The Set-Cookie line of `sso_state` with one more pending login (or logout,
 * `k: 'logout'`) beside those the browser already holds (`cookieHeader`),
 * expiring in PENDING_TTL_SECONDS.
 */
export function addPendingCookie(ctx: PublicContext, cookieHeader: string | undefined, entry: Omit<PendingLogin, 'exp'>, now: Date): string {
  const pending = addPending(decodeState(parseCookies(cookieHeader)[STATE_COOKIE], ctx.stateKey(), now), { ...entry, exp: Math.floor(now.getTime() / 1000) + PENDING_TTL_SECONDS }, now);
  return serializeCookie(STATE_COOKIE, encodeState(pending, ctx.stateKey()), stateCookieOptions(ctx.config.publicURL));
}
