// Ending a session, shared by /auth/logout and the SAML single-logout route:
// the presented session, its revocation, and the cookie that clears it.

import type { FastifyRequest } from 'fastify';
import { revokerFor } from '../oidc/relying-party.ts';
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
  if (claims.atk !== undefined) releaseAccessToken(ctx, req, claims, claims.atk);
}

/**
 * session.passAccessToken: the logout also ends the provider tokens: the
 * vault's record is deleted and, when the provider has a revocation endpoint
 * (RFC 7009), the tokens are revoked there, so a copy an application kept
 * stops working too. In the background: the provider's answer (up to its
 * 10 s timeout) does not hold up the logout, which already revoked the
 * session that could reach the tokens.
 */
function releaseAccessToken(ctx: PublicContext, req: FastifyRequest, claims: SessionClaims, atk: string): void {
  const runtime = ctx.registry.current().connectors.get(claims.connector);
  const client = runtime?.oidc?.client ?? runtime?.oauth2?.client;
  const revoke = client ? revokerFor(client) : undefined;
  void ctx.accessTokens.release({ jti: claims.jti, exp: claims.exp, connector: claims.connector, atk }, revoke).then((outcome) => {
    const log = { correlationId: req.id, connector: claims.connector, outcome, revokedAtProvider: outcome === 'released' && revoke !== undefined };
    if (outcome === 'released' || outcome === 'absent') ctx.logger.info(log, 'access token released on logout');
    else ctx.logger.warn(log, 'access token release on logout incomplete');
  });
}

/** The Set-Cookie line that removes `sso_session` (same attributes as when it was set). */
export function clearedSessionCookie(ctx: PublicContext): string {
  return serializeCookie(SESSION_COOKIE, '', { ...sessionCookieOptions({ publicURL: ctx.config.publicURL, cookieDomain: ctx.config.cookieDomain, maxAgeSeconds: 0 }), maxAge: 0 });
}
