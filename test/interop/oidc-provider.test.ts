// OIDC sign-in against a real OpenID Provider: `oidc-provider` (a certified
// OP) on loopback, its own login and consent forms submitted over HTTP, and a
// real standalone operator (directory store, controller, fastify). No mocks:
// browser -> operator -> provider -> operator's callback -> token endpoint.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { generateSigningIdentity } from '../../src/demo-idp/keys.ts';
import { privateKeyJWT } from '../../src/oidc/relying-party.ts';
import { stringify } from 'yaml';
import { BrowserClient } from '../support/browser-client.ts';
import { loginAtProvider, startOpenIdProvider, type TestOpenIdProvider } from '../support/oidc-provider.ts';
import type { StandaloneOperator } from '../../src/operator.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

const NS = 'default';
const NAME = 'op';

function manifests(op: TestOpenIdProvider, extra: Record<string, unknown> = {}): Record<string, string> {
  return {
    'secret.yaml': stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-client', namespace: NS }, stringData: { secret: op.clientSecret } }),
    'connector.yaml': stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name: NAME, namespace: NS },
      spec: { protocol: 'OIDC', oidc: { issuer: op.issuer, clientID: op.clientID, clientSecretRef: { name: 'op-client', key: 'secret' }, ...extra } },
    }),
    'bindings.yaml': ['alice@example.com', 'unverified@example.com']
      .map((user, i) => stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: `u${i}`, namespace: NS }, spec: { user, connectors: [NAME], groups: ['team'] } }))
      .join('---\n'),
  };
}

