// ACS failures: each gives its status, its reason code on the page, and no
// session cookie.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { ACS_BODY_LIMIT } from '../../../src/server/routes/saml.ts';
import { STATE, answer, assertRefused, postAcs, signIn, startHarness, startLogin, unsolicited } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const ACS = '/saml/default/demo/acs';

async function harness() {
  const idp = await signingIdentity('idp');
  return startHarness({
    objects: [
      connectorManifest('demo', idp.certPem),
      connectorManifest('small', idp.certPem, { maxResponseBytes: 1024 }),
      connectorManifest('other', idp.certPem),
      connectorManifest('other-idpi', idp.certPem, { idpInitiated: { enabled: true, redirectPath: '/welcome' } }),
      bindingManifest('alice', 'alice@example.com', ['demo', 'small', 'other', 'other-idpi']),
    ],
  });
}

test('400 MalformedResponse: SAMLResponse missing (an HTTP-Artifact SAMLart too), empty, not base64, not XML', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/demo/login');
  assertRefused(await postAcs(h.app, ACS, { RelayState: login.relayState }, login.state), 400, 'MalformedResponse');
  // The HTTP-Artifact binding is not supported: an artifact is not a response.
  assertRefused(await postAcs(h.app, ACS, { SAMLart: 'AAQAAMh48/1oXIM+sDo7Dh2qMp1HM4IF5DaRNmDj6RdUmllwn9jJHyEgIi8=', RelayState: login.relayState }, login.state), 400, 'MalformedResponse');
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: '', RelayState: login.relayState }, login.state), 400, 'MalformedResponse');
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: '%%% not base64 !!!', RelayState: login.relayState }, login.state), 400, 'MalformedResponse');
  const notXml = Buffer.from('hello, this is not a SAML response').toString('base64');
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: notXml, RelayState: login.relayState }, login.state), 400, 'MalformedResponse');
  // No body at all.
  assertRefused(await h.app.inject({ method: 'POST', url: ACS }), 400, 'MalformedResponse');
});

test("413 ResponseTooLarge over the connector's maxResponseBytes", async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/small/login');
  const samlResponse = answer(h.idp, login.request);
  assert.ok(Buffer.from(samlResponse, 'base64').length > 1024, 'a real response is larger than the 1024-byte limit');
  assertRefused(await postAcs(h.app, '/saml/default/small/acs', { SAMLResponse: samlResponse, RelayState: login.relayState }, login.state), 413, 'ResponseTooLarge');
});

test('a response above the 64 KiB form limit but within maxResponseBytes is accepted', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const { acs, samlResponse } = await signIn(h, { response: { attributes: { mail: 'alice@example.com', note: 'x'.repeat(100 * 1024) } } });
  assert.ok(samlResponse.length > 128 * 1024);
  assert.equal(acs.statusCode, 303, acs.body.slice(0, 500));
});

test('413 ResponseTooLarge over the route body limit, before any parsing', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const payload = `SAMLResponse=${'A'.repeat(ACS_BODY_LIMIT + 16)}`;
  const res = await h.app.inject({ method: 'POST', url: ACS, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload });
  // The connector's own ceiling is checked from Content-Length before the body is read.
  assertRefused(res, 413, 'ResponseTooLarge');
  // Between the connector limit (256 KiB) and the route limit: the connector's check answers.
  const mid = `SAMLResponse=${'A'.repeat(1024 * 1024)}`;
  const res2 = await h.app.inject({ method: 'POST', url: ACS, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: mid });
  assertRefused(res2, 413, 'ResponseTooLarge');
});

test('401 InResponseToMismatch when the response answers another request', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/demo/login');
  const samlResponse = answer(h.idp, login.request, { inResponseTo: '_00000000000000000000000000000000' });
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: samlResponse, RelayState: login.relayState }, login.state), 401, 'InResponseToMismatch');
});

test('401 InResponseToMismatch when the RelayState values of two pending logins are swapped (HTTP-POST binding 3.5.5.2)', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const first = await startLogin(h.app, '/saml/default/demo/login?rd=/first');
  const second = await startLogin(h.app, '/saml/default/demo/login?rd=/second', `${STATE}=${first.state}`);
  // Bindings 3.5.3: RelayState at most 80 bytes (ours: a random state id).
  assert.ok(Buffer.byteLength(first.relayState ?? '', 'utf8') <= 80 && (first.relayState ?? '').length >= 22);
  // The response to the first login, posted with the second login's RelayState: the pending
  // entry it selects names another request, so the swap cannot send the user to /second.
  const swapped = await postAcs(h.app, ACS, { SAMLResponse: answer(h.idp, first.request), RelayState: second.relayState }, second.state);
  assertRefused(swapped, 401, 'InResponseToMismatch');
});

test('401 when the state cookie is missing or forged: the response is treated as unsolicited', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/demo/login');
  const samlResponse = answer(h.idp, login.request);
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: samlResponse, RelayState: login.relayState }), 401, 'UnsolicitedResponseRefused');
  const forged = `${login.state.slice(0, -4)}AAAA`;
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: samlResponse, RelayState: login.relayState }, forged), 401, 'UnsolicitedResponseRefused');
  // The right cookie with a wrong RelayState neither.
  assertRefused(await postAcs(h.app, ACS, { SAMLResponse: samlResponse, RelayState: 'not-the-state-id' }, login.state), 401, 'UnsolicitedResponseRefused');
});

test("401 when one connector's login state is replayed at another connector's ACS", async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/demo/login');
  for (const [name, reason] of [
    ['other', 'UnsolicitedResponseRefused'],
    // With IdP-initiated login on, the pending request is still not found there: the InResponseTo matches nothing.
    ['other-idpi', 'InResponseToMismatch'],
  ] as const) {
    const acsURL = `${h.publicURL}/saml/default/${name}/acs`;
    const samlResponse = answer(h.idp, login.request, {
      audience: `${h.publicURL}/saml/default/${name}/metadata`,
      destination: acsURL,
      recipient: acsURL,
    });
    const res = await postAcs(h.app, `/saml/default/${name}/acs`, { SAMLResponse: samlResponse, RelayState: login.relayState }, login.state);
    assertRefused(res, 401, reason);
  }
  // The state is still good at its own connector.
  const own = await postAcs(h.app, ACS, { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state);
  assert.equal(own.statusCode, 303, own.body);
});

test('401 ReplayDetected when the same response is posted twice', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  // IdP-initiated, so that nothing but the replay cache stands between the two posts.
  const samlResponse = unsolicited(h, 'default', 'other-idpi');
  const first = await postAcs(h.app, '/saml/default/other-idpi/acs', { SAMLResponse: samlResponse });
  assert.equal(first.statusCode, 303, first.body);
  assertRefused(await postAcs(h.app, '/saml/default/other-idpi/acs', { SAMLResponse: samlResponse }), 401, 'ReplayDetected');
});

test('401 for a response signed by an untrusted key', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const attacker = await signingIdentity('attacker');
  const login = await startLogin(h.app, '/saml/default/demo/login');
  const res = await postAcs(h.app, ACS, { SAMLResponse: answer(attacker, login.request), RelayState: login.relayState }, login.state);
  assertRefused(res, 401, 'CertificateNotTrusted');
});
