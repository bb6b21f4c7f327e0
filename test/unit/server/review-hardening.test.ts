// Defences added after a security review: each test is the attack or input
// the review found, and fails without its fix.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { SESSION, assertRefused, cookieValue, signIn, startHarness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function signedIn(extraConnectors: Record<string, unknown>[] = []) {
  const idp = await signingIdentity('idp');
  const h = await startHarness({
    objects: [
      connectorManifest('demo', idp.certPem),
      ...extraConnectors,
      bindingManifest('alice', 'alice@example.com', ['demo', 'other'], { groups: ['devs'] }),
    ],
  });
  const { acs } = await signIn(h);
  assert.equal(acs.statusCode, 303, acs.body);
  return { h, cookie: `${SESSION}=${cookieValue(acs, SESSION)!}` };
}

test('a connector whose manifest became invalid stops verifying its sessions, although the binding stays Active', async () => {
  const idp = await signingIdentity('idp');
  const { h, cookie } = await signedIn([connectorManifest('other', idp.certPem)]);
  onCleanup(() => h.close());
  assert.equal((await h.app.inject({ url: '/auth/verify', headers: { cookie } })).statusCode, 200);
  // What the directory store does when a valid manifest is replaced by an invalid one.
  h.store.setProblems([
    { file: 'demo.yaml', documentIndex: 0, path: '$.spec.enabled', reason: 'SchemaViolation', message: 'must be boolean', object: { kind: 'SsoConnector', namespace: 'default', name: 'demo' } },
  ]);
  await h.remove('SsoConnector', 'default', 'demo');
  assert.equal(h.registry.current().connectors.get('default/demo')?.notReadyReason, 'ManifestInvalid');
  assert.equal(h.registry.current().bindings.lookup('default/other', 'alice@example.com').active, true);
  const res = await h.app.inject({ url: '/auth/verify', headers: { cookie } });
  assert.equal(res.statusCode, 401);
});

test('forward-auth names the connector and can pin the connectors an ingress trusts', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  const plain = await h.app.inject({ url: '/auth/verify', headers: { cookie } });
  assert.equal(plain.headers['x-auth-request-connector'], 'default/demo');
  assert.equal((await h.app.inject({ url: '/auth/verify?connectors=default/demo', headers: { cookie } })).statusCode, 200);
  assert.equal((await h.app.inject({ url: '/auth/verify?connectors=default/*', headers: { cookie } })).statusCode, 200);
  assert.equal((await h.app.inject({ url: '/auth/verify?connectors=team-b/*,team-b/sso', headers: { cookie } })).statusCode, 403);
  assert.equal((await h.app.inject({ url: '/auth/verify?connectors=default/dem', headers: { cookie } })).statusCode, 403);
});

test('the ACS refuses an unknown connector and an oversized body before reading the body', async () => {
  const { h } = await signedIn();
  onCleanup(() => h.close());
  const big = `SAMLResponse=${'A'.repeat(4 * 1024 * 1024)}`;
  const unknown = await h.app.inject({ method: 'POST', url: '/saml/default/nope/acs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: big });
  assertRefused(unknown, 404, 'ConnectorNotFound');
  const tooBig = await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: big });
  assertRefused(tooBig, 413, 'ResponseTooLarge');
  assert.match(h.logText(), /"reason":"ResponseTooLarge"/);
});
