// IdP groups: handed to applications beside the binding's groups, and
// spec.access.allowedIdPGroups letting members in without a UserBinding, for
// as long as the connector lists the group and no binding denies the user.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { onCleanup } from '../../support/cleanup.ts';
import { jwtPayload, cookieValue, sessionCookieHeader, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness(allowed: string[] = ['engineering']): Promise<Harness> {
  const h = await startHarness();
  onCleanup(() => h.close());
  await h.apply(connector(h, allowed), bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['app-admins'] }));
  return h;
}

function connector(h: Harness, allowed: string[]) {
  const c = connectorManifest('demo', h.idp.certPem) as { spec: { saml: Record<string, unknown>; access?: unknown } };
  c.spec.saml.groupsAttribute = 'memberOf';
  c.spec.access = { allowedIdPGroups: allowed };
  return c;
}

const verify = (h: Harness, cookie: string, query = '') => h.app.inject({ method: 'GET', url: `/auth/verify${query}`, headers: { cookie } });
const asUser = (nameID: string, groups: string[]) => ({ response: { nameID, attributes: { mail: nameID, memberOf: groups } } });

describe('IdP groups', () => {
  it("are handed on beside the binding's groups, and required groups may be either", async () => {
    const h = await harness();
    const acs = (await signIn(h, asUser('alice@example.com', ['engineering', 'bad,group', ' padded']))).acs;
    assert.equal(acs.statusCode, 303, acs.body);
    assert.deepEqual(jwtPayload(cookieValue(acs, 'sso_session')!).idp_groups, ['engineering'], 'only header-safe groups are kept');
    const res = await verify(h, sessionCookieHeader(acs));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-auth-request-groups'], 'app-admins,engineering');
    assert.equal((await verify(h, sessionCookieHeader(acs), '?groups=engineering')).statusCode, 200);
    assert.equal((await verify(h, sessionCookieHeader(acs), '?groups=finance')).statusCode, 403);
  });

  it('an allowlisted IdP group lets a user in without a binding, until the connector stops listing it', async () => {
    const h = await harness();
    const acs = (await signIn(h, asUser('dave@example.com', ['engineering']))).acs;
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(jwtPayload(cookieValue(acs, 'sso_session')!).via_group, 'engineering');
    const cookie = sessionCookieHeader(acs);
    const ok = await verify(h, cookie);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['x-auth-request-user'], 'dave@example.com');
    assert.equal(ok.headers['x-auth-request-groups'], 'engineering');
    // Not in an allowlisted group: refused as before.
    assert.equal((await signIn(h, asUser('erin@example.com', ['marketing']))).acs.statusCode, 403);
    // The group leaves the list: the session stops verifying at the next request.
    await h.apply(connector(h, ['operations']));
    assert.equal((await verify(h, cookie)).statusCode, 401);
  });

  it('a Denied binding wins over any allowlisted group, at sign-in and for sessions already issued', async () => {
    const h = await harness();
    const acs = (await signIn(h, asUser('dave@example.com', ['engineering']))).acs;
    const cookie = sessionCookieHeader(acs);
    await h.apply(bindingManifest('dave', 'dave@example.com', ['demo'], { approval: 'Denied' }));
    assert.equal((await verify(h, cookie)).statusCode, 401);
    assert.equal((await signIn(h, asUser('dave@example.com', ['engineering']))).acs.statusCode, 403);
  });

  it('the session claims (idp_groups, via_group) are signed: a session whose via_group was changed does not verify', async () => {
    const h = await harness(['engineering', 'ops']);
    const acs = (await signIn(h, asUser('dave@example.com', ['engineering']))).acs;
    assert.equal(acs.statusCode, 303);
    // The claims are signed: a changed token does not verify at all.
    const [head, body, sig] = cookieValue(acs, 'sso_session')!.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), via_group: 'ops' })).toString('base64url');
    assert.equal((await verify(h, `sso_session=${head}.${forged}.${sig}`)).statusCode, 401);
  });
});
