// Access requests (spec.access.requests: Enabled) through the public app:
// the Request access page after a valid sign-in without an Active binding,
// the request recorded once (a folder store, as in standalone mode), the
// Pending and Denied pages, approval taking effect at the next sign-in, and
// each refusal of the request route with its reason code.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { LightMyRequestResponse } from 'fastify';
import { DirectoryAccessRequestStore, requestBindingName, type AccessRequestStore } from '../../../src/access/requests.ts';
import { onCleanup } from '../../support/cleanup.ts';
import { cookieAttributes, cookieValue, sessionCookieHeader, setCookieLine, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const ACCESS = '__Host-sso_access';

async function harness(o: { requests?: 'Enabled' | 'Disabled'; store?: AccessRequestStore } = {}): Promise<{ h: Harness; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sso-requests-'));
  const h = await startHarness({ accessRequests: o.store ?? new DirectoryAccessRequestStore(dir) });
  onCleanup(() => h.close());
  const connector = connectorManifest('demo', h.idp.certPem) as { spec: Record<string, unknown> };
  connector.spec.access = { requests: o.requests ?? 'Enabled' };
  await h.apply(connector, bindingManifest('alice', 'alice@example.com', ['demo']));
  return { h, dir };
}

const asBob = { response: { nameID: 'bob@example.com' } };
const tokenOf = (res: LightMyRequestResponse) => /name="token" value="([^"]+)"/.exec(res.body)?.[1];
const reasonOf = (res: LightMyRequestResponse) => /Reason: <code>([^<]*)<\/code>/.exec(res.body)?.[1];

function request(h: Harness, acs: LightMyRequestResponse, o: { token?: string; site?: string | null; cookie?: string } = {}) {
  const cookie = o.cookie ?? `${ACCESS}=${cookieValue(acs, ACCESS)}`;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', cookie };
  if (o.site !== null) headers['sec-fetch-site'] = o.site ?? 'same-origin';
  return h.app.inject({ method: 'POST', url: '/auth/request-access', headers, payload: new URLSearchParams({ token: o.token ?? tokenOf(acs) ?? '' }).toString() });
}

async function files(dir: string): Promise<string[]> {
  try {
    // A literal array of this realm (readdir's comes from Node's).
    return [...(await readdir(join(dir, 'default')))].sort();
  } catch {
    return [];
  }
}

