// SAML single logout through the HTTP routes, with a LogoutRequest signed as
// an IdP would sign it. IdP-initiated: /saml/{ns}/{name}/slo revokes the
// sessions the request names (by SessionIndex, else by NameID) with or
// without our cookie, and answers the IdP with a LogoutResponse. SP-initiated:
// /auth/logout ends the session here and sends a LogoutRequest to the IdP;
// only the IdP's answer to that request, bound by the state cookie, is
// accepted back. Every refusal changes nothing.

import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { signElement } from '../../../src/demo-idp/saml-idp.ts';
import { SIG } from '../../../src/saml/algorithms.ts';
import { formatSamlTime } from '../../../src/saml/time.ts';
import { NS } from '../../../src/saml/xml.ts';
import { IDP_ENTITY_ID } from '../../support/saml-fixtures.ts';
import { decodeState } from '../../../src/session/state-cookie.ts';
import { legacyStateValue } from '../../support/legacy-state.ts';
import { PLAIN_STATE, SESSION, STATE, cookieValue, jwtPayload, setCookieLine, setCookies, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const IDP_SLO = 'https://idp.example.test/slo';
const SLO_PATH = '/saml/default/demo/slo';
const { rsaSha256: RSA_SHA256, rsaSha1: RSA_SHA1 } = SIG;
const { protocol: SAMLP, assertion: SAML } = NS;
let counter = 0;

async function harness(o: { sloURL?: string | null } = {}): Promise<Harness> {
  const h = await startHarness();
  const sloURL = o.sloURL === null ? undefined : (o.sloURL ?? IDP_SLO);
  await h.apply(
    connectorManifest('demo', h.idp.certPem, sloURL ? { sloURL } : {}),
    connectorManifest('other', h.idp.certPem, { sloURL: IDP_SLO }),
    bindingManifest('alice', 'alice@example.com', ['demo', 'other']),
  );
  return h;
}

async function session(h: Harness, sessionIndex: string, connector = 'default/demo'): Promise<string> {
  const { acs } = await signIn(h, { connector, response: { nameID: 'alice@example.com', sessionIndex } });
  assert.equal(acs.statusCode, 303, acs.body);
  return cookieValue(acs, SESSION)!;
}

async function verifyStatus(app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie: `${SESSION}=${token}` } })).statusCode;
}

interface LogoutRequestOptions {
  id?: string;
  nameID?: string;
  sessionIndexes?: string[];
  issuer?: string;
  destination?: string | null;
  issueInstant?: Date;
}

function logoutRequestXml(h: Harness, o: LogoutRequestOptions = {}): { id: string; xml: string } {
  const id = o.id ?? `_lr${++counter}${Date.now()}`;
  const destination = o.destination === null ? '' : ` Destination="${o.destination ?? `${h.publicURL}${SLO_PATH}`}"`;
  const indexes = (o.sessionIndexes ?? []).map((s) => `<samlp:SessionIndex>${s}</samlp:SessionIndex>`).join('');
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${id}" Version="2.0" IssueInstant="${formatSamlTime(o.issueInstant ?? new Date())}"${destination}>` +
    `<saml:Issuer>${o.issuer ?? IDP_ENTITY_ID}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${o.nameID ?? 'alice@example.com'}</saml:NameID>${indexes}</samlp:LogoutRequest>`;
  return { id, xml };
}

/** The query of an HTTP-Redirect message, signed over its raw octets as SAML bindings 3.4.4.1 says (or unsigned). */
function redirectQuery(
  param: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  o: { keyPem?: string; relayState?: string; sigAlg?: string; hash?: string } = {},
): string {
  const enc = encodeURIComponent;
  let q = `${param}=${enc(deflateRawSync(Buffer.from(xml)).toString('base64'))}`;
  if (o.relayState !== undefined) q += `&RelayState=${enc(o.relayState)}`;
  if (!o.keyPem) return q;
  q += `&SigAlg=${enc(o.sigAlg ?? RSA_SHA256)}`;
  const signature = sign(o.hash ?? 'sha256', Buffer.from(q), o.keyPem).toString('base64');
  return `${q}&Signature=${enc(signature)}`;
}

