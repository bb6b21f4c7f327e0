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
// - Tokens whose signature verified are remembered (src/session/verified-tokens.ts):
//   the key, expiry and iat checks are repeated at every lookup, so a cached
//   answer is the one a fresh verification would give.

import { createHash, randomBytes, sign } from 'node:crypto';
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { SESSION_ALG, type PublicSessionJwk, type SessionKey, type SessionKeySet } from './keys.ts';
import { VerifiedTokenCache } from './verified-tokens.ts';

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
   * `saml_nameid` (or `saml_nameid_sha256`), `saml_nameid_format`,
   * `saml_session_index` (or `saml_session_index_sha256`).
   */
  saml?: SamlSubject;
  /**
   * The OpenID Provider's subject and session of the login, for back-channel
   * logout: claims `oidc_sub_sha256` and `oidc_sid_sha256` (SHA-256 hex; a
   * logout token names them, and that is all they are used for).
   */
  oidc?: { sub: string; sid?: string };
  /** The user's groups at the identity provider (claim `idp_groups`), handed on beside the binding's. */
  idpGroups?: string[];
  /** The allowlisted IdP group that let the user in without a binding (claim `via_group`). */
  viaGroup?: string;
  /**
   * The key that seals this session's provider tokens in the token vault
   * (session.passAccessToken; src/session/access-tokens.ts): base64url of 32
   * random bytes, claim `atk`. It opens nothing without the vault's record.
   */
  atk?: string;
}

/** The OIDC session reference a session carries: hashes of the provider's sub and sid. */
export interface OidcSessionRef {
  subSha256: string;
  sidSha256?: string;
}

/** The SAML subject of a login, as the ACS read it. */
export interface SamlSubject {
  nameID: string;
  nameIDFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
}

/**
 * The SAML subject as a session carries it: each of NameID and SessionIndex
 * raw when short enough for the cookie, else only its SHA-256 (hex), which
 * still lets a LogoutRequest naming it end the session (the revocation keys
 * are derived from the hash either way); only SP-initiated logout needs the
 * raw NameID.
 */
export interface SamlSessionRef {
  nameID?: string;
  nameIDSha256?: string;
  nameIDFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
  sessionIndexSha256?: string;
}

/** Longest NameID / SessionIndex / Format a session carries raw; longer ones travel as their SHA-256. */
export const MAX_SAML_REF_LENGTH = 512;

const sha256hex = (v: string): string => createHash('sha256').update(v, 'utf8').digest('hex');
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SEALING_KEY = /^[A-Za-z0-9_-]{43}$/;

export interface SessionClaims extends Omit<SessionClaimsInput, 'saml' | 'oidc'> {
  saml?: SamlSessionRef;
  oidc?: OidcSessionRef;
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
  const { sub, email, groups, connector, iss, aud, iat, exp, jti } = p as Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '') return undefined;
  if (email !== undefined && typeof email !== 'string') return undefined;
  if (!isStringArray(groups)) return undefined;
  if (typeof connector !== 'string' || !connector.includes('/')) return undefined;
  if (typeof iss !== 'string' || typeof aud !== 'string') return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string' || jti === '') return undefined;
  const claims: SessionClaims = { sub, groups: [...groups], connector, iss, aud, iat, exp, jti };
  if (email !== undefined) claims.email = email;
  const ref = samlRefOf(p);
  if (ref) claims.saml = ref;
  const c = p as Record<string, unknown>;
  if (typeof c.oidc_sub_sha256 === 'string' && SHA256_HEX.test(c.oidc_sub_sha256)) {
    claims.oidc = { subSha256: c.oidc_sub_sha256 };
    if (typeof c.oidc_sid_sha256 === 'string' && SHA256_HEX.test(c.oidc_sid_sha256)) claims.oidc.sidSha256 = c.oidc_sid_sha256;
  }
  if (typeof c.atk === 'string' && SEALING_KEY.test(c.atk)) claims.atk = c.atk;
  if (c.idp_groups !== undefined) {
    if (!isStringArray(c.idp_groups)) return undefined;
    claims.idpGroups = [...c.idp_groups];
  }
  if (c.via_group !== undefined) {
    if (typeof c.via_group !== 'string') return undefined;
    claims.viaGroup = c.via_group;
  }
  return claims;
}

function samlRefOf(p: JWTPayload): SamlSessionRef | undefined {
  const c = p as Record<string, unknown>;
  const ref: SamlSessionRef = {};
  if (typeof c.saml_nameid === 'string' && c.saml_nameid !== '') ref.nameID = c.saml_nameid;
  else if (typeof c.saml_nameid_sha256 === 'string' && SHA256_HEX.test(c.saml_nameid_sha256)) ref.nameIDSha256 = c.saml_nameid_sha256;
  else return undefined;
  if (typeof c.saml_nameid_format === 'string') ref.nameIDFormat = c.saml_nameid_format;
  if (typeof c.saml_nameid_nq === 'string') ref.nameQualifier = c.saml_nameid_nq;
  if (typeof c.saml_nameid_spnq === 'string') ref.spNameQualifier = c.saml_nameid_spnq;
  if (typeof c.saml_session_index === 'string') ref.sessionIndex = c.saml_session_index;
  else if (typeof c.saml_session_index_sha256 === 'string' && SHA256_HEX.test(c.saml_session_index_sha256)) ref.sessionIndexSha256 = c.saml_session_index_sha256;
  return ref;
}