describe('access requests', () => {
  it('a valid sign-in without a binding shows Request access; pressing it records one Pending request; later sign-ins show Pending approval', async () => {
    const { h, dir } = await harness();
    const first = (await signIn(h, asBob)).acs;
    assert.equal(first.statusCode, 403);
    assert.equal(reasonOf(first), 'BindingNotActive');
    assert.match(first.body, /Request access/);
    assert.equal(cookieValue(first, 'sso_session'), undefined, 'no session');
    const attrs = cookieAttributes(setCookieLine(first, ACCESS)!);
    assert.equal(attrs.samesite, 'Strict');
    assert.ok('httponly' in attrs && 'secure' in attrs);
    assert.equal(attrs.path, '/');
    assert.equal(attrs.domain, undefined);

    const res = await request(h, first);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.body, /Pending approval/);
    assert.equal(cookieValue(res, ACCESS), '', 'the request cookie is spent');
    const name = requestBindingName('demo', 'bob@example.com');
    assert.deepEqual(await files(dir), [`${name}.yaml`]);
    const binding = parse(await readFile(join(dir, 'default', `${name}.yaml`), 'utf8')) as { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
    assert.deepEqual(binding.spec, { user: 'bob@example.com', connectors: ['demo'], approval: 'Pending' });
    assert.equal(binding.metadata.labels['sso.operator.dev/access-request'], 'true');

    // Signing in again: the Pending page, nothing new written.
    const again = (await signIn(h, asBob)).acs;
    assert.equal(again.statusCode, 403);
    assert.equal(reasonOf(again), 'AccessPending');
    assert.doesNotMatch(again.body, /name="token"/);
    // Pressing an old form again (a second cookie from before): idempotent.
    const twice = await request(h, first);
    assert.equal(twice.statusCode, 200);
    assert.deepEqual(await files(dir), [`${name}.yaml`]);
    const metrics = await h.metrics.registry.metrics();
    assert.match(metrics, /sso_access_requests_total\{namespace="default",connector="demo",result="created"\} 1/);
    assert.match(metrics, /sso_access_requests_total\{namespace="default",connector="demo",result="exists"\} 1/);
  });

  it('approval takes effect at the next sign-in without a restart; Pending and Denied bindings show their pages and never verify', async () => {
    const { h } = await harness();
    await h.apply(bindingManifest('bob', 'bob@example.com', ['demo'], { approval: 'Pending' }));
    assert.equal(reasonOf((await signIn(h, asBob)).acs), 'AccessPending');
    await h.apply(bindingManifest('bob', 'bob@example.com', ['demo'], { approval: 'Denied' }));
    const denied = (await signIn(h, asBob)).acs;
    assert.equal(denied.statusCode, 403);
    assert.equal(reasonOf(denied), 'AccessDenied');
    assert.match(denied.body, /Access denied/);
    await h.apply(bindingManifest('bob', 'bob@example.com', ['demo'], { approval: 'Approved' }));
    const ok = (await signIn(h, asBob)).acs;
    assert.equal(ok.statusCode, 303);
    // A session issued before the binding turned Pending (or Denied) stops verifying at the next request.
    const cookie = sessionCookieHeader(ok);
    const verify = () => h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
    assert.equal((await verify()).statusCode, 200);
    await h.apply(bindingManifest('bob', 'bob@example.com', ['demo'], { approval: 'Pending' }));
    assert.equal((await verify()).statusCode, 401);
    await h.apply(bindingManifest('bob', 'bob@example.com', ['demo'], { approval: 'Denied' }));
    assert.equal((await verify()).statusCode, 401);
  });

  it('refuses a request from another site, without or with a wrong token, with a forged or foreign cookie, or for a connector that takes none', async () => {
    const { h, dir } = await harness();
    const acs = (await signIn(h, asBob)).acs;
    assert.equal(reasonOf(await request(h, acs, { site: 'cross-site' })), 'CrossSiteRequest');
    assert.equal(reasonOf(await request(h, acs, { site: null })), 'CrossSiteRequest', 'no Sec-Fetch-Site and no Origin');
    assert.equal(reasonOf(await request(h, acs, { token: 'x' })), 'AccessRequestExpired');
    assert.equal(reasonOf(await request(h, acs, { cookie: `${ACCESS}=${cookieValue(acs, ACCESS)!.slice(0, -3)}abc` })), 'AccessRequestExpired');
    // The same value under the unprefixed name (tossed in by a sibling host) does not verify.
    assert.equal(reasonOf(await request(h, acs, { cookie: `sso_access=${cookieValue(acs, ACCESS)}` })), 'AccessRequestExpired');
    // The token of another user's form does not fit this cookie.
    const other = (await signIn(h, { response: { nameID: 'carol@example.com' } })).acs;
    assert.equal(reasonOf(await request(h, acs, { token: tokenOf(other)! })), 'AccessRequestExpired');
    assert.deepEqual(await files(dir), [], 'nothing recorded');

    const off = await harness({ requests: 'Disabled' });
    const plain = (await signIn(off.h, asBob)).acs;
    assert.equal(reasonOf(plain), 'BindingNotActive');
    assert.doesNotMatch(plain.body, /Request access/);
    assert.equal(setCookieLine(plain, ACCESS), undefined);
    // A cookie from a connector that takes requests, replayed after it stopped taking them.
    const connector = connectorManifest('demo', h.idp.certPem) as { spec: Record<string, unknown> };
    connector.spec.access = { requests: 'Disabled' };
    await h.apply(connector);
    assert.equal(reasonOf(await request(h, acs)), 'AccessRequestsDisabled');
  });

  it('limits new requests per connector (429), and a store that cannot record answers 503', async () => {
    const { h } = await harness();
    const users = Array.from({ length: 21 }, (_, i) => `user${i}@example.com`);
    const statuses: number[] = [];
    for (const u of users) statuses.push((await request(h, (await signIn(h, { response: { nameID: u } })).acs)).statusCode);
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(200));
    assert.equal(statuses[20], 429);
    const failing = await harness({ store: { create: () => Promise.reject(new Error('apiserver down')) } });
    const res = await request(failing.h, (await signIn(failing.h, asBob)).acs);
    assert.equal(res.statusCode, 503);
    assert.equal(reasonOf(res), 'AccessRequestUnavailable');
  });

  it('answers JSON when asked', async () => {
    const { h } = await harness();
    const acs = (await signIn(h, asBob)).acs;
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/request-access',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', cookie: `${ACCESS}=${cookieValue(acs, ACCESS)}` },
      payload: `token=${tokenOf(acs)}`,
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      { ...(res.json() as Record<string, unknown>), correlationId: undefined },
      {
        outcome: 'pending-approval',
        status: 200,
        title: 'Pending approval',
        message: 'Your request for access through Connector demo as bob@example.com is waiting for an administrator. Sign in again once it has been approved.',
        reason: 'AccessPending',
        correlationId: undefined,
        user: 'bob@example.com',
        connector: 'default/demo',
        loginURL: 'https://sp.example.test/saml/default/demo/login',
      },
    );
  });
});
