// Open-redirect refusals on /login and /auth/start, allowed hosts, and the
// target of unsolicited responses.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { STATE, assertRefused, postAcs, setCookieLine, signIn, startHarness, unsolicited } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const HOSTILE = ['//evil.com', 'https://evil.com', '/\\evil.com', 'javascript:alert(1)', 'https://app.example.test.evil.com/'];

async function harness() {
  const idp = await signingIdentity('idp');
  return startHarness({
    allowedRedirectHosts: ['app.example.test'],
    objects: [
      connectorManifest('demo', idp.certPem),
      connectorManifest('idpi', idp.certPem, { idpInitiated: { enabled: true, redirectPath: '/welcome' } }),
      bindingManifest('alice', 'alice@example.com', ['demo', 'idpi']),
    ],
  });
}

test('login refuses hostile rd targets with 400 RedirectNotAllowed and sets no state', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  for (const rd of HOSTILE) {
    const res = await h.app.inject({ method: 'GET', url: `/saml/default/demo/login?rd=${encodeURIComponent(rd)}` });
    assertRefused(res, 400, 'RedirectNotAllowed');
    assert.equal(setCookieLine(res, STATE), undefined, `${rd}: no login state`);
  }
});

test('/auth/start refuses hostile rd targets with 400 RedirectNotAllowed', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  for (const rd of HOSTILE) {
    const res = await h.app.inject({ method: 'GET', url: `/auth/start?connector=default/demo&rd=${encodeURIComponent(rd)}` });
    assertRefused(res, 400, 'RedirectNotAllowed');
    assert.equal(res.headers.location, undefined);
  }
});

test('/auth/start sends to the connector login route with the target', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const res = await h.app.inject({ method: 'GET', url: '/auth/start?connector=default/demo&rd=/x' });
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, '/saml/default/demo/login?rd=%2Fx');
  const allowed = await h.app.inject({ method: 'GET', url: `/auth/start?connector=default/demo&rd=${encodeURIComponent('https://app.example.test/p?q=1')}` });
  assert.equal(allowed.statusCode, 302);
  assert.equal(allowed.headers.location, `/saml/default/demo/login?rd=${encodeURIComponent('https://app.example.test/p?q=1')}`);
  assertRefused(await h.app.inject({ method: 'GET', url: '/auth/start?connector=default/nope&rd=/x' }), 404, 'ConnectorNotFound');
  // Two connectors: which one must be said.
  assertRefused(await h.app.inject({ method: 'GET', url: '/auth/start?rd=/x' }), 400, 'ConnectorRequired');
});

test('an absolute rd on an allowed host is accepted and is where the ACS sends the user', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const { acs } = await signIn(h, { rd: 'https://app.example.test/dashboard?tab=1' });
  assert.equal(acs.statusCode, 303, acs.body);
  assert.equal(acs.headers.location, 'https://app.example.test/dashboard?tab=1');
});

test("an unsolicited response never sends the user off-site: a hostile RelayState gives the connector's redirectPath", async () => {
  const h = await harness();
  onCleanup(() => h.close());
  for (const [relay, target] of [
    ['https://evil.com', '/welcome'],
    ['//evil.com', '/welcome'],
    ['https://app.example.test/x', '/welcome'],
    // Not even this host as an absolute URL: only a relative path is honoured.
    ['https://sp.example.test/x', '/welcome'],
    [undefined, '/welcome'],
    ['/inside?a=1', '/inside?a=1'],
  ] as const) {
    const res = await postAcs(h.app, '/saml/default/idpi/acs', { SAMLResponse: unsolicited(h, 'default', 'idpi'), RelayState: relay });
    assert.equal(res.statusCode, 303, `${relay}: ${res.body}`);
    assert.equal(res.headers.location, target, `RelayState ${relay}`);
  }
});

test('an unsolicited response is refused where IdP-initiated login is off', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  assertRefused(await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: unsolicited(h, 'default', 'demo'), RelayState: '/x' }), 401, 'UnsolicitedResponseRefused');
});
