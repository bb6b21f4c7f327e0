// The OpenID Connect relying party of one connector: the authorization
// request and the checks of the callback, done by openid-client (v6, on
// oauth4webapi) rather than by hand. What openid-client checks, and what this
// file adds, with the reason code each failure gets:
//
// openid-client / oauth4webapi:
// - the authorization response: `state` equals ours (StateMismatch), the
//   RFC 9207 `iss` parameter equals the issuer when present, and is required
//   when the provider advertises it (IssuerMismatch: an authorization server
//   mix-up), an `error` answer (ProviderError);
// - the token response: HTTP and JSON shape; an error such as invalid_grant
//   for a code used before or not ours (CodeExchangeFailed); invalid_client
//   when the provider refuses our client secret (ClientAuthenticationFailed,
//   503: an admin's matter, not the user's);
// - the ID token: signature with a key of the provider's JWKS (only because
//   we turn non-repudiation checks on, see buildClient), selected by `kid`
//   (KeyNotFound when none matches; an unknown kid refetches the key set at
//   most once a minute), `alg` equal to the connector's
//   oidc.idTokenSigningAlgorithm (RS256 by default; never `none`, and an HS256
//   token "signed" with the client secret is refused: AlgorithmNotAllowed),
//   signature (SignatureInvalid), `iss` (IssuerMismatch), `aud` containing our
//   client_id and `azp` only when there are several audiences
//   (AudienceMismatch), `exp` and `nbf` with the connector's clock skew
//   (IdTokenExpired, IdTokenNotYetValid), `nonce` (NonceMismatch), auth_time
//   when max_age was asked for;
// - PKCE S256: the verifier goes with the code, so an intercepted code is
//   useless without it.
//
// Added here:
// - `azp` equal to our client_id whenever present, `iat` not in the future
//   (AudienceMismatch, IdTokenNotYetValid);
// - what the admin asked for in the authorize request, which travels through
//   the browser and could be stripped: `acr` one of `acr_values`
//   (AcrNotSatisfied), `hd` equal to the hosted domain asked for
//   (HostedDomainMismatch), `auth_time` within `max_age` (AuthTimeTooOld); the other
//   parameters (prompt, login_hint, ...) are hints;
// - every answer from the provider is read through boundedFetch (1 MiB);
// - state, nonce and the PKCE verifier are bound to the browser: the state id
//   travels through the provider, the nonce sits in the signed login-state
//   cookie beside it (`__Host-sso_state` on https), and the verifier is
//   derived from the state id with the state key (HMAC), so it never leaves
//   this service and any replica can finish the flow (StateMismatch when the
//   cookie holds no such login);
// - the user: the claim the connector names (default `email`; with `email`,
//   `email_verified` must be true: EmailNotVerified; a missing or non-string
//   claim: IdentityClaimMissing);
// - claims the ID token lacks are read from the UserInfo endpoint, whose
//   `sub` must be the ID token's (UserInfoInvalid);
// - the provider's endpoints are never fetched on this path except the token
//   and UserInfo endpoints and, when a key is unknown, the JWKS (discovery.ts
//   keeps the metadata).

import { createHash, createHmac, createPublicKey, type KeyObject } from 'node:crypto';
import { secretKeyOf } from '../session/secret-key.ts';
import {
  allowInsecureRequests,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  buildEndSessionUrl,
  calculatePKCECodeChallenge,
  ClientSecretBasic,
  ClientSecretPost,
  PrivateKeyJwt,
  clockTolerance,
  Configuration,
  customFetch,
  enableNonRepudiationChecks,
  fetchProtectedResource,
  fetchUserInfo,
  refreshTokenGrant,
  tokenRevocation,
  type ServerMetadata,
  type TokenEndpointResponse,
  type TokenEndpointResponseHelpers,
} from 'openid-client';
import type { JWTVerifyGetKey } from 'jose';
import type { TrailEntry } from '../saml/types.ts';
import { MAX_ACCESS_TOKEN_LENGTH, RefreshRefusedError, type ProviderTokens, type Refresher } from '../session/access-tokens.ts';
import { boundedFetch } from './bounded-fetch.ts';
import { identityAt } from './oauth2-presets.ts';

