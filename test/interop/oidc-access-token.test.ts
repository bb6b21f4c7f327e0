// session.passAccessToken against a real OpenID Provider (oidc-provider):
// forward-auth hands the provider's access token to the application, the
// token works at the provider, it is refreshed with a (rotating) refresh
// token before it expires, it is revoked at the provider on logout, and a
// refresh the provider refuses ends the app's access. Short access-token
// lifetimes (4 s: refreshed 2 s before expiry) keep the waits short.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { BrowserClient } from '../support/browser-client.ts';
import { loginAtProvider, startOpenIdProvider, type TestOpenIdProvider } from '../support/oidc-provider.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

const NS = 'default';

function manifests(op: TestOpenIdProvider, users: string[], connectors: Record<string, Record<string, unknown>>): Record<string, string> {
  const docs: Record<string, string> = {
    'secret.yaml': stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-client', namespace: NS }, stringData: { secret: op.clientSecret } }),
    'bindings.yaml': users
      .map((user, i) => stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: `u${i}`, namespace: NS }, spec: { user, connectors: Object.keys(connectors) } }))
      .join('---\n'),
  };
  for (const [name, spec] of Object.entries(connectors)) {
    docs[`${name}.yaml`] = stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', metadata: { name, namespace: NS }, spec });
  }
  return docs;
}

/** What the provider says about an access token: its UserInfo answer's status (200 while the token is good). */
async function userinfoStatus(op: TestOpenIdProvider, token: string): Promise<number> {
  const res = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

async function signIn(operator: TestOperator, loginURL: string, login: string): Promise<string> {
  const browser = new BrowserClient();
  const back = await browser.get((await loginAtProvider(browser, loginURL, login)).callback, { followRedirects: false });
  assert.equal(back.status, 303, back.body.slice(0, 300));
  return browser.cookies.get(operator.baseURL, 'sso_session')!;
}

const verify = (operator: TestOperator, session: string) => fetch(`${operator.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${session}` } });

