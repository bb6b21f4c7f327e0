// Every ID token check of the OIDC callback, one test each with its reason
// code. A small local token endpoint hands out ID tokens crafted per case
// (a fake provider is fine here: the real one, oidc-provider, is in
// test/interop/oidc-provider.test.ts and never issues a bad token).

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { buildClient, classify, completeCallback, pkceVerifier, type OidcConnectorConfig } from '../../../src/oidc/relying-party.ts';

const CLIENT_ID = 'app';
const CLIENT_SECRET = 'client-secret-of-some-length-0123456789abcdef';
const STATE_KEY = new Uint8Array(32).fill(7);
const SID = 'state-id-1';
const NONCE = 'nonce-1';

interface TokenCase {
  /** The ID token the token endpoint answers with. */
  idToken?: string;
  tokenStatus?: number;
  tokenError?: string;
  userinfo?: Record<string, unknown>;
}

describe('OIDC callback: ID token checks (openid-client) and ours', () => {
  let server: Server;
  let issuer: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let jwk: JWK;
  let next: TokenCase = {};
  let tokenRequests: URLSearchParams[] = [];

  beforeAll(async () => {
    ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
    ({ privateKey: otherKey } = await generateKeyPair('RS256', { extractable: true }));
    const pub = await exportJWK(key);
    jwk = { kty: pub.kty, n: pub.n, e: pub.e, kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', issuer);
        res.setHeader('content-type', 'application/json');
        if (url.pathname === '/jwks') return res.end(JSON.stringify({ keys: [jwk] }));
        if (url.pathname === '/token') {
          tokenRequests.push(new URLSearchParams(body));
          res.statusCode = next.tokenStatus ?? 200;
          if (res.statusCode !== 200) return res.end(JSON.stringify({ error: next.tokenError ?? 'invalid_grant' }));
          return res.end(JSON.stringify({ access_token: 'at-1', token_type: 'Bearer', expires_in: 300, ...(next.idToken ? { id_token: next.idToken } : {}) }));
        }
        if (url.pathname === '/userinfo') return res.end(JSON.stringify(next.userinfo ?? {}));
        res.statusCode = 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function connector(extra: { userinfo?: boolean; authorizeParameters?: Record<string, string> } = {}): OidcConnectorConfig {
    const metadata = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      ...(extra.userinfo ? { userinfo_endpoint: `${issuer}/userinfo` } : {}),
    };
    return {
      key: 'ns/app',
      issuer,
      clientID: CLIENT_ID,
      callbackURL: 'http://127.0.0.1:8080/oidc/ns/app/callback',
      logoutCallbackURL: 'http://127.0.0.1:8080/oidc/ns/app/logged-out',
      scopes: ['openid', 'email'],
      usernameClaim: 'email',
      idTokenAlg: 'RS256',
      authorizeParameters: extra.authorizeParameters ?? {},
      clockSkewSeconds: 60,
      client: buildClient({ metadata, clientID: CLIENT_ID, credentials: { clientSecret: CLIENT_SECRET }, clockSkewSeconds: 60 }),
      logoutKeys: createRemoteJWKSet(new URL(`${issuer}/jwks`)),
    };
  }

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({ iss: issuer, aud: CLIENT_ID, sub: 'user-1', nonce: NONCE, iat: now(), exp: now() + 300, email: 'alice@example.com', email_verified: true, ...over });
  const sign = (payload: Record<string, unknown>, opts: { alg?: string; kid?: string; key?: CryptoKey | Uint8Array } = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? 'k1' }).sign(opts.key ?? key);

  async function callback(c: TokenCase, query: Record<string, string> = {}, cfg = connector()) {
    next = c;
    const url = new URL(cfg.callbackURL);
    for (const [k, v] of Object.entries({ code: 'code-1', state: SID, iss: issuer, ...query })) url.searchParams.set(k, v);
    return completeCallback(cfg, url, { sid: SID, nonce: NONCE, stateKey: STATE_KEY });
  }

  async function refused(c: TokenCase, reason: string, status = 401, query: Record<string, string> = {}, cfg = connector()) {
    const r = await callback(c, query, cfg);
    assert.equal(r.ok, false, `${reason}: accepted`);
    if (!r.ok) {
      assert.equal(r.reason, reason, r.detail);
      assert.equal(r.status, status);
    }
  }

  it('accepts a good ID token, and sends the code with the PKCE verifier derived from the state id', async () => {
    tokenRequests = [];
    const r = await callback({ idToken: await sign(claims()) });
    assert.equal(r.ok, true, JSON.stringify(r));
    if (r.ok) {
      assert.equal(r.user, 'alice@example.com');
      assert.equal(r.email, 'alice@example.com');
    }
    assert.equal(tokenRequests[0]?.get('code_verifier'), pkceVerifier(STATE_KEY, SID));
    assert.equal(tokenRequests[0]?.get('redirect_uri'), 'http://127.0.0.1:8080/oidc/ns/app/callback');
    assert.notEqual(pkceVerifier(STATE_KEY, SID), pkceVerifier(STATE_KEY, 'state-id-2'));
    assert.notEqual(pkceVerifier(STATE_KEY, SID), pkceVerifier(new Uint8Array(32).fill(8), SID));
  });

  it('wrong nonce: NonceMismatch', async () => refused({ idToken: await sign(claims({ nonce: 'other' })) }, 'NonceMismatch'));
  it('no nonce: NonceMismatch', async () => {
    const { nonce: _n, ...rest } = claims();
    await refused({ idToken: await sign(rest) }, 'NonceMismatch');
  });
  it('expired beyond the clock skew: IdTokenExpired', async () => refused({ idToken: await sign(claims({ iat: now() - 900, exp: now() - 120 })) }, 'IdTokenExpired'));
  it('expired within the clock skew: accepted', async () => assert.equal((await callback({ idToken: await sign(claims({ exp: now() - 30 })) })).ok, true));
  it('not valid yet (nbf in the future beyond the skew): IdTokenNotYetValid', async () => refused({ idToken: await sign(claims({ nbf: now() + 600 })) }, 'IdTokenNotYetValid'));
  it('alg none: AlgorithmNotAllowed', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    await refused({ idToken: `${b64({ alg: 'none' })}.${b64(claims())}.` }, 'AlgorithmNotAllowed');
  });
  it('HS256 signed with the client secret where RS256 is expected: AlgorithmNotAllowed', async () =>
    refused({ idToken: await sign(claims(), { alg: 'HS256', key: new TextEncoder().encode(CLIENT_SECRET) }) }, 'AlgorithmNotAllowed'));
  it('a kid the JWKS does not have: KeyNotFound', async () => refused({ idToken: await sign(claims(), { kid: 'unknown' }) }, 'KeyNotFound'));
  it('signed by another key under a known kid: SignatureInvalid', async () => refused({ idToken: await sign(claims(), { key: otherKey }) }, 'SignatureInvalid'));
  it('audience of another client: AudienceMismatch', async () => refused({ idToken: await sign(claims({ aud: 'other-client' })) }, 'AudienceMismatch'));
  it('azp naming another client: AudienceMismatch', async () => refused({ idToken: await sign(claims({ aud: [CLIENT_ID, 'other'], azp: 'other' })) }, 'AudienceMismatch'));
  it('azp naming another client with a single audience (openid-client lets it pass): AudienceMismatch', async () =>
    refused({ idToken: await sign(claims({ aud: CLIENT_ID, azp: 'other' })) }, 'AudienceMismatch'));
  it('iat in the future beyond the skew (openid-client lets it pass): IdTokenNotYetValid', async () => refused({ idToken: await sign(claims({ iat: now() + 3600, exp: now() + 7200 })) }, 'IdTokenNotYetValid'));
  it('acr_values asked for but another acr (or none) in the token: AcrNotSatisfied', async () => {
    const cfg = connector({ authorizeParameters: { acr_values: 'urn:mfa phr' } });
    await refused({ idToken: await sign(claims({ acr: 'urn:password' })) }, 'AcrNotSatisfied', 401, {}, cfg);
    await refused({ idToken: await sign(claims()) }, 'AcrNotSatisfied', 401, {}, cfg);
    assert.equal((await callback({ idToken: await sign(claims({ acr: 'phr' })) }, {}, cfg)).ok, true);
  });
  it('hd asked for but another hosted domain in the token: HostedDomainMismatch', async () => {
    const cfg = connector({ authorizeParameters: { hd: 'example.com' } });
    await refused({ idToken: await sign(claims({ hd: 'evil.example' })) }, 'HostedDomainMismatch', 401, {}, cfg);
    assert.equal((await callback({ idToken: await sign(claims({ hd: 'example.com' })) }, {}, cfg)).ok, true);
  });
  it('max_age asked for: an auth_time too old, or none, is refused (AuthTimeTooOld)', async () => {
    const cfg = connector({ authorizeParameters: { max_age: '300' } });
    await refused({ idToken: await sign(claims({ auth_time: now() - 3600 })) }, 'AuthTimeTooOld', 401, {}, cfg);
    await refused({ idToken: await sign(claims()) }, 'AuthTimeTooOld', 401, {}, cfg);
    assert.equal((await callback({ idToken: await sign(claims({ auth_time: now() - 10 })) }, {}, cfg)).ok, true);
  });
  it('an email_verified from UserInfo about another address does not verify the ID token\'s email: EmailNotVerified', async () => {
    const { email_verified: _v, ...rest } = claims();
    await refused({ idToken: await sign(rest), userinfo: { sub: 'user-1', email: 'other@example.com', email_verified: true } }, 'EmailNotVerified', 401, {}, connector({ userinfo: true }));
  });
  it('iss claim of another issuer: IssuerMismatch', async () => refused({ idToken: await sign(claims({ iss: 'https://evil.example.com' })) }, 'IssuerMismatch'));
  it('iss response parameter of another issuer: IssuerMismatch', async () => refused({ idToken: await sign(claims()) }, 'IssuerMismatch', 401, { iss: 'https://evil.example.com' }));
  it('state in the response differs from the login: StateMismatch', async () => refused({ idToken: await sign(claims()) }, 'StateMismatch', 401, { state: 'other' }));
  it('an error answer from the provider: ProviderError', async () => refused({}, 'ProviderError', 401, { error: 'access_denied' }));
  it('the token endpoint refuses the code (used before): CodeExchangeFailed', async () => refused({ tokenStatus: 400 }, 'CodeExchangeFailed'));
  it('the provider refuses our client secret: ClientAuthenticationFailed (503)', async () => refused({ tokenStatus: 401, tokenError: 'invalid_client' }, 'ClientAuthenticationFailed', 503));
  it('no ID token in the token answer: IdTokenMissing', async () => refused({}, 'IdTokenMissing'));
  it('email not verified: EmailNotVerified', async () => refused({ idToken: await sign(claims({ email_verified: false })) }, 'EmailNotVerified'));
  it('no email claim (and no UserInfo endpoint): IdentityClaimMissing', async () => {
    const { email: _e, ...rest } = claims();
    await refused({ idToken: await sign(rest) }, 'IdentityClaimMissing');
  });
  it('claims read from UserInfo when the ID token lacks them; a UserInfo answer for another sub: UserInfoInvalid', async () => {
    const { email: _e, email_verified: _v, ...rest } = claims();
    const idToken = await sign(rest);
    const ok = await callback({ idToken, userinfo: { sub: 'user-1', email: 'bob@example.com', email_verified: true } }, {}, connector({ userinfo: true }));
    assert.equal(ok.ok && ok.user, 'bob@example.com');
    await refused({ idToken, userinfo: { sub: 'someone-else', email: 'mallory@example.com', email_verified: true } }, 'UserInfoInvalid', 401, {}, connector({ userinfo: true }));
  });
  it('the provider does not answer: ProviderUnavailable (503)', async () => {
    const cfg = connector();
    const down = { ...cfg, client: buildClient({ metadata: { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: 'http://127.0.0.1:1/token', jwks_uri: `${issuer}/jwks` }, clientID: CLIENT_ID, credentials: { clientSecret: CLIENT_SECRET }, clockSkewSeconds: 60 }) };
    await refused({}, 'ProviderUnavailable', 503, {}, down);
  });
  it('key rotation: a new kid is looked up in a fresh JWKS, at most once a minute, without a restart', async () => {
    const cfg = connector();
    assert.equal((await callback({ idToken: await sign(claims()) }, {}, cfg)).ok, true, 'k1 signs; the JWKS is fetched and cached');
    // The provider publishes k2 and signs with it at once.
    const { privateKey: k2 } = await generateKeyPair('RS256', { extractable: true });
    const pub2 = await exportJWK(k2);
    const old = jwk;
    jwk = { kty: pub2.kty, n: pub2.n, e: pub2.e, kid: 'k2', alg: 'RS256', use: 'sig' };
    try {
      // Within a minute of the last fetch the cached key set stands (no refetch storm from forged kids).
      await refused({ idToken: await sign(claims(), { kid: 'k2', key: k2 }) }, 'KeyNotFound', 401, {}, cfg);
      // A minute later an unknown kid refetches the key set, and the login goes through.
      jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
      jest.setSystemTime(Date.now() + 61_000);
      const r = await callback({ idToken: await sign(claims(), { kid: 'k2', key: k2 }) }, {}, cfg);
      assert.equal(r.ok, true, JSON.stringify(r));
    } finally {
      jest.useRealTimers();
      jwk = old;
    }
  });

  it('classify() never throws and says IdTokenInvalid for anything unknown', () => {
    expect(classify(undefined)).toEqual({ status: 401, reason: 'IdTokenInvalid' });
    expect(classify({ code: 'OAUTH_SOMETHING_NEW' })).toEqual({ status: 401, reason: 'IdTokenInvalid' });
  });
});