/** The SAML message a 302/303 Location carries (HTTP-Redirect). */
function messageAt(location: string, param: 'SAMLRequest' | 'SAMLResponse'): { xml: string; url: URL } {
  const url = new URL(location);
  const value = url.searchParams.get(param);
  assert.ok(value, `${param} in ${location}`);
  return { xml: inflateRawSync(Buffer.from(value, 'base64')).toString('utf8'), url };
}

function attrOf(xml: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(xml)?.[1];
}

async function metric(h: Harness, pattern: RegExp): Promise<boolean> {
  return pattern.test(await h.metrics.registry.metrics());
}

test('an IdP LogoutRequest (HTTP-Redirect, signed) revokes the session it names without our cookie and answers the IdP', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const ended = await session(h, '_idp-session-1');
  const kept = await session(h, '_idp-session-2');
  assert.equal(jwtPayload(ended).saml_session_index, '_idp-session-1');
  assert.equal(jwtPayload(ended).saml_nameid, 'alice@example.com');
  const { id, xml } = logoutRequestXml(h, { sessionIndexes: ['_idp-session-1'] });
  const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem, relayState: 'idp-relay' })}` });
  assert.equal(res.statusCode, 302, res.body);
  const answer = messageAt(String(res.headers.location), 'SAMLResponse');
  assert.equal(`${answer.url.origin}${answer.url.pathname}`, IDP_SLO);
  assert.equal(answer.url.searchParams.get('RelayState'), 'idp-relay');
  assert.match(answer.xml, /^<samlp:LogoutResponse /);
  assert.equal(attrOf(answer.xml, 'InResponseTo'), id);
  assert.equal(attrOf(answer.xml, 'Destination'), IDP_SLO);
  assert.match(answer.xml, /StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/);
  assert.equal(await verifyStatus(h.app, ended), 401);
  assert.equal(await verifyStatus(h.app, kept), 200, 'another IdP session of the same user is not named');
  assert.ok(await metric(h, /sso_logouts_total\{namespace="default",connector="demo",initiator="idp",result="success",reason="Success"\} 1/));
  // The same request again is a replay: signed, so the IdP gets an error status back.
  const again = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem, relayState: 'idp-relay' })}` });
  assert.equal(again.statusCode, 302);
  assert.match(messageAt(String(again.headers.location), 'SAMLResponse').xml, /status:Requester"/);
  assert.ok(await metric(h, /sso_logouts_total\{namespace="default",connector="demo",initiator="idp",result="failure",reason="ReplayDetected"\} 1/));
});

test('a LogoutRequest without SessionIndex ends every earlier session of that NameID at that connector only', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const a = await session(h, '_s-a');
  const b = await session(h, '_s-b');
  const elsewhere = await session(h, '_s-c', 'default/other');
  const { xml } = logoutRequestXml(h, {});
  const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem })}` });
  assert.equal(res.statusCode, 302, res.body);
  assert.equal(await verifyStatus(h.app, a), 401);
  assert.equal(await verifyStatus(h.app, b), 401);
  assert.equal(await verifyStatus(h.app, elsewhere), 200, 'a session from another connector is not named');
  // Signing in again afterwards works (revocation covers sessions issued up
  // to the logout's second; wait past it).
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
  const fresh = await session(h, '_s-d');
  assert.equal(await verifyStatus(h.app, fresh), 200);
});

test('a LogoutRequest by HTTP-POST with an enveloped signature is accepted too, and clears the cookie it comes with', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const token = await session(h, '_post-1');
  const { id, xml } = logoutRequestXml(h, { sessionIndexes: ['_post-1'] });
  const signed = signElement(xml, id, { keyPem: h.idp.keyPem, keyInfoCertPem: h.idp.certPem });
  const res = await h.app.inject({
    method: 'POST',
    url: SLO_PATH,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${SESSION}=${token}` },
    payload: new URLSearchParams({ SAMLRequest: Buffer.from(signed).toString('base64'), RelayState: 'r' }).toString(),
  });
  assert.equal(res.statusCode, 302, res.body);
  assert.equal(attrOf(messageAt(String(res.headers.location), 'SAMLResponse').xml, 'InResponseTo'), id);
  assert.match(setCookieLine(res, SESSION) ?? '', /^sso_session=;/);
  assert.equal(await verifyStatus(h.app, token), 401);
});