describe('OIDC connector with a real OpenID Provider (oidc-provider)', () => {
  jest.setTimeout(60_000);
  let operator: TestOperator;
  let provider: TestOpenIdProvider;
  const loginURL = (rd = '/app') => `${operator.baseURL}/oidc/${NS}/${NAME}/login?rd=${encodeURIComponent(rd)}`;

  beforeAll(async () => {
    operator = await startTestOperator();
    provider = await startOpenIdProvider({
      redirectURIs: [`${operator.baseURL}/oidc/${NS}/${NAME}/callback`],
      postLogoutRedirectURIs: [`${operator.baseURL}/oidc/${NS}/${NAME}/logged-out`],
      backchannelLogoutURI: `${operator.baseURL}/oidc/${NS}/${NAME}/backchannel-logout`,
    });
    provider.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['op-admins'] });
    provider.accounts.set('unverified', { sub: 'unverified', email: 'unverified@example.com', email_verified: false });
    provider.accounts.set('carol', { sub: 'carol', email: 'carol@example.com', email_verified: true });
    for (const [file, yaml] of Object.entries(manifests(provider))) await operator.writeManifest(file, yaml);
    // Ready once discovery is in: the login route answers with a redirect to the provider.
    await waitFor(async () => (await fetch(loginURL(), { redirect: 'manual' })).status === 302, 15_000, 50);
  });

  afterAll(async () => {
    await operator?.stop();
    await provider?.stop();
  });

  it('signs alice in: provider login and consent, callback, session cookie, /auth/verify headers', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL('/app'), 'alice');
    const url = new URL(callback);
    assert.equal(url.origin + url.pathname, `${operator.baseURL}/oidc/${NS}/${NAME}/callback`);
    assert.ok(url.searchParams.get('code'), 'an authorization code');
    assert.equal(url.searchParams.get('iss'), provider.issuer, 'the provider sends iss (RFC 9207)');
    const back = await browser.get(callback, { followRedirects: false });
    assert.equal(back.status, 303, operator.rawLogs().split('\n').filter((l) => l.includes('OIDC callback')).join('\n'));
    assert.equal(back.headers.get('location'), '/app');
    const session = browser.cookies.get(operator.baseURL, 'sso_session');
    assert.ok(session, 'a session cookie');
    const verify = await fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${session}` } });
    assert.equal(verify.status, 200);
    assert.equal(verify.headers.get('x-auth-request-user'), 'alice@example.com');
    assert.equal(verify.headers.get('x-auth-request-email'), 'alice@example.com');
    assert.equal(verify.headers.get('x-auth-request-groups'), 'team');
    // The login log names the user and the checks, never a code or token.
    const logs = operator.rawLogs();
    assert.match(logs, /"reason":"Success"/);
    assert.doesNotMatch(logs, new RegExp(url.searchParams.get('code')!));
    assert.doesNotMatch(logs, new RegExp(provider.clientSecret));
  });

  it('a callback used twice is refused: the state is spent (401 StateMismatch)', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL(), 'alice');
    assert.equal((await browser.get(callback, { followRedirects: false })).status, 303);
    const again = await browser.get(callback, { followRedirects: false });
    assert.equal(again.status, 401);
    assert.match(again.body, /StateMismatch/);
  });

  it('a code replayed under a fresh state is refused by the provider (401 CodeExchangeFailed)', async () => {
    const browser = new BrowserClient();
    const first = await loginAtProvider(browser, loginURL(), 'alice');
    assert.equal((await browser.get(first.callback, { followRedirects: false })).status, 303);
    // A new login in the same browser: a fresh state in the cookie, and the old code put under it.
    const second = await browser.get(loginURL(), { followRedirects: false });
    const state = new URL(second.headers.get('location')!).searchParams.get('state')!;
    const replay = new URL(first.callback);
    replay.searchParams.set('state', state);
    const res = await browser.get(replay.href, { followRedirects: false });
    assert.equal(res.status, 401);
    assert.match(res.body, /CodeExchangeFailed/);
  });

  it('a callback whose state this browser never started is refused before the provider is asked (401 StateMismatch)', async () => {
    const victim = new BrowserClient();
    const { callback } = await loginAtProvider(victim, loginURL(), 'alice');
    // An attacker's code and state, pushed into another browser (login CSRF).
    const other = new BrowserClient();
    const res = await other.get(callback, { followRedirects: false });
    assert.equal(res.status, 401);
    assert.match(res.body, /StateMismatch/);
    assert.equal(other.cookies.get(operator.baseURL, 'sso_session'), undefined);
    const noState = await other.get(`${operator.baseURL}/oidc/${NS}/${NAME}/callback?code=x`, { followRedirects: false });
    assert.equal(noState.status, 401);
  });

  it('an iss parameter naming another issuer is refused (401 IssuerMismatch, a mix-up)', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL(), 'alice');
    const forged = new URL(callback);
    forged.searchParams.set('iss', 'https://evil.example.com');
    const res = await browser.get(forged.href, { followRedirects: false });
    assert.equal(res.status, 401);
    assert.match(res.body, /IssuerMismatch/, operator.rawLogs().split('\n').filter((l) => l.includes('OIDC callback')).join('\n'));
  });

  it('an unverified email is refused (401 EmailNotVerified), an unbound user gets 403 BindingNotActive', async () => {
    const b1 = new BrowserClient();
    const r1 = await b1.get((await loginAtProvider(b1, loginURL(), 'unverified')).callback, { followRedirects: false });
    assert.equal(r1.status, 401);
    assert.match(r1.body, /EmailNotVerified/);
    const b2 = new BrowserClient();
    const r2 = await b2.get((await loginAtProvider(b2, loginURL(), 'carol')).callback, { followRedirects: false });
    assert.equal(r2.status, 403);
    assert.match(r2.body, /BindingNotActive/);
    assert.equal(b2.cookies.get(operator.baseURL, 'sso_session'), undefined);
  });

  it('the login refuses an open redirect (400), and the SAML routes do not serve an OIDC connector (404)', async () => {
    const res = await fetch(loginURL('https://evil.example.com/'), { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal((await fetch(`${operator.baseURL}/saml/${NS}/${NAME}/metadata`)).status, 404);
  });

  it('status: Ready with discovery and credentials, the callback URL to register, and /auth/start leads to the provider', async () => {
    const status = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions: { type: string; status: string; reason: string }[]; callbackURL: string; issuer: string; loginURL: string };
    const byType = Object.fromEntries(status.conditions.map((c) => [c.type, `${c.status} ${c.reason}`]));
    assert.equal(byType.Ready, 'True Serving');
    assert.equal(byType.OIDCDiscoverySucceeded, 'True Discovered');
    assert.equal(byType.ClientCredentialsValid, 'True SecretFound');
    assert.equal(status.callbackURL, `${operator.baseURL}/oidc/${NS}/${NAME}/callback`);
    assert.equal(status.issuer, provider.issuer);
    const start = await fetch(`${operator.baseURL}/auth/start?rd=%2Fapp&connector=${NS}/${NAME}`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    assert.equal(start.headers.get('location'), `/oidc/${NS}/${NAME}/login?rd=%2Fapp`);
  });

  it('sign out: the session ends here, then at the provider (RP-initiated logout), and the browser lands on rd', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL(), 'alice');
    assert.equal((await browser.get(callback, { followRedirects: false })).status, 303);
    const session = browser.cookies.get(operator.baseURL, 'sso_session')!;
    const out = await browser.postForm(`${operator.baseURL}/auth/logout?rd=%2Fbye`, {}, { followRedirects: false });
    assert.equal(out.status, 303);
    const endSession = new URL(out.headers.get('location')!);
    assert.equal(endSession.origin, provider.issuer);
    assert.equal(endSession.searchParams.get('client_id'), provider.clientID);
    assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${operator.baseURL}/oidc/${NS}/${NAME}/logged-out`);
    // The session is over here already, whatever the provider does.
    assert.equal((await fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${session}` } })).status, 401);
    // The provider asks to confirm; confirming ends its session and sends the browser back.
    const confirm = await browser.get(endSession.href);
    assert.equal(confirm.status, 200);
    let res = await browser.submitForm(confirm, { logout: 'yes' }, { followRedirects: false });
    while ([302, 303].includes(res.status) && new URL(res.headers.get('location')!, res.url).origin === provider.issuer) res = await browser.get(new URL(res.headers.get('location')!, res.url).href, { followRedirects: false });
    const back = new URL(res.headers.get('location')!, res.url);
    assert.equal(`${back.origin}${back.pathname}`, `${operator.baseURL}/oidc/${NS}/${NAME}/logged-out`);
    const landed = await browser.get(back.href, { followRedirects: false });
    assert.equal(landed.status, 303);
    assert.equal(landed.headers.get('location'), '/bye');
    // The provider's session is gone too: the next login shows its login form again.
    const again = await browser.get(loginURL(), { followRedirects: true });
    assert.match(again.body, /name="login"/);
    // The same way back a second time (or from another browser) is no redirect.
    const replay = await browser.get(back.href, { followRedirects: false });
    assert.equal(replay.status, 200);
  });

  it('back-channel logout: signing out at the provider ends the session here, and only that one', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL(), 'alice');
    await browser.get(callback, { followRedirects: false });
    const session = browser.cookies.get(operator.baseURL, 'sso_session')!;
    // Alice in another browser: another provider session, which stays.
    const other = new BrowserClient();
    await other.get((await loginAtProvider(other, loginURL(), 'alice')).callback, { followRedirects: false });
    const otherSession = other.cookies.get(operator.baseURL, 'sso_session')!;
    const verify = async (s: string) => (await fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${s}` } })).status;
    assert.equal(await verify(session), 200);
    // At the provider, not through /auth/logout: only the back channel can tell us.
    const end = await browser.get(`${provider.issuer}/session/end?client_id=${provider.clientID}`);
    await browser.submitForm(end, { logout: 'yes' }, { followRedirects: false });
    await waitFor(async () => (await verify(session)) === 401, 10_000, 50);
    assert.equal(await verify(otherSession), 200, 'the session of the other provider session goes on');
    assert.match(operator.rawLogs(), /"initiator":"idp","result":"success","reason":"Success","status":200,"revokedKeys":1,"msg":"logout"/);
  });

  it('a forged back-channel logout token ends nothing (400 with an OAuth error body)', async () => {
    const browser = new BrowserClient();
    await browser.get((await loginAtProvider(browser, loginURL(), 'alice')).callback, { followRedirects: false });
    const session = browser.cookies.get(operator.baseURL, 'sso_session')!;
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const forged = `${b64({ alg: 'none' })}.${b64({ iss: provider.issuer, aud: provider.clientID, sub: 'alice', iat: Math.floor(Date.now() / 1000), jti: 'x', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })}.`;
    const res = await fetch(`${operator.baseURL}/oidc/${NS}/${NAME}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: forged }) });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'invalid_request', error_description: 'AlgorithmNotAllowed' });
    assert.equal((await fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${session}` } })).status, 200);
  });

  it('a back-channel logout token sent twice is refused the second time (400 ReplayDetected)', async () => {
    const jwk = provider.keys[0]!;
    const token = await new SignJWT({ iss: provider.issuer, aud: provider.clientID, sub: 'nobody', jti: `replay-${Date.now()}`, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid!, typ: 'logout+jwt' })
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(await importJWK(jwk, 'RS256'));
    const post = () => fetch(`${operator.baseURL}/oidc/${NS}/${NAME}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
    assert.equal((await post()).status, 200);
    const again = await post();
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { error: 'invalid_request', error_description: 'ReplayDetected' });
  });

  it('a cross-site GET of /auth/logout ends the session here only (no trip to the provider)', async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, loginURL(), 'alice');
    await browser.get(callback, { followRedirects: false });
    const out = await browser.get(`${operator.baseURL}/auth/logout`, { followRedirects: false, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), '/');
  });

  it('a disabled connector answers 404; a missing client secret leaves it Ready=False SecretKeyNotFound and logins 503', async () => {
    const m = manifests(provider);
    await operator.writeManifest('connector.yaml', m['connector.yaml']!.replace('protocol: OIDC', 'protocol: OIDC\n  enabled: false'));
    await waitFor(async () => (await fetch(loginURL(), { redirect: 'manual' })).status === 404, 10_000, 50);
    await operator.writeManifest('connector.yaml', m['connector.yaml']!.replace("key: secret", 'key: missing'));
    await waitFor(async () => (await fetch(loginURL(), { redirect: 'manual' })).status === 503, 10_000, 50);
    const status = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions: { type: string; status: string; reason: string }[] };
    assert.equal(status.conditions.find((c) => c.type === 'Ready')?.reason, 'SecretKeyNotFound');
    await operator.writeManifest('connector.yaml', m['connector.yaml']!);
    await waitFor(async () => (await fetch(loginURL(), { redirect: 'manual' })).status === 302, 10_000, 50);
  });
});

describe('OIDC connector authenticating with private_key_jwt (a kubernetes.io/tls Secret)', () => {
  jest.setTimeout(60_000);
  let operator: TestOperator;
  let provider: TestOpenIdProvider;

  afterAll(async () => {
    await operator?.stop();
    await provider?.stop();
  });

  it('signs in with a client assertion signed by the key (no client secret); status names the key id; a key the provider does not know is refused', async () => {
    operator = await startTestOperator();
    const identity = await generateSigningIdentity({ commonName: 'oidc client', days: 30 });
    const client = privateKeyJWT(createPrivateKey(identity.keyPem));
    assert.ok(!('problem' in client));
    const publicJwk = { ...(createPublicKey(identity.keyPem).export({ format: 'jwk' }) as JWK), kid: 'kid' in client ? client.kid : '', alg: 'RS256', use: 'sig' };
    provider = await startOpenIdProvider({ redirectURIs: [`${operator.baseURL}/oidc/${NS}/${NAME}/callback`], clientJwks: [publicJwk] });
    provider.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true });
    const m = manifests(provider);
    await operator.writeManifest('bindings.yaml', m['bindings.yaml']!);
    await operator.writeManifest('key.yaml', stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-key', namespace: NS }, type: 'kubernetes.io/tls', stringData: { 'tls.key': identity.keyPem, 'tls.crt': identity.certPem } }));
    await operator.writeManifest('connector.yaml', stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name: NAME, namespace: NS },
      spec: { protocol: 'OIDC', oidc: { issuer: provider.issuer, clientID: provider.clientID, privateKeyJWTSecretRef: { name: 'op-key' } } },
    }));
    const loginURL = `${operator.baseURL}/oidc/${NS}/${NAME}/login?rd=%2Fapp`;
    await waitFor(async () => (await fetch(loginURL, { redirect: 'manual' })).status === 302, 15_000, 50);
    const status = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { clientKeyID?: string; conditions: { type: string; status: string; reason: string }[] };
    assert.equal(status.clientKeyID, publicJwk.kid);
    assert.equal(status.conditions.find((c) => c.type === 'ClientCredentialsValid')?.reason, 'ClientKeyLoaded');
    const browser = new BrowserClient();
    const res = await browser.get((await loginAtProvider(browser, loginURL, 'alice')).callback, { followRedirects: false });
    assert.equal(res.status, 303, res.body.slice(0, 300));
    // Another key in the Secret: the provider refuses the assertion.
    const other = await generateSigningIdentity({ commonName: 'other client', days: 30 });
    await operator.writeManifest('key.yaml', stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-key', namespace: NS }, type: 'kubernetes.io/tls', stringData: { 'tls.key': other.keyPem, 'tls.crt': other.certPem } }));
    await waitFor(() => ((operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { clientKeyID?: string }).clientKeyID !== publicJwk.kid, 10_000, 50);
    const b2 = new BrowserClient();
    const refused = await b2.get((await loginAtProvider(b2, loginURL, 'alice')).callback, { followRedirects: false });
    assert.equal(refused.status, 503);
    assert.match(refused.body, /ClientAuthenticationFailed/);
  });

  it('a key too weak or not matching its certificate leaves the connector Ready=False ClientKeyInvalid', async () => {
    const a = await generateSigningIdentity({ commonName: 'a', days: 30 });
    const b = await generateSigningIdentity({ commonName: 'b', days: 30 });
    await operator.writeManifest('key.yaml', stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-key', namespace: NS }, type: 'kubernetes.io/tls', stringData: { 'tls.key': a.keyPem, 'tls.crt': b.certPem } }));
    await waitFor(() => ((operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions: { type: string; reason: string }[] }).conditions.find((c) => c.type === 'Ready')?.reason === 'ClientKeyInvalid', 10_000, 50);
    const s = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions: { type: string; message: string }[] };
    assert.match(s.conditions.find((c) => c.type === 'ClientCredentialsValid')!.message, /does not match the private key/);
    assert.doesNotMatch(JSON.stringify(s), /PRIVATE KEY/);
    assert.equal((await fetch(`${operator.baseURL}/oidc/${NS}/${NAME}/login`, { redirect: 'manual' })).status, 503);
  });
});

describe('OAuth2 Generic connector against the same real provider (no OpenID Connect: the user from its user-info endpoint)', () => {
  jest.setTimeout(60_000);
  let operator: TestOperator;
  let provider: TestOpenIdProvider;

  afterAll(async () => {
    await operator?.stop();
    await provider?.stop();
  });

  it('signs in through the authorization, token and user-info endpoints; the user is at identityField; the unbound are refused', async () => {
    operator = await startTestOperator();
    provider = await startOpenIdProvider({ redirectURIs: [`${operator.baseURL}/oauth2/${NS}/gen/callback`], clientSecretMethod: 'client_secret_post' });
    provider.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true });
    provider.accounts.set('carol', { sub: 'carol', email: 'carol@example.com', email_verified: true });
    await operator.writeManifest('secret.yaml', stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'gen-client', namespace: NS }, stringData: { secret: provider.clientSecret } }));
    await operator.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: 'alice@example.com', connectors: ['gen'] } }));
    await operator.writeManifest('connector.yaml', stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name: 'gen', namespace: NS },
      spec: {
        protocol: 'OAuth2',
        oauth2: {
          provider: 'Generic',
          authorizationURL: `${provider.issuer}/auth`,
          tokenURL: `${provider.issuer}/token`,
          userinfoURL: `${provider.issuer}/me`,
          identityField: 'email',
          clientID: provider.clientID,
          clientSecretRef: { name: 'gen-client', key: 'secret' },
          // oidc-provider serves its user-info endpoint only to tokens with the openid scope.
          scopes: ['openid', 'email'],
        },
      },
    }));
    const loginURL = `${operator.baseURL}/oauth2/${NS}/gen/login?rd=%2Fapp`;
    await waitFor(async () => (await fetch(loginURL, { redirect: 'manual' })).status === 302, 15_000, 50);
    const status = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, 'gen') as { conditions: { type: string; status: string; reason: string }[]; callbackURL: string };
    assert.equal(status.conditions.find((c) => c.type === 'EndpointsValid')?.reason, 'EndpointsKnown');
    assert.equal(status.callbackURL, `${operator.baseURL}/oauth2/${NS}/gen/callback`);
    const start = await fetch(loginURL, { redirect: 'manual' });
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.searchParams.get('nonce'), null, 'no OpenID Connect nonce');
    const browser = new BrowserClient();
    const res = await browser.get((await loginAtProvider(browser, loginURL, 'alice')).callback, { followRedirects: false });
    assert.equal(res.status, 303, res.body.slice(0, 300));
    const session = browser.cookies.get(operator.baseURL, 'sso_session')!;
    const verify = await fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${session}` } });
    assert.equal(verify.status, 200);
    assert.equal(verify.headers.get('x-auth-request-user'), 'alice@example.com');
    assert.equal(verify.headers.get('x-auth-request-connector'), `${NS}/gen`);
    const b2 = new BrowserClient();
    const carol = await b2.get((await loginAtProvider(b2, loginURL, 'carol')).callback, { followRedirects: false });
    assert.equal(carol.status, 403);
    // The OIDC routes do not serve an OAuth2 connector.
    assert.equal((await fetch(`${operator.baseURL}/oidc/${NS}/gen/login`, { redirect: 'manual' })).status, 404);
  });

  it('Generic without its endpoints, or an http endpoint off loopback, is refused before anything is served', async () => {
    await operator.writeManifest('connector.yaml', stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name: 'gen', namespace: NS },
      spec: { protocol: 'OAuth2', oauth2: { provider: 'Generic', authorizationURL: 'http://op.example.com/auth', tokenURL: `${provider.issuer}/token`, userinfoURL: `${provider.issuer}/me`, identityField: 'email', clientID: 'x', clientSecretRef: { name: 'gen-client', key: 'secret' } } },
    }));
    await waitFor(async () => (await fetch(`${operator.baseURL}/oauth2/${NS}/gen/login`, { redirect: 'manual' })).status === 503, 10_000, 50);
    const problems = operator.operator.store.problems().map((p) => p.message).join(' ');
    assert.match(problems, /must be an https:\/\/ URL/);
  });
});