export interface OidcConnectorConfig {
  key: string;
  issuer: string;
  clientID: string;
  /** Where the provider sends the browser back (registered at the provider). */
  callbackURL: string;
  /** Where the provider sends the browser after RP-initiated logout (registered at the provider as a post-logout redirect URI). */
  logoutCallbackURL: string;
  scopes: readonly string[];
  usernameClaim: string;
  /** The one JWS algorithm the provider signs ID tokens with. */
  idTokenAlg: string;
  groupsClaim?: string;
  authorizeParameters: Readonly<Record<string, string>>;
  clockSkewSeconds: number;
  /** openid-client's view of the provider and the client; holds the JWKS cache. */
  client: Configuration;
  /** The provider's keys for back-channel logout tokens (jose's remote JWK set: fetched when first needed, cached). */
  logoutKeys: JWTVerifyGetKey;
}

/** How the client authenticates to the token endpoint: a client secret, or a private key (private_key_jwt). */
export type ClientCredentials = { clientSecret: string; privateKey?: undefined } | { privateKey: ClientPrivateKey; clientSecret?: undefined };

export interface ClientPrivateKey {
  key: CryptoKey;
  kid: string;
  alg: string;
}

const EC_JWS: Record<string, { alg: string; curve: string }> = {
  prime256v1: { alg: 'ES256', curve: 'P-256' },
  secp384r1: { alg: 'ES384', curve: 'P-384' },
  secp521r1: { alg: 'ES512', curve: 'P-521' },
};

/**
 * The private key as openid-client signs client assertions with it: a
 * non-extractable WebCrypto key, its JWS algorithm, and as kid its RFC 7638
 * thumbprint (what the provider finds it by in the client's registered keys).
 */
export function privateKeyJWT(key: KeyObject): ClientPrivateKey | { problem: string } {
  const pub = createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
  let alg: string;
  let algorithm: RsaHashedImportParams | EcKeyImportParams;
  let members: string[];
  if (key.asymmetricKeyType === 'rsa') {
    alg = 'RS256';
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    members = ['e', 'kty', 'n'];
  } else {
    const ec = EC_JWS[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!ec) return { problem: 'the key is neither RSA nor EC P-256/384/521' };
    alg = ec.alg;
    algorithm = { name: 'ECDSA', namedCurve: ec.curve };
    members = ['crv', 'kty', 'x', 'y'];
  }
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, pub[m]])));
  const kid = createHash('sha256').update(canonical).digest('base64url');
  return { key: key.toCryptoKey(algorithm, false, ['sign']) as CryptoKey, kid, alg };
}

export interface BuildClientInput {
  metadata: ServerMetadata;
  clientID: string;
  credentials: ClientCredentials;
  clockSkewSeconds: number;
  idTokenAlg?: string;
}

/** openid-client's Configuration for a discovered provider and a client secret; no network. */
export function buildClient(input: BuildClientInput): Configuration {
  const methods = input.metadata.token_endpoint_auth_methods_supported;
  const { clientSecret, privateKey } = input.credentials;
  // client_secret_basic is the default of the specification; post when the provider offers only that.
  const auth = privateKey
    ? PrivateKeyJwt({ key: privateKey.key, kid: privateKey.kid })
    : methods && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')
      ? ClientSecretPost(clientSecret)
      : ClientSecretBasic(clientSecret);
  const client = new Configuration(input.metadata, input.clientID, { id_token_signed_response_alg: input.idTokenAlg ?? 'RS256', [clockTolerance]: input.clockSkewSeconds }, auth);
  client.timeout = 10;
  client[customFetch] = boundedFetch;
  if (new URL(input.metadata.issuer).protocol === 'http:') allowInsecureRequests(client);
  // openid-client does not check the signature of an ID token that comes from
  // the token endpoint (OIDC Core 3.1.3.7 lets TLS stand in for it). We do:
  // a token endpoint reached through a compromised proxy, or a provider
  // misconfigured to sign with a key it does not publish, must not sign users
  // in. So the JWKS is used, fetched on the first callback and cached by
  // oauth4webapi (5 minutes; an unknown kid refetches it at most once a minute).
  enableNonRepudiationChecks(client);
  return client;
}