/**
 * A compact JWS (RFC 7515) of `payload`, signed with the session key's
 * Ed25519 private key by node:crypto, synchronously. The same bytes as jose's
 * SignJWT with the same header and claims in the same order (Ed25519 is
 * deterministic; a test holds the two equal), which verify() checks with
 * jose as before.
 *
 * Why not jose's SignJWT here: jose 6 signs through WebCrypto, whose work
 * runs on libuv's thread pool and comes back through the event loop. It cost
 * about 90 µs against 31 µs for the same token (measured in one process),
 * and every sign-in waited behind whatever else the loop held at that moment
 * — under a flood of junk posts, a full turn of them (issue 10, target 3).
 */
function signCompact(header: JWTHeaderParameters, payload: JWTPayload, key: SessionKey): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
}

export class SessionTokens {
  readonly #keys: () => SessionKeySet;
  readonly #issuer: string;
  readonly #verified: VerifiedTokenCache;

  /**
   * @param keys returns the live key set (swapped on rotation)
   * @param publicURL the operator's public URL, used as `iss`
   */
  constructor(keys: () => SessionKeySet, publicURL: string, options: { cache?: VerifiedTokenCache } = {}) {
    this.#keys = keys;
    this.#issuer = publicURL;
    this.#verified = options.cache ?? new VerifiedTokenCache(CLOCK_TOLERANCE_SECONDS);
  }

  async issue(claims: SessionClaimsInput, ttlSeconds: number, now: Date = new Date()): Promise<IssuedToken> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(`session ttl must be a positive whole number of seconds, got ${ttlSeconds}`);
    }
    // What jose's SignJWT checked before signing: a string subject, numeric dates.
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new TypeError('session subject must be a non-empty string');
    const key = this.#keys().current;
    const iat = Math.floor(now.getTime() / 1000);
    if (!Number.isFinite(iat)) throw new RangeError('session issue time is not a valid date');
    const exp = iat + ttlSeconds;
    const jti = randomBytes(16).toString('base64url');
    const payload: JWTPayload = { groups: [...claims.groups], connector: claims.connector };
    if (claims.email !== undefined) payload.email = claims.email;
    const ref = claims.saml;
    if (ref && ref.nameID !== '') {
      const short = (v: string) => v.length <= MAX_SAML_REF_LENGTH;
      if (short(ref.nameID)) payload.saml_nameid = ref.nameID;
      else payload.saml_nameid_sha256 = sha256hex(ref.nameID);
      if (ref.nameIDFormat !== undefined && short(ref.nameIDFormat)) payload.saml_nameid_format = ref.nameIDFormat;
      if (ref.nameQualifier !== undefined && short(ref.nameQualifier)) payload.saml_nameid_nq = ref.nameQualifier;
      if (ref.spNameQualifier !== undefined && short(ref.spNameQualifier)) payload.saml_nameid_spnq = ref.spNameQualifier;
      if (ref.sessionIndex !== undefined) {
        if (short(ref.sessionIndex)) payload.saml_session_index = ref.sessionIndex;
        else payload.saml_session_index_sha256 = sha256hex(ref.sessionIndex);
      }
    }
    if (claims.oidc) {
      payload.oidc_sub_sha256 = sha256hex(claims.oidc.sub);
      if (claims.oidc.sid !== undefined) payload.oidc_sid_sha256 = sha256hex(claims.oidc.sid);
    }
    if (claims.idpGroups?.length) payload.idp_groups = [...claims.idpGroups];
    if (claims.viaGroup !== undefined) payload.via_group = claims.viaGroup;
    if (claims.atk !== undefined) {
      if (!SEALING_KEY.test(claims.atk)) throw new TypeError('atk must be base64url of 32 bytes');
      payload.atk = claims.atk;
    }
    payload.sub = claims.sub;
    payload.iss = this.#issuer;
    payload.aud = SESSION_AUDIENCE;
    payload.iat = iat;
    payload.exp = exp;
    payload.jti = jti;
    return { token: signCompact({ alg: SESSION_ALG, kid: key.kid, typ: 'JWT' }, payload, key), jti, exp };
  }

  /**
   * What verify() would answer, when the token is one it already verified
   * (no signature check needed); undefined otherwise. Synchronous, for the
   * forward-auth hot path.
   */
  remembered(token: string, now: Date): VerifyResult | undefined {
    if (token === '' || token.length > MAX_TOKEN_LENGTH) return undefined;
    return this.#verified.lookup(token, this.#keys(), Math.floor(now.getTime() / 1000));
  }

  async verify(token: string | undefined | null, now: Date = new Date()): Promise<VerifyResult> {
    if (token === undefined || token === null || token === '') return { ok: false, reason: 'SessionMissing' };
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'SessionInvalid' };
    const set = this.#keys();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const known = this.#verified.lookup(token, set, nowSeconds);
    if (known) return known;
    let used: SessionKey | undefined;
    const resolveKey = (header: JWTHeaderParameters) => {
      // Only our own keys, by kid; never a key named or embedded by the token.
      for (const key of [set.current, set.previous]) {
        if (key && header.kid === key.kid) {
          used = key;
          return key.publicKey;
        }
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
      if (claims.iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
        return { ok: false, reason: 'SessionInvalid' };
      }
      return { ok: true, claims: this.#verified.store(token, used!, { nbf: payload.nbf, exp: claims.exp }, claims)! };
    } catch (err) {
      if (err instanceof errors.JWTExpired) {
        // jose reports expiry only after the signature and every other claim
        // check passed: remembered, so an expired cookie sent again is refused cheaply.
        if (used && typeof err.payload.exp === 'number') this.#verified.store(token, used, { nbf: err.payload.nbf, exp: err.payload.exp }, undefined);
        return { ok: false, reason: 'SessionExpired' };
      }
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