test('without saml.idp.sloURL the IdP is answered with a page, the session still ends', async () => {
  const h = await harness({ sloURL: null });
  onCleanup(() => h.close());
  const token = await session(h, '_nourl');
  const { xml } = logoutRequestXml(h, { sessionIndexes: ['_nourl'] });
  const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem })}` });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /Signed out/);
  assert.equal(await verifyStatus(h.app, token), 401);
});

// Each refusal ends nothing: the named session still works and its cookie is
// left alone. Before the signature is proven the answer is an error page
// (status + reason); a request the IdP did sign that fails a later check is
// answered to the IdP with a LogoutResponse carrying an error status, so the
// IdP's logout chain goes on.
const refusals: Array<{ name: string; status: number; reason: string; signed: boolean; query: (h: Harness, other: { keyPem: string }) => string }> = [
  {
    name: 'unsigned (anyone could end sessions by linking here)',
    status: 401,
    reason: 'SignatureMissing',
    signed: false,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'] }).xml),
  },
  {
    name: 'signed by a key that is not configured',
    status: 401,
    reason: 'SignatureInvalid',
    signed: false,
    query: (h, other) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'] }).xml, { keyPem: other.keyPem }),
  },
  {
    name: 'RelayState changed after signing',
    status: 401,
    reason: 'SignatureInvalid',
    signed: false,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'] }).xml, { keyPem: h.idp.keyPem, relayState: 'a' }).replace('RelayState=a', 'RelayState=b'),
  },
  {
    name: 'signed with SHA-1',
    status: 401,
    reason: 'WeakAlgorithm',
    signed: false,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'] }).xml, { keyPem: h.idp.keyPem, sigAlg: RSA_SHA1, hash: 'sha1' }),
  },
  {
    name: 'both SAMLRequest and SAMLResponse',
    status: 400,
    reason: 'MalformedLogoutMessage',
    signed: false,
    query: (h) => `${redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'] }).xml, { keyPem: h.idp.keyPem })}&SAMLResponse=abc`,
  },
  {
    name: 'not deflate at all',
    status: 400,
    reason: 'MalformedLogoutMessage',
    signed: false,
    query: () => 'SAMLRequest=%25%25%25',
  },
  {
    name: 'from another issuer',
    status: 401,
    reason: 'IssuerMismatch',
    signed: true,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'], issuer: 'https://evil.example/idp' }).xml, { keyPem: h.idp.keyPem }),
  },
  {
    name: 'addressed to another connector',
    status: 401,
    reason: 'DestinationMismatch',
    signed: true,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'], destination: `${h.publicURL}/saml/default/other/slo` }).xml, { keyPem: h.idp.keyPem }),
  },
  {
    name: 'issued an hour ago',
    status: 401,
    reason: 'LogoutRequestExpired',
    signed: true,
    query: (h) => redirectQuery('SAMLRequest', logoutRequestXml(h, { sessionIndexes: ['_x'], issueInstant: new Date(Date.now() - 3600_000) }).xml, { keyPem: h.idp.keyPem }),
  },
];