describe('session.passAccessToken with a real OpenID Provider (oidc-provider)', () => {
  jest.setTimeout(60_000);
  let operator: TestOperator;
  let provider: TestOpenIdProvider;
  const oidcLogin = () => `${operator.baseURL}/oidc/${NS}/op/login?rd=%2Fapp`;
  const plainLogin = () => `${operator.baseURL}/oidc/${NS}/plain/login?rd=%2Fapp`;
  const oauth2Login = () => `${operator.baseURL}/oauth2/${NS}/gen/login?rd=%2Fapp`;

  beforeAll(async () => {
    operator = await startTestOperator();
    provider = await startOpenIdProvider({
      redirectURIs: [`${operator.baseURL}/oidc/${NS}/op/callback`, `${operator.baseURL}/oidc/${NS}/plain/callback`, `${operator.baseURL}/oauth2/${NS}/gen/callback`],
      postLogoutRedirectURIs: [`${operator.baseURL}/oidc/${NS}/op/logged-out`],
      accessTokenTTL: 4,
      refreshTokens: true,
    });
    for (const who of ['alice', 'bob', 'dave']) provider.accounts.set(who, { sub: who, email: `${who}@example.com`, email_verified: true });
    const oidc = { issuer: provider.issuer, clientID: provider.clientID, clientSecretRef: { name: 'op-client', key: 'secret' } };
    const docs = manifests(provider, ['alice@example.com', 'bob@example.com', 'dave@example.com'], {
      op: { protocol: 'OIDC', session: { passAccessToken: true }, oidc },
      plain: { protocol: 'OIDC', oidc },
      gen: {
        protocol: 'OAuth2',
        session: { passAccessToken: true },
        oauth2: {
          provider: 'Generic',
          authorizationURL: `${provider.issuer}/auth`,
          tokenURL: `${provider.issuer}/token`,
          userinfoURL: `${provider.issuer}/me`,
          revocationURL: `${provider.issuer}/token/revocation`,
          identityField: 'email',
          clientID: provider.clientID,
          clientSecretRef: { name: 'op-client', key: 'secret' },
          scopes: ['openid', 'email'],
        },
      },
    });
    for (const [file, yaml] of Object.entries(docs)) await operator.writeManifest(file, yaml);
    for (const url of [oidcLogin(), plainLogin(), oauth2Login()]) await waitFor(async () => (await fetch(url, { redirect: 'manual' })).status === 302, 15_000, 50);
  });

  afterAll(async () => {
    await operator?.stop();
    await provider?.stop();
  });

  it('hands the provider token to the app, never to the browser or the log, refreshes it before it expires, and revokes it on logout', async () => {
    const session = await signIn(operator, oidcLogin(), 'alice');
    const first = await verify(operator, session);
    assert.equal(first.status, 200);
    const tokenA = first.headers.get('x-auth-request-access-token');
    assert.ok(tokenA, 'the access token header');
    assert.equal(first.headers.get('x-auth-request-user'), 'alice@example.com');
    assert.equal(await userinfoStatus(provider, tokenA), 200, 'a token the provider accepts');
    // The browser holds the session cookie only, whose payload carries the
    // sealing key but not the token; the log never shows the token.
    const payload = Buffer.from(session.split('.')[1]!, 'base64url').toString('utf8');
    assert.doesNotMatch(payload, new RegExp(tokenA));
    assert.match(payload, /"atk":"[A-Za-z0-9_-]{43}"/);
    assert.doesNotMatch(operator.rawLogs(), new RegExp(tokenA));
    // Within its lifetime the same token is passed (no call to the provider).
    assert.equal((await verify(operator, session)).headers.get('x-auth-request-access-token'), tokenA);

    // 2 s before its 4 s expiry the token is due: refreshed with the refresh token.
    await new Promise((r) => setTimeout(r, 2200));
    const second = await verify(operator, session);
    assert.equal(second.status, 200);
    const tokenB = second.headers.get('x-auth-request-access-token')!;
    assert.ok(tokenB && tokenB !== tokenA, 'a new token');
    assert.equal(await userinfoStatus(provider, tokenB), 200);
    // Once more: the provider rotated the refresh token, and the rotated one is used (the old one would end the grant).
    await new Promise((r) => setTimeout(r, 2200));
    const third = await verify(operator, session);
    assert.equal(third.status, 200, 'refreshed with the rotated refresh token');
    const tokenC = third.headers.get('x-auth-request-access-token')!;
    assert.ok(tokenC !== tokenB);
    assert.equal(await userinfoStatus(provider, tokenC), 200);
    const metrics = await (await fetch(`${operator.adminURL}/metrics`)).text();
    assert.match(metrics, /sso_access_token_refresh_total\{namespace="default",connector="op",result="Refreshed"\} 2/);
    assert.doesNotMatch(operator.rawLogs(), new RegExp(`${tokenB}|${tokenC}`));

    // Logout revokes the tokens at the provider (RFC 7009), in the background.
    const out = await fetch(`${operator.baseURL}/auth/logout`, { method: 'POST', headers: { cookie: `sso_session=${session}` }, redirect: 'manual' });
    assert.equal(out.status, 303);
    await waitFor(async () => (await userinfoStatus(provider, tokenC)) === 401, 5000, 50);
    assert.equal((await verify(operator, session)).status, 401);
    assert.match(operator.rawLogs(), /"outcome":"released","revokedAtProvider":true/);
  });

  it('OAuth2 (no OpenID Connect) passes and revokes its token the same way', async () => {
    const session = await signIn(operator, oauth2Login(), 'dave');
    const res = await verify(operator, session);
    assert.equal(res.status, 200);
    const token = res.headers.get('x-auth-request-access-token')!;
    assert.equal(await userinfoStatus(provider, token), 200);
    assert.equal(res.headers.get('x-auth-request-connector'), `${NS}/gen`);
    await fetch(`${operator.baseURL}/auth/logout`, { method: 'POST', headers: { cookie: `sso_session=${session}` }, redirect: 'manual' });
    await waitFor(async () => (await userinfoStatus(provider, token)) === 401, 5000, 50);
  });

  it('a refresh the provider refuses ends the app access: 401 AccessTokenRefreshFailed, and the user signs in again', async () => {
    const session = await signIn(operator, oidcLogin(), 'bob');
    assert.equal((await verify(operator, session)).status, 200);
    // The account is gone at the provider: its refresh tokens no longer work (invalid_grant).
    provider.accounts.delete('bob');
    await new Promise((r) => setTimeout(r, 2200));
    const res = await verify(operator, session);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-auth-request-access-token'), null);
    const metrics = await (await fetch(`${operator.adminURL}/metrics`)).text();
    assert.match(metrics, /sso_forward_auth_total\{result="denied",reason="AccessTokenRefreshFailed"\} 1/);
    assert.match(metrics, /sso_access_token_refresh_total\{namespace="default",connector="op",result="AccessTokenRefreshFailed"\} 1/);
    provider.accounts.set('bob', { sub: 'bob', email: 'bob@example.com', email_verified: true });
  });

  it('a connector without passAccessToken hands no token on, and a session from before it was turned on must sign in again', async () => {
    const session = await signIn(operator, plainLogin(), 'alice');
    const res = await verify(operator, session);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-auth-request-access-token'), null);
    assert.doesNotMatch(Buffer.from(session.split('.')[1]!, 'base64url').toString('utf8'), /"atk"/);
    // Turned on later: the app now needs a token this session never had.
    const oidc = { issuer: provider.issuer, clientID: provider.clientID, clientSecretRef: { name: 'op-client', key: 'secret' } };
    await operator.writeManifest('plain.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', metadata: { name: 'plain', namespace: NS }, spec: { protocol: 'OIDC', session: { passAccessToken: true }, oidc } }));
    await waitFor(async () => (await verify(operator, session)).status === 401, 10_000, 50);
    const metrics = await (await fetch(`${operator.adminURL}/metrics`)).text();
    assert.match(metrics, /sso_forward_auth_total\{result="denied",reason="AccessTokenMissing"\} [1-9]/);
    const again = await signIn(operator, plainLogin(), 'alice');
    assert.ok((await verify(operator, again)).headers.get('x-auth-request-access-token'));
  });
});
