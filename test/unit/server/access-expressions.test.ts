// spec.access.identityExpression and groupsExpression: compiled when the
// connector is reconciled (an invalid one: Ready=False ExpressionInvalid with
// the compiler's message), applied at each sign-in; an error or a result of
// the wrong type refuses the sign-in instead of becoming an identity.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { onCleanup } from '../../support/cleanup.ts';
import { cookieValue, jwtPayload, sessionCookieHeader, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness(access: Record<string, unknown>): Promise<Harness> {
  const h = await startHarness();
  onCleanup(() => h.close());
  await h.apply(connector(h, access), bindingManifest('alice', 'alice@corp.example', ['demo'], { groups: ['ops'] }));
  return h;
}

function connector(h: Harness, access: Record<string, unknown>) {
  const c = connectorManifest('demo', h.idp.certPem) as { spec: { saml: Record<string, unknown>; access?: unknown } };
  c.spec.saml.groupsAttribute = 'memberOf';
  c.spec.access = access;
  return c;
}

const reasonOf = (body: string) => /Reason: <code>([^<]*)<\/code>/.exec(body)?.[1];

describe('access expressions', () => {
  it('derive the user and the groups from the attributes', async () => {
    const h = await harness({
      identityExpression: "attributes['uid'][0] + '@corp.example'",
      groupsExpression: "groups.filter(g, g.startsWith('app-')).map(g, g.substring(4))",
    });
    const acs = (await signIn(h, { response: { nameID: 'ignored-nameid', attributes: { uid: 'alice', memberOf: ['app-reporting', 'domain-users', 'app-billing'] } } })).acs;
    assert.equal(acs.statusCode, 303, acs.body.slice(0, 300));
    const claims = jwtPayload(cookieValue(acs, 'sso_session')!);
    assert.equal(claims.sub, 'alice@corp.example');
    assert.deepEqual(claims.idp_groups, ['reporting', 'billing']);
    const verify = await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie: sessionCookieHeader(acs) } });
    assert.equal(verify.headers['x-auth-request-groups'], 'ops,reporting,billing');
  });

  it('an expression that fails or gives the wrong type refuses the sign-in with its reason', async () => {
    const h = await harness({ identityExpression: "attributes['uid'][0]" });
    const missing = (await signIn(h, { response: { nameID: 'x', attributes: { mail: 'a@b.c' } } })).acs;
    assert.equal(missing.statusCode, 401);
    assert.equal(reasonOf(missing.body), 'IdentityExpressionFailed');
    assert.equal(cookieValue(missing, 'sso_session'), undefined);
    await h.apply(connector(h, { identityExpression: 'size(groups)' }));
    assert.equal(reasonOf((await signIn(h, { response: { nameID: 'x', attributes: { memberOf: ['a'] } } })).acs.body), 'IdentityExpressionFailed', 'an int is no identity');
    await h.apply(connector(h, { groupsExpression: "'not-a-list'" }));
    assert.equal(reasonOf((await signIn(h, { response: { nameID: 'alice@corp.example' } })).acs.body), 'GroupsExpressionFailed');
  });

  it('an expression that does not compile leaves the connector not Ready with the compiler message', async () => {
    const h = await harness({ identityExpression: "attributes['uid'][0" });
    const runtime = h.registry.current().connectors.get('default/demo')!;
    assert.equal(runtime.ready, false);
    assert.equal(runtime.notReadyReason, 'ExpressionInvalid');
    assert.equal(runtime.saml, undefined);
    const login = await h.app.inject({ method: 'GET', url: '/saml/default/demo/login' });
    assert.equal(login.statusCode, 503);
  });
});
