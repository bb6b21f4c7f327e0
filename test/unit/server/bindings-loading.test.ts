// Right after a start in cluster mode the UserBindings are still being listed
// while the connectors already serve. What this defends against: a decision
// taken from an incomplete binding index granting what a binding not listed
// yet refuses (a Denied binding overrides an allowlisted IdP group), or
// refusing a signed-in user whose binding is simply not listed yet. Every
// decision that reads the index waits for the end of the list instead.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { onCleanup } from '../../support/cleanup.ts';
import { sessionCookieHeader, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness(): Promise<Harness> {
  const h = await startHarness();
  onCleanup(() => h.close());
  const c = connectorManifest('demo', h.idp.certPem) as { spec: { saml: Record<string, unknown>; access?: unknown } };
  c.spec.saml.groupsAttribute = 'memberOf';
  c.spec.access = { allowedIdPGroups: ['engineering'] };
  await h.apply(c, bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['app-admins'] }));
  return h;
}

const asUser = (nameID: string, groups: string[]) => ({ response: { nameID, attributes: { mail: nameID, memberOf: groups } } });
const settled = <T>(p: Promise<T>) => {
  const state = { done: false };
  void p.finally(() => (state.done = true));
  return state;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('while the bindings are still being listed', () => {
  it('a sign-in waits for the whole list: a Denied binding listed last still refuses an allowlisted group', async () => {
    const h = await harness();
    const index = h.registry.current().bindings;
    index.loading();
    assert.equal(index.complete, false);
    const pending = signIn(h, asUser('dave@example.com', ['engineering']));
    const state = settled(pending);
    await sleep(150);
    assert.equal(state.done, false, 'no decision from an incomplete index');
    // The last page brings dave's Denied binding, then the list is complete.
    await h.apply(bindingManifest('dave', 'dave@example.com', ['demo'], { approval: 'Denied' }));
    index.markComplete();
    assert.equal((await pending).acs.statusCode, 403);
  });

  it('forward-auth for a session issued before waits, then answers from the complete index (200, or 401 once Denied)', async () => {
    const h = await harness();
    const acs = (await signIn(h, asUser('alice@example.com', []))).acs;
    assert.equal(acs.statusCode, 303, acs.body);
    const cookie = sessionCookieHeader(acs);
    const index = h.registry.current().bindings;

    index.loading();
    const first = h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
    const state = settled(first);
    await sleep(150);
    assert.equal(state.done, false, 'not refused (401 would send a signed-in user to the IdP) nor granted early');
    index.markComplete();
    const ok = await first;
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['x-auth-request-groups'], 'app-admins');

    index.loading();
    const second = h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
    await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { approval: 'Denied' }));
    index.markComplete();
    assert.equal((await second).statusCode, 401);
  });

  it('requests without a session are answered at once, and whenComplete gives up after its timeout', async () => {
    const h = await harness();
    const index = h.registry.current().bindings;
    index.loading();
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify' })).statusCode, 401);
    assert.equal(await index.whenComplete(20), false);
    index.markComplete();
    assert.equal(await index.whenComplete(20), true);
  });

  it('a session whose bindings are still not listed when the wait ends gets 503 BindingsLoading, never 200 or 401', async () => {
    const h = await harness();
    const acs = (await signIn(h, asUser('alice@example.com', []))).acs;
    const cookie = sessionCookieHeader(acs);
    const index = h.registry.current().bindings;
    index.loading();
    // The wait ends (as it does after BINDINGS_LOADING_WAIT_MS) before the list does.
    index.whenComplete = async () => false;
    const verify = await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
    assert.equal(verify.statusCode, 503);
    assert.equal(verify.headers['x-auth-request-user'], undefined);
    const whoami = await h.app.inject({ method: 'GET', url: '/auth/whoami?format=json', headers: { cookie } });
    assert.equal(whoami.statusCode, 503);
    assert.equal((whoami.json() as { reason?: string }).reason, 'BindingsLoading');
    assert.match(await h.metrics.registry.metrics(), /sso_forward_auth_total\{result="denied",reason="BindingsLoading"\} 1/);
  });
});
