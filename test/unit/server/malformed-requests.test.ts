// No request, however malformed, gets a 5xx or takes the process down: each
// one gets a 4xx with a reason, and the connector keeps working afterwards.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { InjectOptions } from 'fastify';
import { signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.apply(connectorManifest('a', h.idp.certPem), bindingManifest('alice', 'alice@example.com', ['a']));
});
afterAll(() => h.close());

const acs = '/saml/default/a/acs';
const form = { 'content-type': 'application/x-www-form-urlencoded' };

const cases: [string, InjectOptions][] = [
  ['rd given twice', { method: 'GET', url: '/saml/default/a/login?rd=/a&rd=/b' }],
  ['rd with a NUL byte', { method: 'GET', url: '/saml/default/a/login?rd=/%00x' }],
  ['rd with a CRLF', { method: 'GET', url: '/saml/default/a/login?rd=/%0d%0aSet-Cookie:x=1' }],
  ['connector param given twice', { method: 'GET', url: '/auth/start?connector=default/a&connector=default/b' }],
  ['groups given twice', { method: 'GET', url: '/auth/verify?groups=a&groups=b' }],
  ['SAMLResponse given twice', { method: 'POST', url: acs, headers: form, payload: 'SAMLResponse=a&SAMLResponse=b' }],
  ['RelayState given twice', { method: 'POST', url: acs, headers: form, payload: 'SAMLResponse=PHg%2B&RelayState=a&RelayState=b' }],
  ['s given twice', { method: 'POST', url: `${acs}?s=a&s=b`, headers: form, payload: 'SAMLResponse=PHg%2B' }],
  ['ACS as JSON', { method: 'POST', url: acs, headers: { 'content-type': 'application/json' }, payload: '{"SAMLResponse":"PHg+"}' }],
  ['ACS with broken JSON', { method: 'POST', url: acs, headers: { 'content-type': 'application/json' }, payload: '{' }],
  ['ACS with an unknown content type', { method: 'POST', url: acs, headers: { 'content-type': 'text/xml' }, payload: '<x/>' }],
  ['ACS with no body', { method: 'POST', url: acs }],
  ['ACS with invalid percent-encoding', { method: 'POST', url: acs, headers: form, payload: 'SAMLResponse=%E0%A4%A' }],
  ['ACS with a base64 non-XML payload', { method: 'POST', url: acs, headers: form, payload: `SAMLResponse=${encodeURIComponent(Buffer.from('\u0000\u0001binary').toString('base64'))}` }],
  ['ACS with XML of another root', { method: 'POST', url: acs, headers: form, payload: `SAMLResponse=${encodeURIComponent(Buffer.from('<a xmlns="urn:x"/>').toString('base64'))}` }],
  ['ACS with a billion-laughs DOCTYPE', { method: 'POST', url: acs, headers: form, payload: `SAMLResponse=${encodeURIComponent(Buffer.from('<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>').toString('base64'))}` }],
  ['a garbage state cookie', { method: 'POST', url: acs, headers: { ...form, cookie: '__Host-sso_state=v1.%%%.zz; sso_session=...' }, payload: 'SAMLResponse=PHg%2B&RelayState=x' }],
  ['a garbage state cookie under the old name', { method: 'POST', url: acs, headers: { ...form, cookie: 'sso_state=v1.%%%.zz; sso_session=...' }, payload: 'SAMLResponse=PHg%2B&RelayState=x' }],
  ['a garbage session cookie', { method: 'GET', url: '/auth/verify', headers: { cookie: 'sso_session=eyJhbGciOiJub25lIn0.e30.' } }],
  ['a cookie header with no pairs', { method: 'GET', url: '/auth/whoami', headers: { cookie: ';;;=;' } }],
  ['an over-long connector name', { method: 'GET', url: `/saml/default/${'x'.repeat(300)}/metadata` }],
  ['percent-encoded slashes in the name', { method: 'GET', url: '/saml/default/a%2F..%2Fb/login' }],
  ['unknown route', { method: 'GET', url: '/saml' }],
  ['logout with a foreign rd', { method: 'POST', url: '/auth/logout?rd=https://evil.example' }],
];

describe('malformed requests', () => {
  for (const [name, req] of cases) {
    it(`answers ${name} with a 4xx, never a 5xx`, async () => {
      const res = await h.app.inject(req);
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: got ${res.statusCode}`);
      for (const line of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) assert.doesNotMatch(line, /^sso_session=[^;]+/);
    });
  }

  it('still signs users in after all of them', async () => {
    const { acs } = await signIn(h, { connector: 'default/a', response: { nameID: 'alice@example.com' } });
    assert.equal(acs.statusCode, 303);
  });

  it('logged no unhandled error', () => {
    assert.doesNotMatch(h.logText(), /unhandled error/);
  });
});
