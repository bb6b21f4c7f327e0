// Every page a person can end a sign-in on (signed in, sign-in failed, no
// access with and without the Request access button, pending approval,
// access denied, connector disabled or not ready) and the few around it
// (not signed in, signed out, sign-out failed, request not recorded, a bad
// request), through
// the public app: an HTML page by default, and with `Accept: application/json`
// the same status and content as JSON, each with a correlation id and
// nothing internal (no stack, no trail, no attribute, no token, no key).

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import Fastify, { type LightMyRequestResponse } from 'fastify';
import { sendError, writeErrorPage } from '../../../src/server/html.ts';
import { DirectoryAccessRequestStore } from '../../../src/access/requests.ts';
import { onCleanup } from '../../support/cleanup.ts';
import { answer, cookieValue, sessionCookieHeader, signIn, startHarness, startLogin, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const ACCESS = '__Host-sso_access';
const JSON_ACCEPT = 'application/json';
/** Every field an outcome's JSON may have. */
const ALLOWED_FIELDS = new Set(['outcome', 'status', 'title', 'message', 'reason', 'correlationId', 'user', 'connector', 'canRequestAccess', 'requestAccess', 'loginURL', 'next', 'authenticated', 'claims']);

async function harness(): Promise<Harness> {
  const h = await startHarness({ accessRequests: new DirectoryAccessRequestStore(await mkdtemp(join(tmpdir(), 'sso-outcomes-'))) });
  onCleanup(() => h.close());
  const requests = connectorManifest('requests', h.idp.certPem) as { spec: Record<string, unknown> };
  requests.spec.access = { requests: 'Enabled' };
  await h.apply(
    connectorManifest('demo', h.idp.certPem),
    requests,
    connectorManifest('off', h.idp.certPem, { enabled: false }),
    connectorManifest('broken', h.idp.certPem, { certificate: { secretRef: { name: 'missing-idp-cert', key: 'tls.crt' } } }),
    bindingManifest('alice', 'alice@example.com', ['demo', 'requests']),
    bindingManifest('carol', 'carol@example.com', ['requests'], { approval: 'Pending' }),
    bindingManifest('dave', 'dave@example.com', ['requests'], { approval: 'Denied' }),
  );
  return h;
}

/** A whole sign-in at `connector` whose ACS POST carries `accept`: the ACS answer. */
async function acs(h: Harness, connector: string, nameID: string, accept: string | undefined, overrides: Parameters<typeof answer>[2] = {}): Promise<LightMyRequestResponse> {
  const path = `/saml/default/${connector}`;
  const login = await startLogin(h.app, `${path}/login?rd=%2Fapp`);
  const form = new URLSearchParams({ SAMLResponse: answer(h.idp, login.request, { nameID, ...overrides }) });
  if (login.relayState) form.set('RelayState', login.relayState);
  return h.app.inject({
    method: 'POST',
    url: `${path}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${login.stateName}=${login.state}`, ...(accept ? { accept } : {}) },
    payload: form.toString(),
  });
}

const get = (h: Harness, url: string, accept?: string, cookie?: string) =>
  h.app.inject({ method: 'GET', url, headers: { ...(accept ? { accept } : {}), ...(cookie ? { cookie } : {}) } });

/** The visible text of a page: tags dropped, the entities escapeHtml writes decoded, whitespace collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/\s+/g, ' ')
    .replace(/ ([.,;:])/g, '$1');
}

interface Outcome {
  outcome: string;
  status: number;
  title: string;
  message: string;
  reason?: string;
  correlationId: string;
  [field: string]: unknown;
}

/**
 * Asserts that `html` (asked without Accept) and `json` (asked with
 * Accept: application/json) are the same outcome: status, title, every
 * sentence of the message, the reason code and a correlation id on both,
 * nothing internal in either. Returns the JSON.
 */
