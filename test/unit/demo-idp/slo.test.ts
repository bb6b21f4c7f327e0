// The demo IdP's single-logout endpoint, on its own fastify app: it answers
// this operator's LogoutRequests with a LogoutResponse signed over the
// HTTP-Redirect query (which the SP's validator accepts), and refuses
// requests from anywhere else.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { Writable } from 'node:stream';
import fastify from 'fastify';
import { createDemoIdp } from '../../../src/demo-idp/app.ts';
import { parseCertificates } from '../../../src/saml/certificates.ts';
import { buildLogoutRequest, validateLogoutResponse } from '../../../src/saml/logout.ts';
import { createLogger } from '../../../src/operator.ts';
import { makeConfig } from '../../support/saml-fixtures.ts';

const PUBLIC = 'https://sso.example.test';

async function setup() {
  const logger = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
  const demo = await createDemoIdp({ publicURL: PUBLIC, logger, users: () => undefined });
  const app = fastify();
  await app.register(demo.plugin);
  await app.ready();
  // The SP side as the example connector configures it.
  const cfg = makeConfig(parseCertificates(demo.identity.certPem, 'inline[0]'), {
    spEntityID: `${PUBLIC}/saml/default/demo/metadata`,
    sloURL: `${PUBLIC}/saml/default/demo/slo`,
    idp: { entityID: demo.entityID, sloURL: `${PUBLIC}/demo-idp/slo` },
  });
  return { app, demo, cfg };
}

test('a LogoutRequest from an SP of this operator gets a signed LogoutResponse at its SLO endpoint', async () => {
  const { app, cfg } = await setup();
  onCleanup(() => app.close());
  const out = buildLogoutRequest(cfg, { requestId: '_req1', nameID: 'demo@example.com', sessionIndex: '_s', relayState: 'state-1', now: new Date() });
  const res = await app.inject({ method: 'GET', url: out.url.slice(PUBLIC.length) });
  assert.equal(res.statusCode, 302, res.body);
  const location = String(res.headers.location);
  assert.ok(location.startsWith(`${PUBLIC}/saml/default/demo/slo?SAMLResponse=`), location);
  const rawQuery = location.slice(location.indexOf('?') + 1);
  const r = validateLogoutResponse(cfg, { binding: 'HTTPRedirect', rawQuery }, { now: new Date(), expectedInResponseTo: '_req1' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.signed, true);
  assert.equal(r.success, true);
  assert.equal(r.relayState, 'state-1');
});

test('a LogoutRequest from elsewhere, or not a LogoutRequest, is refused with 400', async () => {
  const { app, cfg } = await setup();
  onCleanup(() => app.close());
  const foreign = buildLogoutRequest({ ...cfg, spEntityID: 'https://evil.example/saml/x/y/metadata' }, { requestId: '_r', nameID: 'n', relayState: 'r', now: new Date() });
  const res = await app.inject({ method: 'GET', url: foreign.url.slice(PUBLIC.length) });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /not a service provider of this operator/);
  assert.equal((await app.inject({ method: 'GET', url: '/demo-idp/slo' })).statusCode, 400);
  assert.equal((await app.inject({ method: 'GET', url: '/demo-idp/slo?SAMLRequest=%25%25' })).statusCode, 400);
});

test('the demo IdP metadata names its SLO endpoint', async () => {
  const { app } = await setup();
  onCleanup(() => app.close());
  const md = (await app.inject({ method: 'GET', url: '/demo-idp/metadata' })).body;
  assert.match(md, /<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https:\/\/sso\.example\.test\/demo-idp\/slo"\/>/);
});
