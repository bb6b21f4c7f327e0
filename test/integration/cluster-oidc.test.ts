// An OIDC connector in cluster mode: the manifests and the client Secret on a
// real kube-apiserver, the operator as its own process (as in a pod), a real
// OpenID Provider (oidc-provider) in the test process. The connector reaches
// Ready with its status written to the apiserver, signs users in, and follows
// a client-secret rotation without a restart.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { BrowserClient } from '../support/browser-client.ts';
import { applyOk, createNamespaces, getObject, GROUP_VERSION, installCrds, mergePatch, pollFor, type K8sObject } from '../support/cluster-fixtures.ts';
import { startReplica, type Replica } from '../support/fault-tools.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';
import { loginAtProvider, startOpenIdProvider, type TestOpenIdProvider } from '../support/oidc-provider.ts';
import { freePort } from '../support/system-deps.ts';

const NS = 'team-oidc';
const NAME = 'corp';

describe('cluster mode: an OIDC connector on the real apiserver, with a real OpenID Provider', () => {
  jest.setTimeout(90_000);
  let cp: ControlPlane;
  let op: Replica;
  let provider: TestOpenIdProvider;

  const secret = (value: string): K8sObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'corp-client', namespace: NS }, stringData: { 'client-secret': value } });
  const conditions = async () => {
    const c = await getObject(cp, GROUP_VERSION, 'SsoConnector', NS, NAME);
    return Object.fromEntries(((c?.status?.conditions ?? []) as { type: string; status: string; reason: string }[]).map((x) => [x.type, `${x.status} ${x.reason}`]));
  };
  const signIn = async () => {
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, `${op.baseURL}/oidc/${NS}/${NAME}/login?rd=%2Fapp`, 'alice');
    const res = await browser.get(callback, { followRedirects: false });
    return { status: res.status, body: res.body, session: browser.cookies.get(op.baseURL, 'sso_session') };
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    await installCrds(cp);
    await createNamespaces(cp, ['sso-system', NS]);
    const port = await freePort();
    provider = await startOpenIdProvider({ redirectURIs: [`http://127.0.0.1:${port}/oidc/${NS}/${NAME}/callback`] });
    provider.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true });
    await applyOk(
      cp,
      secret(provider.clientSecret),
      {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: NAME, namespace: NS },
        spec: { protocol: 'OIDC', oidc: { issuer: provider.issuer, clientID: provider.clientID, clientSecretRef: { name: 'corp-client', key: 'client-secret' } } },
      },
      { apiVersion: GROUP_VERSION, kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: 'alice@example.com', connectors: [NAME] } },
    );
    op = await startReplica({ kubeconfigPath: cp.kubeconfigPath, identity: 'sso-operator-0', namespace: 'sso-system', watch: [NS], port });
  });

  afterAll(async () => {
    await op?.destroy();
    await provider?.stop();
    await cp?.stop();
  });

  it('reaches Ready on the apiserver with discovery and credentials, and its status names the callback URL', async () => {
    await pollFor('Ready=True in the apiserver', async () => (await conditions()).Ready === 'True Serving', 30_000, 100);
    const c = (await conditions()) as Record<string, string>;
    assert.equal(c.OIDCDiscoverySucceeded, 'True Discovered');
    assert.equal(c.ClientCredentialsValid, 'True SecretFound');
    const obj = await getObject(cp, GROUP_VERSION, 'SsoConnector', NS, NAME);
    assert.equal(obj?.status?.callbackURL, `${op.baseURL}/oidc/${NS}/${NAME}/callback`);
    assert.equal(obj?.status?.issuer, provider.issuer);
    assert.equal(obj?.status?.loginURL, `${op.baseURL}/oidc/${NS}/${NAME}/login`);
  });

  it('signs alice in, and her session passes forward-auth', async () => {
    const r = await signIn();
    assert.equal(r.status, 303, r.body.slice(0, 300));
    assert.ok(r.session);
    const verify = await fetch(`${op.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${r.session}` } });
    assert.equal(verify.status, 200);
    assert.equal(verify.headers.get('x-auth-request-user'), 'alice@example.com');
  });

  it('follows a client-secret rotation live: refused while the Secret is stale, signing in once it is applied', async () => {
    provider.setClientSecret('a-rotated-client-secret-0123456789abcdefghij');
    const stale = await signIn();
    assert.equal(stale.status, 503);
    assert.match(stale.body, /ClientAuthenticationFailed/);
    const t0 = performance.now();
    await applyOk(cp, secret(provider.clientSecret));
    const { ms } = await pollFor('a sign-in with the rotated secret', async () => (await signIn()).status === 303, 15_000, 100);
    console.log(`[timing] client secret rotated: sign-ins work ${Math.round(performance.now() - t0)} ms after the Secret apply (${ms} ms of polling)`);
    assert.equal(op.running, true, 'no restart');
  });

  it('a client Secret without the key: Ready=False SecretKeyNotFound in the apiserver, logins 503; restored, Ready again', async () => {
    await mergePatch(cp, 'v1', 'Secret', NS, 'corp-client', { data: { 'client-secret': null } });
    await pollFor('SecretKeyNotFound', async () => (await conditions()).Ready === 'False SecretKeyNotFound', 15_000, 100);
    assert.equal((await fetch(`${op.baseURL}/oidc/${NS}/${NAME}/login`, { redirect: 'manual' })).status, 503);
    await applyOk(cp, secret(provider.clientSecret));
    await pollFor('Ready again', async () => (await conditions()).Ready === 'True Serving', 15_000, 100);
    assert.equal((await signIn()).status, 303);
  });
});
