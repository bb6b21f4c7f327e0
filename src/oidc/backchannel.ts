// OpenID Connect Back-Channel Logout 1.0: the provider POSTs a signed
// `logout_token` when a user's session at the provider ends, and the sessions
// it names end here too (on every replica that shares revocation through
// Redis), the OIDC counterpart of a SAML LogoutRequest from the IdP.
//
// openid-client v6 has no helper for this, so the token is checked here with
// jose (section 2.6 of the specification). What each check defends against:
// - signature with a key of the provider's JWKS, with the connector's one
//   algorithm (never `none`, never HMAC): anyone can POST to this endpoint,
//   so an unsigned or forged token would be a way to log out any user;
// - `iss` the provider, `aud` our client_id: a token issued to another client
//   of the same provider, or by another provider, is not for us;
// - `events` holding the back-channel logout event and no `nonce`: an ID
//   token (which has a nonce and no such event) is not a logout token;
// - `iat` present and `exp` not passed (with the clock skew), `jti` present
//   and used once (the replay cache, as for SAML assertions): a captured
//   token cannot be sent again;
// - `sub` or `sid` present: what to end; with `sid` only that provider
//   session's sessions end, with `sub` alone every session of the user at
//   this connector.
// The token is bounded (8 KiB) before it is parsed. Failures answer 400 with
// an OAuth error body and end nothing.

import { decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
export const MAX_LOGOUT_TOKEN_LENGTH = 8192;

export interface LogoutTokenCheck {
  issuer: string;
  clientID: string;
  alg: string;
  keys: JWTVerifyGetKey;
  clockSkewSeconds: number;
}

export type LogoutTokenResult =
  | { ok: true; sub?: string; sid?: string; jti: string; exp: number }
  | { ok: false; reason: string; detail: string };

export async function verifyLogoutToken(token: unknown, check: LogoutTokenCheck): Promise<LogoutTokenResult> {
  const bad = (reason: string, detail: string): LogoutTokenResult => ({ ok: false, reason, detail });
  if (typeof token !== 'string' || token.length === 0) return bad('LogoutTokenMissing', 'no logout_token in the request');
  if (token.length > MAX_LOGOUT_TOKEN_LENGTH) return bad('LogoutTokenInvalid', `logout_token over ${MAX_LOGOUT_TOKEN_LENGTH} characters`);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return bad('LogoutTokenInvalid', 'not a JWS');
  }
  if (header.alg !== check.alg) return bad('AlgorithmNotAllowed', `alg ${String(header.alg)} where ${check.alg} is expected`);
  if (header.typ !== undefined && header.typ.toLowerCase() !== 'logout+jwt' && header.typ.toLowerCase() !== 'jwt') return bad('LogoutTokenInvalid', `typ ${header.typ}`);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, check.keys, {
      issuer: check.issuer,
      audience: check.clientID,
      algorithms: [check.alg],
      clockTolerance: check.clockSkewSeconds,
      requiredClaims: ['iat', 'jti', 'events'],
    }));
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    const claim = (err as { claim?: string }).claim;
    if (code === 'ERR_JWKS_NO_MATCHING_KEY') return bad('KeyNotFound', 'no key of the provider matches');
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return bad('SignatureInvalid', 'signature does not verify');
    if (code === 'ERR_JWT_EXPIRED') return bad('LogoutTokenExpired', 'exp has passed');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iss') return bad('IssuerMismatch', 'iss is not the provider');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud') return bad('AudienceMismatch', 'aud is not this client');
    if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return bad('AlgorithmNotAllowed', 'algorithm not allowed');
    if (/fetch|timeout|ECONN/i.test(String((err as Error).message))) return bad('ProviderUnavailable', 'the provider keys could not be fetched');
    return bad('LogoutTokenInvalid', `${code || 'invalid'}${claim ? ` (${claim})` : ''}`);
  }
  const events = payload.events;
  if (typeof events !== 'object' || events === null || Array.isArray(events) || typeof (events as Record<string, unknown>)[LOGOUT_EVENT] !== 'object') {
    return bad('LogoutTokenInvalid', 'events has no back-channel logout event');
  }
  if ('nonce' in payload) return bad('LogoutTokenInvalid', 'a logout token has no nonce (an ID token is not a logout token)');
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  const sid = typeof payload.sid === 'string' && payload.sid !== '' ? (payload.sid as string) : undefined;
  if (!sub && !sid) return bad('LogoutTokenInvalid', 'neither sub nor sid');
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) return bad('LogoutTokenInvalid', 'jti missing or too long');
  const iat = payload.iat!;
  const nowSeconds = Math.floor(Date.now() / 1000);
  if (iat > nowSeconds + check.clockSkewSeconds) return bad('LogoutTokenInvalid', 'iat is in the future');
  // Without exp (older providers), accept it for as long as a clock skew around iat allows, and remember the jti that long.
  const exp = typeof payload.exp === 'number' ? payload.exp : iat + 2 * check.clockSkewSeconds + 120;
  if (exp + check.clockSkewSeconds < nowSeconds) return bad('LogoutTokenExpired', 'too old');
  return { ok: true, ...(sub ? { sub } : {}), ...(sid ? { sid } : {}), jti: payload.jti, exp };
}