/** The PKCE verifier of a login, derived from its state id with the state key: never stored, never sent to the browser. */
export function pkceVerifier(stateKey: Uint8Array, sid: string): string {
  return createHmac('sha256', secretKeyOf(stateKey)).update(`sso_oidc_pkce.v1.${sid}`).digest('base64url');
}

/** The URL that starts a login at the provider. */
export async function authorizationURL(config: OidcConnectorConfig, input: { sid: string; nonce: string; stateKey: Uint8Array }): Promise<URL> {
  const challenge = await calculatePKCECodeChallenge(pkceVerifier(input.stateKey, input.sid));
  return buildAuthorizationUrl(config.client, {
    ...config.authorizeParameters,
    redirect_uri: config.callbackURL,
    scope: config.scopes.join(' '),
    response_type: 'code',
    state: input.sid,
    nonce: input.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
}

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the provider's
 * end_session_endpoint with our client_id, where to come back, and the state
 * id of the pending logout; undefined when the provider has no such endpoint.
 */
export function endSessionURL(config: OidcConnectorConfig, sid: string): URL | undefined {
  if (!config.client.serverMetadata().end_session_endpoint) return undefined;
  return buildEndSessionUrl(config.client, { client_id: config.clientID, post_logout_redirect_uri: config.logoutCallbackURL, state: sid });
}

export type CallbackResult =
  | {
      ok: true;
      user: string;
      email?: string;
      sub: string;
      sid?: string;
      groups?: string[];
      claims: Record<string, string[]>;
      trail: TrailEntry[];
      /** The provider's tokens, for session.passAccessToken; never logged. */
      tokens?: ProviderTokens;
    }
  | { ok: false; status: number; reason: string; trail: TrailEntry[]; detail?: string };

/**
 * Finishes a login: exchanges the code and checks everything above.
 * `callbackURL` is the URL the browser came back on (with its query).
 */
export async function completeCallback(config: OidcConnectorConfig, callbackURL: URL, pending: { sid: string; nonce: string; stateKey: Uint8Array }): Promise<CallbackResult> {
  const trail: TrailEntry[] = [];
  let tokens: Awaited<ReturnType<typeof authorizationCodeGrant>>;
  try {
    tokens = await authorizationCodeGrant(
      config.client,
      callbackURL,
      {
        pkceCodeVerifier: pkceVerifier(pending.stateKey, pending.sid),
        expectedState: pending.sid,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
        // max_age asked for: auth_time must be there and recent enough.
        ...(maxAgeOf(config) !== undefined ? { maxAge: maxAgeOf(config)! } : {}),
      },
      { redirect_uri: config.callbackURL },
    );
  } catch (err) {
    const { status, reason } = classify(err);
    trail.push({ check: 'token', ok: false, detail: reason });
    return { ok: false, status, reason, trail, detail: safeDetail(err) };
  }
  trail.push({ check: 'token', ok: true, detail: 'code exchanged; ID token signature, iss, aud, azp, exp, iat and nonce verified' });
  const idClaims = tokens.claims() as Record<string, unknown> | undefined;
  if (!idClaims) return { ok: false, status: 401, reason: 'IdTokenMissing', trail };
  // What openid-client leaves out: azp must be us whenever it is present (it
  // checks it only with several audiences), and iat may not be in the future.
  if (idClaims.azp !== undefined && idClaims.azp !== config.clientID) {
    trail.push({ check: 'token', ok: false, detail: 'azp names another client' });
    return { ok: false, status: 401, reason: 'AudienceMismatch', trail };
  }
  const nowSeconds = Math.floor(Date.now() / 1000);
  if (typeof idClaims.iat !== 'number' || idClaims.iat > nowSeconds + config.clockSkewSeconds) {
    trail.push({ check: 'token', ok: false, detail: 'iat is in the future' });
    return { ok: false, status: 401, reason: 'IdTokenNotYetValid', trail };
  }
  // What the admin asked the provider for travels in the browser's URL and can
  // be stripped on the way: the answer must show it was honoured.
  const acr = config.authorizeParameters.acr_values?.split(' ').filter(Boolean);
  if (acr?.length && !(typeof idClaims.acr === 'string' && acr.includes(idClaims.acr))) {
    trail.push({ check: 'token', ok: false, detail: `acr ${String(idClaims.acr)} is not one of acr_values` });
    return { ok: false, status: 401, reason: 'AcrNotSatisfied', trail };
  }
  if (config.authorizeParameters.hd !== undefined && idClaims.hd !== config.authorizeParameters.hd) {
    trail.push({ check: 'token', ok: false, detail: 'hd is not the hosted domain asked for' });
    return { ok: false, status: 401, reason: 'HostedDomainMismatch', trail };
  }
  let claims: Record<string, unknown> = idClaims;
  let info: Record<string, unknown> | undefined;
  // Claims asked for by scope may come from the UserInfo endpoint only (OpenID
  // Connect Core 5.4): ask it when the ID token lacks what identifies the user.
  // openid-client checks that its `sub` is the ID token's; the ID token's own
  // claims win over the UserInfo answer.
  const wanted = [config.usernameClaim, ...(config.usernameClaim === 'email' ? ['email_verified'] : []), ...(config.groupsClaim ? [config.groupsClaim] : [])];
  if (wanted.some((c) => !(c in idClaims)) && config.client.serverMetadata().userinfo_endpoint && typeof tokens.access_token === 'string') {
    try {
      info = (await fetchUserInfo(config.client, tokens.access_token, String(idClaims.sub))) as Record<string, unknown>;
      claims = { ...info, ...idClaims };
      trail.push({ check: 'userinfo', ok: true, detail: 'claims missing from the ID token read from the UserInfo endpoint (sub matches)' });
    } catch (err) {
      const { status, reason } = classify(err);
      trail.push({ check: 'userinfo', ok: false, detail: reason });
      return { ok: false, status, reason: reason === 'IdTokenInvalid' ? 'UserInfoInvalid' : reason, trail, detail: safeDetail(err) };
    }
  }
  const received = loggedClaims(claims);
  const value = claims[config.usernameClaim];
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    trail.push({ check: 'identity', ok: false, detail: `claim ${config.usernameClaim} missing or not a string` });
    return { ok: false, status: 401, reason: 'IdentityClaimMissing', trail };
  }
  // An address and its verified flag come from the same document: an ID token's
  // email must not borrow a UserInfo answer's email_verified about another one.
  const emailSource = 'email_verified' in idClaims || !info ? idClaims : info.email === idClaims.email || !('email' in idClaims) ? info : idClaims;
  const verifiedEmail = typeof emailSource.email === 'string' && emailSource.email_verified === true ? emailSource.email : undefined;
  if (config.usernameClaim === 'email' && verifiedEmail !== value) {
    trail.push({ check: 'identity', ok: false, detail: 'email_verified is not true' });
    return { ok: false, status: 401, reason: 'EmailNotVerified', trail };
  }
  trail.push({ check: 'identity', ok: true, detail: `user from claim ${config.usernameClaim}` });
  const email = verifiedEmail;
  const rawGroups = config.groupsClaim ? claims[config.groupsClaim] : undefined;
  const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string').slice(0, 256) : undefined;
  return {
    ok: true,
    user: value,
    sub: String(claims.sub),
    ...(email ? { email } : {}),
    ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
    ...(groups ? { groups } : {}),
    claims: received,
    trail,
    ...(providerTokens(tokens) ? { tokens: providerTokens(tokens)! } : {}),
  };
}

/** The token endpoint's answer as the token vault keeps it; undefined without a usable access token. */
export function providerTokens(t: TokenEndpointResponse & TokenEndpointResponseHelpers, nowMs: number = Date.now()): ProviderTokens | undefined {
  if (typeof t.access_token !== 'string' || t.access_token.length === 0 || t.access_token.length > MAX_ACCESS_TOKEN_LENGTH) return undefined;
  const obtainedAt = Math.floor(nowMs / 1000);
  const expiresIn = t.expiresIn();
  return {
    accessToken: t.access_token,
    obtainedAt,
    ...(typeof t.refresh_token === 'string' && t.refresh_token.length > 0 && t.refresh_token.length <= MAX_ACCESS_TOKEN_LENGTH ? { refreshToken: t.refresh_token } : {}),
    ...(expiresIn !== undefined && expiresIn >= 0 ? { expiresAt: obtainedAt + expiresIn } : {}),
    ...(typeof t.token_type === 'string' ? { tokenType: t.token_type } : {}),
    ...(typeof t.scope === 'string' ? { scope: t.scope } : {}),
  };
}

/**
 * Refreshes with the provider's token endpoint (client authentication as for
 * the code exchange). A refused grant (invalid_grant and the like, or a
 * refreshed ID token that fails its checks) is RefreshRefusedError: the user
 * signs in again; a provider that does not answer, or refuses our client, is
 * any other error: the current token is used while it is valid.
 */
export function refresherFor(client: Configuration): Refresher {
  return async (refreshToken) => {
    try {
      const t = await refreshTokenGrant(client, refreshToken);
      const got = providerTokens(t);
      if (!got) throw new RefreshRefusedError('the refresh answer has no usable access token');
      return got;
    } catch (err) {
      if (err instanceof RefreshRefusedError) throw err;
      const { status, reason } = classify(err);
      if (status === 503) throw new Error(reason);
      throw new RefreshRefusedError(reason);
    }
  };
}

/**
 * Revokes a session's tokens at the provider (RFC 7009) when it has a
 * revocation endpoint: the refresh token (which ends the grant, and at most
 * providers its access tokens) and the access token. Undefined without one.
 */
export function revokerFor(client: Configuration): ((tokens: ProviderTokens) => Promise<void>) | undefined {
  if (!client.serverMetadata().revocation_endpoint) return undefined;
  return async (tokens) => {
    if (tokens.refreshToken !== undefined) await tokenRevocation(client, tokens.refreshToken, { token_type_hint: 'refresh_token' });
    await tokenRevocation(client, tokens.accessToken, { token_type_hint: 'access_token' });
  };
}

/** max_age of the connector's authorize parameters, in seconds. */
function maxAgeOf(config: OidcConnectorConfig): number | undefined {
  const v = config.authorizeParameters.max_age;
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** Claims as the login log shows them (strings only, bounded); never a token. */
function loggedClaims(claims: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(claims).slice(0, 64)) {
    if (['nonce', 'at_hash', 'c_hash', 's_hash'].includes(k)) continue;
    const values = Array.isArray(v) ? v : [v];
    out[k] = values.slice(0, 32).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)).slice(0, 256));
  }
  return out;
}