for (const r of refusals) {
  test(`a LogoutRequest ${r.name} is refused (${r.reason}) and ends nothing`, async () => {
    const h = await harness();
    onCleanup(() => h.close());
    const token = await session(h, '_x');
    const { signingIdentity } = await import('../../support/saml-fixtures.ts');
    const other = await signingIdentity('other-idp');
    const query = r.query(h, other);
    const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${query}`, headers: { cookie: `${SESSION}=${token}` } });
    if (r.signed) {
      assert.equal(res.statusCode, 302, res.body);
      const answer = messageAt(String(res.headers.location), 'SAMLResponse');
      assert.match(answer.xml, /StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"/);
      const requestId = attrOf(inflateRawSync(Buffer.from(decodeURIComponent(/SAMLRequest=([^&]*)/.exec(query)![1]!), 'base64')).toString(), 'ID');
      assert.equal(attrOf(answer.xml, 'InResponseTo'), requestId);
    } else {
      assert.equal(res.statusCode, r.status, res.body);
      assert.match(res.body, new RegExp(r.reason));
    }
    assert.equal(setCookieLine(res, SESSION), undefined, 'the cookie is left alone');
    assert.equal(await verifyStatus(h.app, token), 200, 'the session still works');
    assert.ok(await metric(h, new RegExp(`sso_logouts_total\\{namespace="default",connector="demo",initiator="idp",result="failure",reason="${r.reason}"\\} 1`)));
  });
}

test('a signed LogoutRequest for another user ends that user\'s sessions, not the one whose cookie came along', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  await h.apply(bindingManifest('mallory', 'mallory@example.com', ['demo']));
  const alice = await session(h, '_alice');
  const { xml } = logoutRequestXml(h, { nameID: 'mallory@example.com', sessionIndexes: ['_mallory'] });
  const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem })}`, headers: { cookie: `${SESSION}=${alice}` } });
  assert.equal(res.statusCode, 302);
  assert.equal(setCookieLine(res, SESSION), undefined);
  assert.equal(await verifyStatus(h.app, alice), 200);
});

test('sessions without a SessionIndex, or with overlong values, are still named; many indexes revoke the NameID', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const noIndexRes = await signIn(h, { response: { nameID: 'alice@example.com', sessionIndex: null } });
  const noIndex = cookieValue(noIndexRes.acs, SESSION)!;
  assert.equal(jwtPayload(noIndex).saml_session_index, undefined);
  const longIndex = '_' + 'L'.repeat(600);
  const long = await session(h, longIndex);
  assert.equal(jwtPayload(long).saml_session_index, undefined);
  assert.match(String(jwtPayload(long).saml_session_index_sha256), /^[0-9a-f]{64}$/);
  const other = await session(h, '_other');
  // Names the long index: ends that session and the unindexed one, not _other.
  const first = logoutRequestXml(h, { sessionIndexes: [longIndex] });
  assert.equal((await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', first.xml, { keyPem: h.idp.keyPem })}` })).statusCode, 302);
  assert.equal(await verifyStatus(h.app, long), 401);
  assert.equal(await verifyStatus(h.app, noIndex), 401, 'a session without SessionIndex cannot be told apart: ended too');
  assert.equal(await verifyStatus(h.app, other), 200);
  // 17 indexes: more than one request may add one by one, so the whole NameID is revoked.
  const many = logoutRequestXml(h, { sessionIndexes: Array.from({ length: 17 }, (_, i) => `_many${i}`) });
  assert.equal((await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', many.xml, { keyPem: h.idp.keyPem })}` })).statusCode, 302);
  assert.equal(await verifyStatus(h.app, other), 401);
});

test('a RelayState longer than 80 bytes is not echoed to the IdP', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const { xml } = logoutRequestXml(h, { sessionIndexes: ['_r'] });
  const res = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', xml, { keyPem: h.idp.keyPem, relayState: 'r'.repeat(81) })}` });
  assert.equal(res.statusCode, 302);
  assert.equal(new URL(String(res.headers.location)).searchParams.get('RelayState'), null);
  const ok = logoutRequestXml(h, { sessionIndexes: ['_r2'] });
  const res2 = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLRequest', ok.xml, { keyPem: h.idp.keyPem, relayState: 'r'.repeat(80) })}` });
  assert.equal(new URL(String(res2.headers.location)).searchParams.get('RelayState'), 'r'.repeat(80));
});

test('POST /slo answers an unknown connector or an oversized body before reading it', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const unknown = await h.app.inject({ method: 'POST', url: '/saml/nope/nope/slo', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '10000000' }, payload: 'SAMLRequest=x' });
  assert.equal(unknown.statusCode, 404);
  const big = await h.app.inject({ method: 'POST', url: SLO_PATH, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '10000000' }, payload: 'SAMLRequest=x' });
  assert.equal(big.statusCode, 413);
  assert.match(big.body, /LogoutMessageTooLarge/);
});