function assertSameOutcome(html: LightMyRequestResponse, json: LightMyRequestResponse, expected: { status: number; outcome: string; reason?: string }, secrets: string[] = []): Outcome {
  assert.equal(html.statusCode, expected.status, html.body.slice(0, 500));
  assert.equal(json.statusCode, expected.status, json.body.slice(0, 500));
  assert.match(String(html.headers['content-type']), /^text\/html/);
  assert.match(String(json.headers['content-type']), /^application\/json/);
  assert.equal(html.headers['cache-control'], 'no-store');
  assert.equal(json.headers['cache-control'], 'no-store');
  assert.match(String(json.headers.vary), /Accept/);

  const o = json.json() as Outcome;
  for (const field of Object.keys(o)) assert.ok(ALLOWED_FIELDS.has(field), `unexpected field ${field} in ${json.body}`);
  assert.equal(o.outcome, expected.outcome);
  assert.equal(o.status, expected.status);
  assert.equal(o.reason, expected.reason);
  assert.match(o.correlationId, /^[0-9a-f]{16}$/);
  assert.ok(o.title.length > 0 && o.message.length > 0);

  const text = textOf(html.body);
  assert.equal(/<title>([^<]*)<\/title>/.exec(html.body)?.[1], o.title, 'the same title');
  for (const sentence of o.message.split(/(?<=\.) /)) assert.ok(text.includes(sentence.replace(/\.$/, '')), `the page says "${sentence}":\n${text}`);
  assert.match(text, new RegExp(`${expected.reason ? `Reason: ${expected.reason} · ` : ''}Correlation id: [0-9a-f]{16}`));

  for (const [what, body] of [['page', html.body], ['JSON', json.body]] as const) {
    assert.doesNotMatch(body, /\bstack\b|\btrail\b|\battributes\b|Error:|\bat [\w.]+ \(|BEGIN [A-Z ]*(KEY|CERTIFICATE)|undefined|\[object Object\]/, `nothing internal in the ${what}: ${body.slice(0, 800)}`);
    for (const s of secrets) assert.ok(!body.includes(s), `the ${what} does not carry a secret`);
  }
  return o;
}

describe('outcome pages: HTML by default, the same as JSON with Accept: application/json', () => {
  it('signed in (/auth/whoami): the claims, a correlation id and no reason; ?format=json as well', async () => {
    const h = await harness();
    const ok = (await signIn(h, { response: { nameID: 'alice@example.com' } })).acs;
    assert.equal(ok.statusCode, 303);
    const cookie = sessionCookieHeader(ok);
    const o = assertSameOutcome(await get(h, '/auth/whoami', undefined, cookie), await get(h, '/auth/whoami', JSON_ACCEPT, cookie), { status: 200, outcome: 'signed-in' });
    assert.equal(o.authenticated, true);
    assert.equal((o.claims as { sub: string }).sub, 'alice@example.com');
    assert.equal('atk' in (o.claims as object), false);
    const byQuery = await get(h, '/auth/whoami?format=json', undefined, cookie);
    assert.equal((byQuery.json() as Outcome).outcome, 'signed-in');
  });

  it('not signed in (/auth/whoami without a session): 401 with the reason', async () => {
    const h = await harness();
    const o = assertSameOutcome(await get(h, '/auth/whoami'), await get(h, '/auth/whoami', JSON_ACCEPT), { status: 401, outcome: 'not-signed-in', reason: 'SessionMissing' });
    assert.equal(o.authenticated, false);
  });

  it('sign-in failed: 401 with the reason code, never the validation details; the correlation id is the login log line\'s', async () => {
    const h = await harness();
    const wrongAudience = { audience: 'https://elsewhere.example.test/metadata' };
    const html = await acs(h, 'demo', 'alice@example.com', undefined, wrongAudience);
    const json = await acs(h, 'demo', 'alice@example.com', JSON_ACCEPT, wrongAudience);
    const o = assertSameOutcome(html, json, { status: 401, outcome: 'sign-in-failed', reason: 'AudienceMismatch' });
    assert.equal(o.message, 'The sign-in could not be completed.');
    assert.doesNotMatch(json.body, /elsewhere\.example\.test/, 'not the audience received');
    const logged = h.logLines().find((l) => l.correlationId === o.correlationId);
    assert.equal(logged?.reason, 'AudienceMismatch', 'the log line carries the same correlation id');
  });

  it('no access, without the Request access button (requests Disabled): 403 BindingNotActive, canRequestAccess false', async () => {
    const h = await harness();
    const o = assertSameOutcome(await acs(h, 'demo', 'bob@example.com', undefined), await acs(h, 'demo', 'bob@example.com', JSON_ACCEPT), { status: 403, outcome: 'no-access', reason: 'BindingNotActive' });
    assert.equal(o.canRequestAccess, false);
  });

  it('no access, with the Request access button: the user, the connector, and where the form posts with its token', async () => {
    const h = await harness();
    const html = await acs(h, 'requests', 'bob@example.com', undefined);
    const json = await acs(h, 'requests', 'bob@example.com', JSON_ACCEPT);
    const o = assertSameOutcome(html, json, { status: 403, outcome: 'no-access', reason: 'BindingNotActive' }, [cookieValue(json, ACCESS)!]);
    assert.deepEqual({ user: o.user, connector: o.connector, canRequestAccess: o.canRequestAccess }, { user: 'bob@example.com', connector: 'default/requests', canRequestAccess: true });
    const form = o.requestAccess as { method: string; action: string; token: string };
    assert.equal(form.method, 'POST');
    assert.equal(form.action, '/auth/request-access');
    // The JSON's token is the one its own cookie goes with: a client can post it.
    const posted = await h.app.inject({
      method: 'POST',
      url: form.action,
      headers: { accept: JSON_ACCEPT, 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', cookie: `${ACCESS}=${cookieValue(json, ACCESS)}` },
      payload: new URLSearchParams({ token: form.token }).toString(),
    });
    assert.equal(posted.statusCode, 200, posted.body);
    assert.equal((posted.json() as Outcome).outcome, 'pending-approval');
  });

  it('pending approval: 403 AccessPending with the user and the address to sign in again', async () => {
    const h = await harness();
    const o = assertSameOutcome(await acs(h, 'requests', 'carol@example.com', undefined), await acs(h, 'requests', 'carol@example.com', JSON_ACCEPT), { status: 403, outcome: 'pending-approval', reason: 'AccessPending' });
    assert.equal(o.user, 'carol@example.com');
    assert.equal(o.loginURL, 'https://sp.example.test/saml/default/requests/login');
  });

  it('access denied: 403 AccessDenied, never the reason the administrator wrote', async () => {
    const h = await harness();
    const o = assertSameOutcome(await acs(h, 'requests', 'dave@example.com', undefined), await acs(h, 'requests', 'dave@example.com', JSON_ACCEPT), { status: 403, outcome: 'access-denied', reason: 'AccessDenied' });
    assert.equal(o.connector, 'default/requests');
    assert.equal(o.user, undefined);
  });

  it('connector disabled: 404 ConnectorNotFound, the same as a connector that does not exist', async () => {
    const h = await harness();
    const off = assertSameOutcome(await get(h, '/saml/default/off/login'), await get(h, '/saml/default/off/login', JSON_ACCEPT), { status: 404, outcome: 'connector-unavailable', reason: 'ConnectorNotFound' });
    const missing = (await get(h, '/saml/default/nothing-here/login', JSON_ACCEPT)).json() as Outcome;
    assert.deepEqual({ ...off, correlationId: '' }, { ...missing, correlationId: '' });
  });

  it('connector not ready: 503 ConnectorNotReady', async () => {
    const h = await harness();
    assertSameOutcome(await get(h, '/saml/default/broken/login'), await get(h, '/saml/default/broken/login', JSON_ACCEPT), { status: 503, outcome: 'connector-unavailable', reason: 'ConnectorNotReady' });
  });

  it('signed out (single logout endpoint without a message): 200 SignedOut', async () => {
    const h = await harness();
    const o = assertSameOutcome(await get(h, '/saml/default/demo/slo'), await get(h, '/saml/default/demo/slo', JSON_ACCEPT), { status: 200, outcome: 'signed-out', reason: 'SignedOut' });
    assert.equal(o.next, '/');
  });

  it('request not recorded: a cross-site request to /auth/request-access is refused as a page or as JSON', async () => {
    const h = await harness();
    const post = (accept?: string) =>
      h.app.inject({ method: 'POST', url: '/auth/request-access', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site', ...(accept ? { accept } : {}) }, payload: 'token=x' });
    assertSameOutcome(await post(), await post(JSON_ACCEPT), { status: 403, outcome: 'request-not-recorded', reason: 'CrossSiteRequest' });
  });

  it('a bad request and an unknown address: 400 MalformedRequest and 404 NotFound', async () => {
    const h = await harness();
    assertSameOutcome(await get(h, '/auth/start?rd=/a&rd=//evil.example'), await get(h, '/auth/start?rd=/a&rd=//evil.example', JSON_ACCEPT), { status: 400, outcome: 'bad-request', reason: 'MalformedRequest' });
    assertSameOutcome(await get(h, '/nothing'), await get(h, '/nothing', JSON_ACCEPT), { status: 404, outcome: 'not-found', reason: 'NotFound' });
  });

  it('sign-out failed: a logout whose return address is not allowed is refused (400 RedirectNotAllowed)', async () => {
    const h = await harness();
    const url = `/auth/logout?rd=${encodeURIComponent('https://evil.example/')}`;
    const o = assertSameOutcome(await get(h, url), await get(h, url, JSON_ACCEPT), { status: 400, outcome: 'sign-out-failed', reason: 'RedirectNotAllowed' });
    assert.equal(o.message, 'The address to return to is not allowed.');
    const slo = assertSameOutcome(await get(h, '/saml/default/off/slo'), await get(h, '/saml/default/off/slo', JSON_ACCEPT), { status: 404, outcome: 'sign-out-failed', reason: 'ConnectorNotFound' });
    assert.equal(slo.message, 'There is no enabled connector at this address.');
  });
});

describe("the listener's error pages (writeErrorPage)", () => {
  it("are sendError's pages and headers, built once per status and reason around the correlation id", async () => {
    const app = Fastify();
    onCleanup(() => app.close());
    app.get<{ Querystring: { status: string; reason: string; id: string } }>('/', (req, reply) => sendError(reply, Number(req.query.status), req.query.reason, req.query.id));
    const pairs: [number, string][] = [[401, 'UnsolicitedResponseRefused'], [400, 'MalformedResponse'], [413, 'ResponseTooLarge'], [404, 'ConnectorNotFound'], [503, 'ConnectorNotReady'], [401, 'Odd<"reason">&']];
    // Twice each hex id (built, then cached), and ids that are not hex (escaped, never cached).
    const ids = ['0123456789abcdef', 'fedcba9876543210', 'fedcba98', '<b>&"id"', 'ABCDEF0123456789'];
    for (const [status, reason] of pairs) {
      for (const id of ids) {
        for (const extra of [[], ['connection', 'close']]) {
          const expected = await app.inject({ method: 'GET', url: '/', query: { status: String(status), reason, id } });
          let head: { status: number; headers: string[] } | undefined;
          let body = '';
          const res = { writeHead: (s: number, h: string[]) => ((head = { status: s, headers: h }), res), end: (b: string) => (body = b) };
          writeErrorPage(res as unknown as ServerResponse, status, reason, id, extra);
          assert.equal(head?.status, status);
          assert.equal(body, expected.body, `${status} ${reason} ${id}`);
          const headers: Record<string, string> = {};
          for (let i = 0; i < (head?.headers.length ?? 0); i += 2) headers[head!.headers[i]!] = head!.headers[i + 1]!;
          const { date: _d, connection: _c, 'keep-alive': _k, ...routed } = expected.headers as Record<string, string>;
          const { connection, ...written } = headers;
          assert.deepEqual(written, routed, `${status} ${reason} ${id}`);
          assert.equal(connection, extra.length ? 'close' : undefined);
        }
      }
    }
  });
});