/** openid-client's error, as a reason code and an HTTP status. */
export function classify(err: unknown): { status: number; reason: string } {
  // openid-client wraps oauth4webapi's error ("invalid response encountered"):
  // the code, the message and the claim are read along the cause chain.
  type Link = { code?: string; message?: string; cause?: unknown; name?: string; claim?: string; error?: string };
  const chain: Link[] = [];
  for (let x = err as Link | undefined, i = 0; x && typeof x === 'object' && i < 4; x = x.cause as Link | undefined, i++) chain.push(x);
  const e = chain[0] ?? {};
  const code = chain.find((l) => typeof l.code === 'string' && l.code.startsWith('OAUTH_') && l.code !== 'OAUTH_INVALID_RESPONSE')?.code ?? chain.find((l) => typeof l.code === 'string')?.code;
  const message = chain.map((l) => l.message ?? '').join(' | ');
  const claim = chain.map((l) => l.claim).find((c) => typeof c === 'string');
  // The provider does not accept our client credentials (a rotated or wrong
  // client secret): not the user's doing, and what an admin must fix.
  if (chain.some((l) => l.error === 'invalid_client') || code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') return { status: 503, reason: 'ClientAuthenticationFailed' };
  switch (code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      if (claim === 'nonce') return { status: 401, reason: 'NonceMismatch' };
      if (claim === 'iss') return { status: 401, reason: 'IssuerMismatch' };
      if (claim === 'aud' || claim === 'azp') return { status: 401, reason: 'AudienceMismatch' };
      return { status: 401, reason: 'IdTokenInvalid' };
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      if (claim === 'auth_time') return { status: 401, reason: 'AuthTimeTooOld' };
      return { status: 401, reason: claim === 'exp' ? 'IdTokenExpired' : 'IdTokenNotYetValid' };
    case 'OAUTH_KEY_SELECTION_FAILED':
      return { status: 401, reason: 'KeyNotFound' };
    case 'OAUTH_AUTHORIZATION_RESPONSE_ERROR':
      return { status: 401, reason: 'ProviderError' };
    case 'OAUTH_RESPONSE_BODY_ERROR':
      return { status: 401, reason: 'CodeExchangeFailed' };
    case 'OAUTH_INVALID_RESPONSE':
      if (/"iss" \(issuer\)/.test(message)) return { status: 401, reason: 'IssuerMismatch' };
      if (/"state"/.test(message)) return { status: 401, reason: 'StateMismatch' };
      if (/"alg"/.test(message)) return { status: 401, reason: 'AlgorithmNotAllowed' };
      if (/signature verification failed/.test(message)) return { status: 401, reason: 'SignatureInvalid' };
      if (/"id_token"/.test(message)) return { status: 401, reason: 'IdTokenMissing' };
      if (/JWT "nonce" .* claim missing/.test(message)) return { status: 401, reason: 'NonceMismatch' };
      if (/JWT "auth_time" .* claim missing/.test(message)) return { status: 401, reason: 'AuthTimeTooOld' };
      return { status: 401, reason: 'IdTokenInvalid' };
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return { status: 401, reason: 'AlgorithmNotAllowed' };
    default:
      break;
  }
  // Transport: the provider did not answer (down, timeout).
  if (e.name === 'TypeError' || e.name === 'AbortError' || e.name === 'TimeoutError' || /fetch failed|timed? ?out/i.test(message)) return { status: 503, reason: 'ProviderUnavailable' };
  return { status: 401, reason: 'IdTokenInvalid' };
}

/** For the log: openid-client's message and code, which never quote a token or secret. */
function safeDetail(err: unknown): string {
  const e = err as { code?: string; message?: string; error?: string };
  return [e.code, e.error, e.message].filter(Boolean).join(': ').slice(0, 300);
}

// ---------------------------------------------------------------------------
// OAuth 2 without OpenID Connect: the same code flow with PKCE and state, no
// ID token; the user is read from the provider's user-info endpoint with the
// access token, at the connector's identityField.

export interface OAuth2ConnectorConfig {
  key: string;
  provider: string;
  clientID: string;
  callbackURL: string;
  scopes: readonly string[];
  userinfoURL: string;
  identityField: string;
  client: Configuration;
}

export function buildOAuth2Client(input: { authorizationURL: string; tokenURL: string; revocationURL?: string; clientID: string; clientSecret: string }): Configuration {
  // openid-client needs an issuer; an OAuth 2 provider has none, so the
  // authorization endpoint's origin stands in (it is never compared with an
  // ID token's: none is asked for, and one that comes along is checked as usual).
  const metadata: ServerMetadata = {
    issuer: new URL(input.authorizationURL).origin,
    authorization_endpoint: input.authorizationURL,
    token_endpoint: input.tokenURL,
    ...(input.revocationURL !== undefined ? { revocation_endpoint: input.revocationURL } : {}),
  };
  const client = new Configuration(metadata, input.clientID, {}, ClientSecretPost(input.clientSecret));
  client.timeout = 10;
  client[customFetch] = boundedFetch;
  if ([input.authorizationURL, input.tokenURL, input.revocationURL].some((u) => u !== undefined && new URL(u).protocol === 'http:')) allowInsecureRequests(client);
  return client;
}

export async function oauth2AuthorizationURL(config: OAuth2ConnectorConfig, input: { sid: string; stateKey: Uint8Array }): Promise<URL> {
  const challenge = await calculatePKCECodeChallenge(pkceVerifier(input.stateKey, input.sid));
  return buildAuthorizationUrl(config.client, {
    redirect_uri: config.callbackURL,
    ...(config.scopes.length ? { scope: config.scopes.join(' ') } : {}),
    response_type: 'code',
    state: input.sid,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
}

export async function completeOAuth2Callback(config: OAuth2ConnectorConfig, callbackURL: URL, pending: { sid: string; stateKey: Uint8Array }): Promise<CallbackResult> {
  const trail: TrailEntry[] = [];
  let accessToken: string;
  let held: ProviderTokens | undefined;
  try {
    const tokens = await authorizationCodeGrant(
      config.client,
      callbackURL,
      { pkceCodeVerifier: pkceVerifier(pending.stateKey, pending.sid), expectedState: pending.sid, idTokenExpected: false },
      { redirect_uri: config.callbackURL },
    );
    accessToken = tokens.access_token;
    held = providerTokens(tokens);
  } catch (err) {
    const { status, reason } = classify(err);
    trail.push({ check: 'token', ok: false, detail: reason });
    return { ok: false, status, reason, trail, detail: safeDetail(err) };
  }
  trail.push({ check: 'token', ok: true, detail: 'code exchanged for an access token' });
  let answer: unknown;
  try {
    const tokenInPath = config.userinfoURL.includes('{accessToken}');
    const url = new URL(config.userinfoURL.replace('{accessToken}', encodeURIComponent(accessToken)));
    const res = tokenInPath
      ? await boundedFetch(url.href, { method: 'GET', headers: { accept: 'application/json' }, redirect: 'manual', body: undefined } as never)
      : await fetchProtectedResource(config.client, accessToken, url, 'GET', undefined, new Headers({ accept: 'application/json' }));
    if (res.status !== 200) {
      trail.push({ check: 'userinfo', ok: false, detail: `HTTP ${res.status}` });
      return { ok: false, status: res.status >= 500 ? 503 : 401, reason: res.status >= 500 ? 'ProviderUnavailable' : 'UserInfoInvalid', trail };
    }
    answer = await res.json();
  } catch (err) {
    const { status, reason } = classify(err);
    trail.push({ check: 'userinfo', ok: false, detail: reason });
    return { ok: false, status: status === 503 ? 503 : 401, reason: status === 503 ? 'ProviderUnavailable' : 'UserInfoInvalid', trail, detail: safeDetail(err) };
  }
  const user = identityAt(answer, config.identityField);
  if (user === undefined) {
    trail.push({ check: 'identity', ok: false, detail: `no string at ${config.identityField}` });
    return { ok: false, status: 401, reason: 'IdentityClaimMissing', trail };
  }
  trail.push({ check: 'identity', ok: true, detail: `user from ${config.identityField}` });
  const flat = loggedClaims(typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as Record<string, unknown>) : {});
  return { ok: true, user, sub: user, ...(/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(user) ? { email: user } : {}), claims: flat, trail, ...(held ? { tokens: held } : {}) };
}