/** POST /auth/logout with the session; returns the LogoutRequest sent to the IdP and the state cookie. */
async function spLogout(h: Harness, token: string, rd = '/bye', extraCookie = ''): Promise<{ res: LightMyRequestResponse; xml: string; relayState: string; state: string }> {
  const res = await h.app.inject({ method: 'POST', url: `/auth/logout?rd=${encodeURIComponent(rd)}`, headers: { cookie: `${SESSION}=${token}${extraCookie}` } });
  assert.equal(res.statusCode, 303, res.body);
  const { xml, url } = messageAt(String(res.headers.location), 'SAMLRequest');
  assert.equal(`${url.origin}${url.pathname}`, IDP_SLO);
  const state = cookieValue(res, STATE);
  assert.ok(state, `a pending logout is kept in ${STATE}`);
  return { res, xml, relayState: url.searchParams.get('RelayState') ?? '', state };
}

function logoutResponseXml(h: Harness, inResponseTo: string, status = 'Success'): string {
  return (
    `<samlp:LogoutResponse xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="_resp${++counter}" Version="2.0" IssueInstant="${formatSamlTime(new Date())}" Destination="${h.publicURL}${SLO_PATH}" InResponseTo="${inResponseTo}">` +
    `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${status}"/></samlp:Status></samlp:LogoutResponse>`
  );
}

test('/auth/logout ends the session here, sends a LogoutRequest to the IdP, and the IdP answer leads to rd', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const token = await session(h, '_sp-1');
  const out = await spLogout(h, token);
  assert.match(setCookieLine(out.res, SESSION) ?? '', /^sso_session=;/);
  assert.equal(await verifyStatus(h.app, token), 401, 'revoked before the IdP answers');
  assert.equal(attrOf(out.xml, 'Destination'), IDP_SLO);
  assert.match(out.xml, /<saml:Issuer>https:\/\/sp\.example\.test\/saml\/default\/demo\/metadata<\/saml:Issuer>/);
  assert.match(out.xml, /<saml:NameID Format="urn:oasis:names:tc:SAML:1\.1:nameid-format:emailAddress">alice@example\.com<\/saml:NameID>/);
  assert.match(out.xml, /<samlp:SessionIndex>_sp-1<\/samlp:SessionIndex>/);
  const requestId = attrOf(out.xml, 'ID')!;

  const back = await h.app.inject({
    method: 'GET',
    url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, requestId), { relayState: out.relayState })}`,
    headers: { cookie: `${STATE}=${out.state}` },
  });
  assert.equal(back.statusCode, 303, back.body);
  assert.equal(back.headers.location, '/bye');
  assert.match(setCookieLine(back, STATE) ?? '', /^__Host-sso_state=;/, 'the pending logout is spent');
  assert.ok(await metric(h, /sso_logouts_total\{namespace="default",connector="demo",initiator="sp",result="success",reason="Success"\} 1/));

  // The same answer again, with the browser's cookies as they are now: nothing pending any more.
  const again = await h.app.inject({
    method: 'GET',
    url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, requestId), { relayState: out.relayState })}`,
  });
  assert.equal(again.statusCode, 400);
  assert.match(again.body, /LogoutNotPending/);
});

