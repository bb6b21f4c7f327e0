// Which connectors answer at all: unknown and disabled ones are 404 on every
// route, a not-ready one 503, and the ACS takes POST only.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { answer, assertRefused, postAcs, startHarness, startLogin, unsolicited } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness() {
  const idp = await signingIdentity('idp');
  return startHarness({
    objects: [
      connectorManifest('demo', idp.certPem),
      connectorManifest('off', idp.certPem, { enabled: false }),
      connectorManifest('broken', idp.certPem, { certificate: { secretRef: { name: 'missing-idp-cert', key: 'tls.crt' } } }),
      bindingManifest('alice', 'alice@example.com', ['demo', 'off', 'broken']),
    ],
  });
}

test('an unknown connector is 404 ConnectorNotFound on metadata, login and ACS', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  assertRefused(await h.app.inject({ method: 'GET', url: '/saml/default/nope/metadata' }), 404, 'ConnectorNotFound');
  assertRefused(await h.app.inject({ method: 'GET', url: '/saml/default/nope/login' }), 404, 'ConnectorNotFound');
  assertRefused(await postAcs(h.app, '/saml/default/nope/acs', { SAMLResponse: unsolicited(h, 'default', 'nope') }), 404, 'ConnectorNotFound');
  // Same name, other namespace: still unknown.
  assertRefused(await h.app.inject({ method: 'GET', url: '/saml/other/demo/metadata' }), 404, 'ConnectorNotFound');
});

test('a disabled connector answers 404 on metadata, login and ACS, like a missing one', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  assert.equal(h.registry.current().connectors.get('default/off')?.ready, true, 'the connector itself is fine, only switched off');
  const metadata = await h.app.inject({ method: 'GET', url: '/saml/default/off/metadata' });
  assertRefused(metadata, 404, 'ConnectorNotFound');
  const login = await h.app.inject({ method: 'GET', url: '/saml/default/off/login?rd=/x' });
  assertRefused(login, 404, 'ConnectorNotFound');
  assert.equal(login.headers['set-cookie'], undefined, 'no state cookie either');
  assertRefused(await postAcs(h.app, '/saml/default/off/acs', { SAMLResponse: unsolicited(h, 'default', 'off') }), 404, 'ConnectorNotFound');

  // Switched on: the same routes serve.
  await h.apply(connectorManifest('off', h.idp.certPem, { enabled: true }));
  assert.equal((await h.app.inject({ method: 'GET', url: '/saml/default/off/metadata' })).statusCode, 200);
});

test('a connector that is not Ready (missing Secret) answers 503 ConnectorNotReady', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  assert.equal(h.registry.current().connectors.get('default/broken')?.notReadyReason, 'SecretNotFound');
  assertRefused(await h.app.inject({ method: 'GET', url: '/saml/default/broken/metadata' }), 503, 'ConnectorNotReady');
  assertRefused(await h.app.inject({ method: 'GET', url: '/saml/default/broken/login' }), 503, 'ConnectorNotReady');
  assertRefused(await postAcs(h.app, '/saml/default/broken/acs', { SAMLResponse: unsolicited(h, 'default', 'broken') }), 503, 'ConnectorNotReady');

  // The Secret appears: the connector serves.
  await h.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'missing-idp-cert', namespace: 'default' },
    stringData: { 'tls.crt': h.idp.certPem },
  });
  assert.equal((await h.app.inject({ method: 'GET', url: '/saml/default/broken/metadata' })).statusCode, 200);
  const login = await startLogin(h.app, '/saml/default/broken/login?rd=/x');
  const acs = await postAcs(h.app, '/saml/default/broken/acs', { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state);
  assert.equal(acs.statusCode, 303, acs.body);
});

test('the metadata of a ready connector is served', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const res = await h.app.inject({ method: 'GET', url: '/saml/default/demo/metadata' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/samlmetadata\+xml/);
  assert.ok(res.body.includes('entityID="https://sp.example.test/saml/default/demo/metadata"'), res.body);
  assert.ok(res.body.includes('Location="https://sp.example.test/saml/default/demo/acs"'), res.body);
});

test('the ACS takes POST only: other methods are 405 with Allow: POST', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
    const res = await h.app.inject({ method, url: '/saml/default/demo/acs' });
    assertRefused(res, 405, 'MethodNotAllowed');
    assert.equal(res.headers.allow, 'POST', method);
  }
  const login = await h.app.inject({ method: 'POST', url: '/saml/default/demo/login' });
  assertRefused(login, 405, 'MethodNotAllowed');
  assert.equal(login.headers.allow, 'GET');
});
