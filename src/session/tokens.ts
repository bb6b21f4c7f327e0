// Session tokens: a JWT signed with the current session key (EdDSA).
//
// Security notes:
// - verify() pins the algorithm to EdDSA and resolves the key only from our
//   own key set by kid: a token cannot choose "none", an HMAC algorithm keyed
//   with the public key (alg confusion) or carry its own key (jwk/jku/x5u
//   headers are ignored).
// - iss and aud are checked so that another JWT signed elsewhere, or one of
//   ours minted for another purpose, is not accepted as a session.
// - The key set is read through a getter on every call, so a rotation or a
//   reloaded Secret applies at once and a dropped key stops verifying.
// - Oversized tokens are refused before parsing (cheap DoS guard).

import { randomBytes } from 'node:crypto';
import { SignJWT, errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { SESSION_ALG, type PublicSessionJwk, type SessionKeySet } from './keys.ts';

export const SESSION_AUDIENCE = 'sso-operator-session';
const CLOCK_TOLERANCE_SECONDS = 5;
const MAX_TOKEN_LENGTH = 8192;

export interface SessionClaimsInput {
  sub: string;
  email?: string;
  groups: string[];
  /** `ns/name` of the connector that authenticated the user. */
  connector: string;
  /**
   * The SAML subject of the login, for single logout: the NameID (and its
   * Format) a LogoutRequest names, and the IdP's SessionIndex. Claims
   * `saml_nameid`, `saml_nameid_format`, `saml_session_index`.
   */
  saml?: SamlSessionRef;
}

export interface SamlSessionRef {
  nameID: string;
  nameIDFormat?: string;
  sessionIndex?: string;
}

/** Longest NameID / SessionIndex a session carries; longer ones are left out (the cookie must stay small). */
export const MAX_SAML_REF_LENGTH = 512;

export interface SessionClaims extends SessionClaimsInput {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

// SessionRevoked is never produced by verify(): the HTTP layer sets it when a
// verified token's jti is on the revocation list (src/session/revocation.ts).
export type SessionFailureReason = 'SessionMissing' | 'SessionInvalid' | 'SessionExpired' | 'SessionRevoked';

export type VerifyResult = { ok: true; claims: SessionClaims } | { ok: false; reason: SessionFailureReason };

export interface IssuedToken {
  token: string;
  jti: string;
  /** Epoch seconds. */
  exp: number;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((g) => typeof g === 'string');
}

function toClaims(p: JWTPayload): SessionClaims | undefined {
  const { sub, email, groups, connector, iss, aud, iat, exp, jti, saml_nameid, saml_nameid_format, saml_session_index } = p as Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '') return undefined;
  if (email !== undefined && typeof email !== 'string') return undefined;
  if (!isStringArray(groups)) return undefined;
  if (typeof connector !== 'string' || !connector.includes('/')) return undefined;
  if (typeof iss !== 'string' || typeof aud !== 'string') return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string' || jti === '') return undefined;
  const claims: SessionClaims = { sub, groups: [...groups], connector, iss, aud, iat, exp, jti };
  if (email !== undefined) claims.email = email;
  if (typeof saml_nameid === 'string' && saml_nameid !== '') {
    const ref: SamlSessionRef = { nameID: saml_nameid };
    if (typeof saml_nameid_format === 'string') ref.nameIDFormat = saml_nameid_format;
    if (typeof saml_session_index === 'string') ref.sessionIndex = saml_session_index;
    claims.saml = ref;
  }
  return claims;
}

export class SessionTokens {
  readonly #keys: () => SessionKeySet;
  readonly #issuer: string;

  /**
   * @param keys returns the live key set (swapped on rotation)
   * @param publicURL the operator's public URL, used as `iss`
   */
  constructor(keys: () => SessionKeySet, publicURL: string) {
    this.#keys = keys;
    this.#issuer = publicURL;
  }

  async issue(claims: SessionClaimsInput, ttlSeconds: number, now: Date = new Date()): Promise<IssuedToken> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(`session ttl must be a positive whole number of seconds, got ${ttlSeconds}`);
    }
    if (claims.sub === '') throw new TypeError('session subject must not be empty');
    const key = this.#keys().current;
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + ttlSeconds;
    const jti = randomBytes(16).toString('base64url');
    const payload: JWTPayload = { groups: [...claims.groups], connector: claims.connector };
    if (claims.email !== undefined) payload.email = claims.email;
    const ref = claims.saml;
    if (ref && ref.nameID !== '' && ref.nameID.length <= MAX_SAML_REF_LENGTH) {
      payload.saml_nameid = ref.nameID;
      if (ref.nameIDFormat !== undefined && ref.nameIDFormat.length <= MAX_SAML_REF_LENGTH) payload.saml_nameid_format = ref.nameIDFormat;
      if (ref.sessionIndex !== undefined && ref.sessionIndex.length <= MAX_SAML_REF_LENGTH) payload.saml_session_index = ref.sessionIndex;
    }
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: SESSION_ALG, kid: key.kid, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(this.#issuer)
      .setAudience(SESSION_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key.privateKey);
    return { token, jti, exp };
  }

  async verify(token: string | undefined | null, now: Date = new Date()): Promise<VerifyResult> {
    if (token === undefined || token === null || token === '') return { ok: false, reason: 'SessionMissing' };
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'SessionInvalid' };
    const set = this.#keys();
    const resolveKey = (header: JWTHeaderParameters) => {
      // Only our own keys, by kid; never a key named or embedded by the token.
      for (const key of [set.current, set.previous]) {
        if (key && header.kid === key.kid) return key.publicKey;
      }
      throw new errors.JWKSNoMatchingKey();
    };
    try {
      const { payload } = await jwtVerify(token, resolveKey, {
        algorithms: [SESSION_ALG],
        issuer: this.#issuer,
        audience: SESSION_AUDIENCE,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
      });
      const claims = toClaims(payload);
      if (!claims) return { ok: false, reason: 'SessionInvalid' };
      // jose does not check iat by itself; a token dated in the future
      // (beyond the tolerance) was not minted by a correctly running issuer.
      if (claims.iat > Math.floor(now.getTime() / 1000) + CLOCK_TOLERANCE_SECONDS) {
        return { ok: false, reason: 'SessionInvalid' };
      }
      return { ok: true, claims };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'SessionExpired' };
      return { ok: false, reason: 'SessionInvalid' };
    }
  }

  /** Public keys for `/.well-known/jwks.json`: current and previous, never a private member. */
  jwks(): { keys: PublicSessionJwk[] } {
    const set = this.#keys();
    const keys = [set.current, set.previous].filter((k) => k !== undefined);
    return {
      keys: keys.map((k) => ({
        kty: 'OKP',
        crv: 'Ed25519',
        x: k.publicJwk.x,
        kid: k.kid,
        alg: SESSION_ALG,
        use: 'sig',
      })),
    };
  }
}