test('an IdP answer that does not answer our request, or reports failure, does not pass for success', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const out = await spLogout(h, await session(h, '_sp-2'));
  const requestId = attrOf(out.xml, 'ID')!;
  const post = (xml: string, relayState = out.relayState) =>
    h.app.inject({
      method: 'GET',
      url: `${SLO_PATH}?${redirectQuery('SAMLResponse', xml, { relayState })}`,
      headers: { cookie: `${STATE}=${out.state}` },
    });
  const wrong = await post(logoutResponseXml(h, '_not-our-request'));
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.body, /InResponseToMismatch/);
  const failed = await post(logoutResponseXml(h, requestId, 'Responder'));
  assert.equal(failed.statusCode, 200);
  assert.match(failed.body, /Signed out here/);
  assert.match(failed.body, /Responder/);
  assert.ok(await metric(h, /sso_logouts_total\{namespace="default",connector="demo",initiator="sp",result="success",reason="IdPLogoutFailed"\} 1/));
  const unknownState = await post(logoutResponseXml(h, requestId), 'no-such-state');
  assert.equal(unknownState.statusCode, 400);
  assert.match(unknownState.body, /LogoutNotPending/);
});

test("a pending login's state id cannot complete a logout, nor a pending logout's a login", async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const login = await h.app.inject({ method: 'GET', url: '/saml/default/demo/login?rd=/x' });
  const loginState = cookieValue(login, STATE)!;
  const loginSid = new URL(String(login.headers.location)).searchParams.get('RelayState')!;
  const loginRid = attrOf(inflateRawSync(Buffer.from(new URL(String(login.headers.location)).searchParams.get('SAMLRequest')!, 'base64')).toString(), 'ID')!;
  const res = await h.app.inject({
    method: 'GET',
    url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, loginRid), { relayState: loginSid })}`,
    headers: { cookie: `${STATE}=${loginState}` },
  });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /LogoutNotPending/);
});

test('/auth/logout of a connector without sloURL stays local; an invalid rd is refused before anything leaves', async () => {
  const h = await harness({ sloURL: null });
  onCleanup(() => h.close());
  const token = await session(h, '_local');
  const res = await h.app.inject({ method: 'POST', url: '/auth/logout?rd=/done', headers: { cookie: `${SESSION}=${token}` } });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/done');
  const h2 = await harness();
  onCleanup(() => h2.close());
  const token2 = await session(h2, '_rd');
  const bad = await h2.app.inject({ method: 'POST', url: `/auth/logout?rd=${encodeURIComponent('https://evil.example/')}`, headers: { cookie: `${SESSION}=${token2}` } });
  assert.equal(bad.statusCode, 400);
  assert.equal(cookieValue(bad, STATE), undefined, 'no LogoutRequest was started');
});

test('the SLO route refuses other methods with 405 and unknown connectors with 404', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  assert.equal((await h.app.inject({ method: 'PUT', url: SLO_PATH })).statusCode, 405);
  assert.equal((await h.app.inject({ method: 'GET', url: '/saml/default/nope/slo?SAMLRequest=x' })).statusCode, 404);
});

test('an IdP that drops RelayState is matched to the pending logout by InResponseTo', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const out = await spLogout(h, await session(h, '_norelay'), '/gone');
  const requestId = attrOf(out.xml, 'ID')!;
  const wrong = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, '_unrelated'))}`, headers: { cookie: `${STATE}=${out.state}` } });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.body, /InResponseToMismatch/);
  const back = await h.app.inject({ method: 'GET', url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, requestId))}`, headers: { cookie: `${STATE}=${out.state}` } });
  assert.equal(back.statusCode, 303, back.body);
  assert.equal(back.headers.location, '/gone');
  assert.match(setCookieLine(back, STATE) ?? '', /^__Host-sso_state=;/);
});

test('GET /auth/logout from another site ends the session here only; the same site, or POST, also at the IdP', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  for (const [headers, slo] of [
    [{ 'sec-fetch-site': 'cross-site' }, false],
    [{ 'sec-fetch-site': 'same-site' }, false],
    [{}, false],
    [{ 'sec-fetch-site': 'same-origin' }, true],
    [{ 'sec-fetch-site': 'none' }, true],
  ] as const) {
    const token = await session(h, `_get-${JSON.stringify(headers)}`);
    const res = await h.app.inject({ method: 'GET', url: '/auth/logout?rd=/x', headers: { cookie: `${SESSION}=${token}`, ...headers } });
    assert.equal(res.statusCode, 303);
    assert.equal(String(res.headers.location).startsWith(IDP_SLO), slo, `${JSON.stringify(headers)} -> ${res.headers.location}`);
    assert.equal(await verifyStatus(h.app, token), 401, 'the session ends here either way');
  }
});

test('our LogoutRequest echoes the NameQualifier and SPNameQualifier the IdP put in the assertion', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const { acs } = await signIn(h, { response: { nameID: 'alice@example.com', sessionIndex: '_q', nameQualifier: 'https://idp.example.test/metadata', spNameQualifier: 'https://sp.example.test/saml/default/demo/metadata' } });
  const out = await spLogout(h, cookieValue(acs, SESSION)!);
  assert.match(
    out.xml,
    /<saml:NameID NameQualifier="https:\/\/idp\.example\.test\/metadata" SPNameQualifier="https:\/\/sp\.example\.test\/saml\/default\/demo\/metadata" Format="urn:oasis:names:tc:SAML:1\.1:nameid-format:emailAddress">alice@example\.com<\/saml:NameID>/,
  );
});

test('a pending logout under the old name sso_state (started before the upgrade) still completes, and the old cookie is expired', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const out = await spLogout(h, await session(h, '_upgrade'), '/was-pending');
  const requestId = attrOf(out.xml, 'ID')!;
  // The old release set the same entries under `sso_state`, in its v1 format.
  const old = legacyStateValue(decodeState(out.state, h.keys.stateKey, new Date(), { name: STATE }), h.keys.stateKey);
  const back = await h.app.inject({
    method: 'GET',
    url: `${SLO_PATH}?${redirectQuery('SAMLResponse', logoutResponseXml(h, requestId), { relayState: out.relayState })}`,
    headers: { cookie: `${PLAIN_STATE}=${old}` },
  });
  assert.equal(back.statusCode, 303, back.body);
  assert.equal(back.headers.location, '/was-pending');
  assert.match(setCookieLine(back, STATE) ?? '', /^__Host-sso_state=; Max-Age=0;/, 'written under the new name (nothing left: deleted)');
  assert.equal(setCookieLine(back, PLAIN_STATE), 'sso_state=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=None', 'the old cookie is expired, host-only as it was set');
});

test('/auth/logout beside a login started before the upgrade: one session line, both pending entries under __Host-sso_state, the old cookie expired', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const token = await session(h, '_both');
  const login = await h.app.inject({ method: 'GET', url: '/saml/default/demo/login?rd=/x' });
  const old = legacyStateValue(decodeState(cookieValue(login, STATE)!, h.keys.stateKey, new Date(), { name: STATE }), h.keys.stateKey);
  const out = await spLogout(h, token, '/bye', `; ${PLAIN_STATE}=${old}`);
  assert.equal(setCookies(out.res).filter((l) => l.startsWith(`${SESSION}=`)).length, 1, JSON.stringify(setCookies(out.res)));
  assert.equal(setCookieLine(out.res, PLAIN_STATE), 'sso_state=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=None');
  const entries = decodeState(out.state, h.keys.stateKey, new Date(), { name: STATE });
  assert.deepEqual(entries.map((e) => e.k ?? 'login'), ['login', 'logout']);
});
