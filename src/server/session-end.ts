// Ending a session, shared by /auth/logout and the SAML single-logout route:
// the presented session, its revocation, and the cookie that clears it.

import type { FastifyRequest } from 'fastify';
import { SESSION_COOKIE, parseCookies, serializeCookie, sessionCookieOptions } from '../session/cookies.ts';
import type { SessionClaims } from '../session/tokens.ts';
import type { PublicContext } from './context.ts';

/** The verified claims of the presented `sso_session` cookie, if any. */
export async function presentedSession(ctx: PublicContext, req: FastifyRequest, now: Date): Promise<SessionClaims | undefined> {
  const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  if (!token) return undefined;
  const verify = await ctx.sessions.verify(token, now);
  return verify.ok ? verify.claims : undefined;
}

/**
 * Revokes a session until its exp, so a copy of the cookie stops working too.
 * Only ever called with the claims of a token that verified: an unverified
 * jti could name someone else's session or fill the list. A failure is
 * logged and the logout goes on (the cookie is cleared either way).
 */
export async function revokeSession(ctx: PublicContext, req: FastifyRequest, claims: SessionClaims): Promise<void> {
  try {
    await ctx.revocations.revoke(claims.jti, claims.exp);
  } catch (err) {
    ctx.logger.warn({ correlationId: req.id, connector: claims.connector, err: (err as Error).message }, 'could not revoke the session on logout; a copy of its cookie stays valid until it expires');
  }
}

/** The Set-Cookie line that removes `sso_session` (same attributes as when it was set). */
export function clearedSessionCookie(ctx: PublicContext): string {
  return serializeCookie(SESSION_COOKIE, '', { ...sessionCookieOptions({ publicURL: ctx.config.publicURL, cookieDomain: ctx.config.cookieDomain, maxAgeSeconds: 0 }), maxAge: 0 });
}
