// Admin test sign-in with a real OpenID Provider (oidc-provider): an admin
// listed in spec.access.admins runs /oidc/{ns}/{name}/test, signs in at the
// provider as another user, and gets the decision trail and the claims
// received instead of a session.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { BrowserClient } from '../support/browser-client.ts';
import { loginAtProvider, startOpenIdProvider, type TestOpenIdProvider } from '../support/oidc-provider.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

const NS = 'default';

describe('admin test sign-in with a real OpenID Provider', () => {
  jest.setTimeout(60_000);
  let operator: TestOperator;
  let provider: TestOpenIdProvider;
  const url = (what: string) => `${operator.baseURL}/oidc/${NS}/op/${what}`;

  beforeAll(async () => {
    operator = await startTestOperator();
    provider = await startOpenIdProvider({ redirectURIs: [url('callback')] });
    provider.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true });
    provider.accounts.set('carol', { sub: 'carol', email: 'carol@example.com', email_verified: true, groups: ['finance'] });
    await operator.writeManifest('secret.yaml', stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'op-client', namespace: NS }, stringData: { secret: provider.clientSecret } }));
    await operator.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: 'alice@example.com', connectors: ['op'] } }));
    await operator.writeManifest(
      'connector.yaml',
      stringify({
        apiVersion: 'sso.operator.dev/v1alpha1',
        kind: 'SsoConnector',
        metadata: { name: 'op', namespace: NS },
        spec: {
          protocol: 'OIDC',
          stage: 'Provisioning',
          access: { admins: ['alice@example.com'] },
          oidc: { issuer: provider.issuer, clientID: provider.clientID, clientSecretRef: { name: 'op-client', key: 'secret' }, scopes: ['openid', 'email', 'groups'], claims: { groups: 'groups' } },
        },
      }),
    );
    await waitFor(async () => (await fetch(url('login'), { redirect: 'manual' })).status === 302, 15_000, 50);
  });

  afterAll(async () => {
    await operator?.stop();
    await provider?.stop();
  });

  it("an admin's test sign-in as carol shows the checks and claims, and creates no session", async () => {
    const browser = new BrowserClient();
    const first = await browser.get((await loginAtProvider(browser, url('login?rd=%2Fapp'), 'alice')).callback, { followRedirects: false });
    assert.equal(first.status, 303);
    const adminSession = browser.cookies.get(operator.baseURL, 'sso_session');
    assert.ok(adminSession);
    // A fresh provider session for the tested user: another browser jar holding only the admin's cookie.
    const tester = new BrowserClient();
    tester.cookies.setCookie(`sso_session=${adminSession}; Path=/`, operator.baseURL);
    const { callback } = await loginAtProvider(tester, url('test'), 'carol');
    const res = await tester.get(callback, { followRedirects: false });
    assert.equal(res.status, 200, res.body.slice(0, 300));
    assert.match(res.body, /Test sign-in: the identity provider's answer passed every check/);
    assert.match(res.body, /user <code>carol@example.com<\/code>/);
    assert.match(res.body, /<code>token<\/code><\/td><td>code exchanged; ID token signature/);
    assert.match(res.body, /<code>groups<\/code><\/th><td><code>finance<\/code>/);
    assert.match(res.body, /A real sign-in would be refused/);
    assert.equal(tester.cookies.get(operator.baseURL, 'sso_session'), adminSession, 'no new session');
    // Without the admin's session: refused before the provider is asked.
    const anonymous = await fetch(url('test'), { redirect: 'manual' });
    assert.equal(anonymous.status, 401);
  });
});
