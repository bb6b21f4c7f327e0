// How the AuthnRequest travels (HTTP-POST binding) and how the state comes
// back (acsParameterStyle Query), through the public app.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { SESSION, answer, assertRefused, cookieValue, postAcs, startHarness, startLogin } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness() {
  const idp = await signingIdentity('idp');
  return startHarness({
    objects: [
      connectorManifest('query', idp.certPem, { acsParameterStyle: 'Query' }),
      connectorManifest('post', idp.certPem, { ssoBinding: 'HTTPPost' }),
      bindingManifest('alice', 'alice@example.com', ['query', 'post']),
    ],
  });
}

test('acsParameterStyle Query: the ACS URL of the request carries ?s=, and the ACS resolves the state from it', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/query/login?rd=/q');
  assert.equal(login.res.statusCode, 302);
  assert.equal(login.relayState, undefined, 'no RelayState with the Query style');
  const acsURL = new URL(login.request.acsURL!);
  assert.equal(`${acsURL.origin}${acsURL.pathname}`, `${h.publicURL}/saml/default/query/acs`);
  const sid = acsURL.searchParams.get('s');
  assert.ok(sid, 'the ACS URL carries s=');
  assert.deepEqual([...acsURL.searchParams.keys()], ['s']);

  const samlResponse = answer(h.idp, login.request);
  // Without ?s= the state is not found: an unsolicited response, refused.
  assertRefused(await postAcs(h.app, '/saml/default/query/acs', { SAMLResponse: samlResponse, RelayState: sid }, login.state), 401, 'UnsolicitedResponseRefused');
  // A wrong ?s= neither.
  assertRefused(await postAcs(h.app, '/saml/default/query/acs?s=wrong', { SAMLResponse: samlResponse }, login.state), 401, 'UnsolicitedResponseRefused');

  const acs = await postAcs(h.app, `/saml/default/query/acs?s=${encodeURIComponent(sid)}`, { SAMLResponse: samlResponse }, login.state);
  assert.equal(acs.statusCode, 303, acs.body);
  assert.equal(acs.headers.location, '/q');
  assert.ok(cookieValue(acs, SESSION));
});

test('HTTP-POST binding: login answers an auto-submit page to the IdP, with a CSP, and the flow completes', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await startLogin(h.app, '/saml/default/post/login?rd=/p');
  const res = login.res;
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  const csp = String(res.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /form-action 'self' https:\/\/idp\.example\.test/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/, 'only the hashed auto-submit script may run');
  assert.ok(res.body.includes('action="https://idp.example.test/sso"'), res.body);
  assert.ok(res.body.includes('name="SAMLRequest"'));
  assert.ok(login.relayState, 'RelayState is a form field');
  assert.equal(login.request.destination, 'https://idp.example.test/sso');

  const acs = await postAcs(h.app, '/saml/default/post/acs', { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state);
  assert.equal(acs.statusCode, 303, acs.body);
  assert.equal(acs.headers.location, '/p');
});