describe('OIDC connector whose provider is down', () => {
  let operator: TestOperator;

  beforeAll(async () => {
    operator = await startTestOperator();
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it('reports DiscoveryFailed with the reason and answers logins 503', async () => {
    // A port nothing listens on yet.
    const provider = await startOpenIdProvider({ redirectURIs: [`${operator.baseURL}/oidc/${NS}/${NAME}/callback`] });
    const issuer = provider.issuer;
    await provider.stop();
    for (const [file, yaml] of Object.entries(manifests({ ...provider, issuer }))) await operator.writeManifest(file, yaml);
    const loginURL = `${operator.baseURL}/oidc/${NS}/${NAME}/login`;
    await waitFor(() => {
      const s = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions?: { type: string; status: string; reason: string }[] } | undefined;
      return s?.conditions?.find((c) => c.type === 'OIDCDiscoverySucceeded' && c.status === 'False' && c.reason === 'DiscoveryFailed');
    }, 15_000, 50);
    const s = (operator.operator as StandaloneOperator).status.get('SsoConnector', NS, NAME) as { conditions: { type: string; status: string; reason: string; message: string }[] };
    assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'False');
    assert.match(s.conditions.find((c) => c.type === 'OIDCDiscoverySucceeded')!.message, /ECONNREFUSED|fetch failed/);
    assert.equal((await fetch(loginURL, { redirect: 'manual' })).status, 503);
  });
});
