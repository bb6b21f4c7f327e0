// Admin test sign-in: who may start one, and that the IdP's answer shows the
// decision trail (good and broken responses) without ever creating a session.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { onCleanup } from '../../support/cleanup.ts';
import { answer, cookieValue, postAcs, sessionCookieHeader, signIn, startHarness, startLogin, STATE, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness(stage: 'Provisioning' | 'Production' = 'Provisioning'): Promise<Harness> {
  const h = await startHarness();
  onCleanup(() => h.close());
  const c = connectorManifest('demo', h.idp.certPem, { stage }) as { spec: { saml: Record<string, unknown>; access?: unknown } };
  c.spec.saml.groupsAttribute = 'memberOf';
  c.spec.access = { admins: ['Alice@Example.com'] };
  await h.apply(c, bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['ops'] }), bindingManifest('bob', 'bob@example.com', ['demo']));
  return h;
}

const sessionOf = async (h: Harness, user: string) => sessionCookieHeader((await signIn(h, { response: { nameID: user } })).acs);
const reasonOf = (body: string) => /Reason: <code>([^<]*)<\/code>/.exec(body)?.[1];

describe('admin test sign-in', () => {
  it('only an admin listed in spec.access.admins, with a valid session, may start one, and only in stage Provisioning', async () => {
    const h = await harness();
    const test = (cookie?: string) => h.app.inject({ method: 'GET', url: '/saml/default/demo/test', ...(cookie ? { headers: { cookie } } : {}) });
    const anonymous = await test();
    assert.equal(anonymous.statusCode, 401);
    assert.equal(reasonOf(anonymous.body), 'AdminSessionRequired');
    const bob = await test(await sessionOf(h, 'bob@example.com'));
    assert.equal(bob.statusCode, 403);
    assert.equal(reasonOf(bob.body), 'AdminRequired');
    const alice = await sessionOf(h, 'alice@example.com');
    const ok = await test(alice);
    assert.equal(ok.statusCode, 302, 'the admin is sent to the IdP (emails compare case-insensitively)');
    // A logged-out admin session no longer counts.
    await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: alice } });
    assert.equal((await test(alice)).statusCode, 401);
    const production = await harness('Production');
    const prod = await production.app.inject({ method: 'GET', url: '/saml/default/demo/test', headers: { cookie: await sessionOf(production, 'alice@example.com') } });
    assert.equal(prod.statusCode, 404);
    assert.equal(reasonOf(prod.body), 'TestSignInNotAvailable');
  });

  it("shows the trail, the attributes, the binding and the groups for a good answer, and never creates a session", async () => {
    const h = await harness();
    const admin = await sessionOf(h, 'alice@example.com');
    const login = await startLogin(h.app, '/saml/default/demo/test', admin);
    const res = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request, { nameID: 'carol@example.com', attributes: { mail: 'carol@example.com', memberOf: ['finance', 'auditors'] } }), RelayState: login.relayState }, login.state);
    assert.equal(res.statusCode, 200, res.body.slice(0, 400));
    assert.equal(cookieValue(res, 'sso_session'), undefined, 'no session');
    assert.match(res.body, /Test sign-in: the identity provider's answer passed every check/);
    assert.match(res.body, /user <code>carol@example.com<\/code>/);
    assert.match(res.body, /<code>signature.assertion<\/code>/);
    assert.match(res.body, /<code>memberOf<\/code><\/th><td><code>finance<\/code>, <code>auditors<\/code>/);
    assert.match(res.body, /UserBinding: none/);
    assert.match(res.body, /A real sign-in would be refused; groups handed to applications: <code>finance<\/code>, <code>auditors<\/code>/);
    // The same for a bound user, as JSON.
    const again = await startLogin(h.app, '/saml/default/demo/test', admin);
    const json = await h.app.inject({
      method: 'POST',
      url: '/saml/default/demo/acs',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', cookie: `${STATE}=${again.state}` },
      payload: new URLSearchParams({ SAMLResponse: answer(h.idp, again.request, { nameID: 'alice@example.com', attributes: { memberOf: ['eng'] } }), RelayState: again.relayState! }).toString(),
    });
    const body = json.json() as Record<string, unknown>;
    assert.equal(body.ok, true);
    assert.equal(body.wouldSignIn, true);
    assert.deepEqual(body.bindings, ['default/alice']);
    assert.deepEqual(body.groups, ['ops', 'eng']);
  });

  it('says the binding is not looked up yet, and that a real sign-in would wait, while the bindings are still listed', async () => {
    const h = await harness();
    const login = await startLogin(h.app, '/saml/default/demo/test', await sessionOf(h, 'alice@example.com'));
    h.registry.current().bindings.loading();
    const res = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request, { nameID: 'bob@example.com' }), RelayState: login.relayState }, login.state);
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /UserBinding: not looked up yet/);
    assert.match(res.body, /A real sign-in would wait until the UserBindings are listed/);
    assert.doesNotMatch(res.body, /would be refused/);
  });

  it('shows the trail of a broken answer with the failing check', async () => {
    const h = await harness();
    const login = await startLogin(h.app, '/saml/default/demo/test', await sessionOf(h, 'alice@example.com'));
    const res = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request, { audience: 'https://other.example.test/sp' }), RelayState: login.relayState }, login.state);
    assert.equal(res.statusCode, 200);
    assert.equal(cookieValue(res, 'sso_session'), undefined);
    assert.match(res.body, /Test sign-in: refused/);
    assert.match(res.body, /Result: <code>AudienceMismatch<\/code>/);
    assert.match(res.body, /<td><strong>fail<\/strong><\/td><td><code>audience<\/code>/);
    assert.match(res.body, /not looked up/);
  });
});
