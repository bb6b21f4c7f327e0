// One log line per login attempt. Never logged: the SAML message, the session
// token, the state cookie, keys. Production logs the reason code only;
// Provisioning adds the decision trail and the attributes received.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { SESSION, STATE, cookieValue, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const MARKER = 'attr-value-7f3c1e';

async function harness(stage: 'Production' | 'Provisioning'): Promise<Harness> {
  const idp = await signingIdentity('idp');
  return startHarness({
    objects: [connectorManifest('demo', idp.certPem, { stage, reference: 'legacy-42' }), bindingManifest('alice', 'alice@example.com', ['demo'])],
  });
}

function loginLines(h: Harness): Record<string, unknown>[] {
  return h.logLines().filter((l) => l.msg === 'login' || l.msg === 'login refused');
}

/** Secrets that must never reach the log, whatever the stage. */
async function assertNoSecrets(h: Harness, secrets: { samlResponse: string; token?: string; state: string }): Promise<void> {
  await new Promise((r) => setImmediate(r));
  const text = h.logText();
  assert.ok(text.length > 0, 'something was logged');
  assert.ok(!text.includes(secrets.samlResponse.slice(0, 64)), 'no SAMLResponse');
  assert.ok(!text.includes(secrets.samlResponse.slice(-64)), 'no SAMLResponse (tail)');
  assert.ok(!text.includes(Buffer.from(secrets.samlResponse, 'base64').toString('utf8').slice(0, 60)), 'no decoded SAMLResponse');
  assert.ok(!text.includes('<saml'), 'no SAML XML');
  if (secrets.token) assert.ok(!text.includes(secrets.token.split('.')[2]!), 'no session token');
  assert.ok(!text.includes(secrets.state.split('.')[2]!), 'no state cookie');
  assert.ok(!text.includes('PRIVATE KEY'), 'no private key');
  assert.ok(!text.includes(h.idp.keyPem.split('\n')[1]!), 'no IdP key material');
}

async function attempt(h: Harness) {
  const ok = await signIn(h, { response: { attributes: { mail: 'alice@example.com', department: MARKER } } });
  assert.equal(ok.acs.statusCode, 303, ok.acs.body);
  const refused = await signIn(h, { response: { nameID: 'bob@example.com', attributes: { department: MARKER } } });
  assert.equal(refused.acs.statusCode, 403);
  return { ok, refused };
}

test('Production: one line per attempt with the reason code, no attributes, no trail, no user', async () => {
  const h = await harness('Production');
  onCleanup(() => h.close());
  const { ok, refused } = await attempt(h);
  await assertNoSecrets(h, { samlResponse: ok.samlResponse, token: cookieValue(ok.acs, SESSION)!, state: ok.login.state });
  await assertNoSecrets(h, { samlResponse: refused.samlResponse, state: refused.login.state });

  const lines = loginLines(h);
  assert.equal(lines.length, 2, JSON.stringify(lines));
  const [success, failure] = lines as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(success.reason, 'Success');
  assert.equal(success.result, 'success');
  assert.equal(success.connector, 'default/demo');
  assert.equal(success.reference, 'legacy-42');
  assert.equal(typeof success.correlationId, 'string');
  assert.equal(failure.reason, 'BindingNotActive');
  assert.equal(failure.status, 403);
  for (const line of lines) {
    assert.equal(line.attributes, undefined);
    assert.equal(line.trail, undefined);
    assert.equal(line.user, undefined);
  }
  assert.ok(!h.logText().includes(MARKER), 'no attribute value anywhere in the log');
  assert.ok(!h.logText().includes('bob@example.com'), 'no refused identity in the Production log');
});

test('the correlation id on the error page is the one in the log line', async () => {
  const h = await harness('Production');
  onCleanup(() => h.close());
  const { acs } = await signIn(h, { response: { nameID: 'bob@example.com' } });
  const id = /Correlation id: <code>([^<]+)<\/code>/.exec(acs.body)?.[1];
  assert.ok(id, acs.body);
  assert.equal(loginLines(h).filter((l) => l.correlationId === id).length, 1);
});

test('Provisioning: the trail, the user and the attributes received are logged; secrets still are not', async () => {
  const h = await harness('Provisioning');
  onCleanup(() => h.close());
  const { ok, refused } = await attempt(h);
  await assertNoSecrets(h, { samlResponse: ok.samlResponse, token: cookieValue(ok.acs, SESSION)!, state: ok.login.state });
  await assertNoSecrets(h, { samlResponse: refused.samlResponse, state: refused.login.state });

  const [success, failure] = loginLines(h) as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(success.stage, 'Provisioning');
  assert.equal(success.user, 'alice@example.com');
  assert.deepEqual(success.attributes, { mail: ['alice@example.com'], department: [MARKER] });
  const trail = success.trail as { check: string; ok: boolean }[];
  assert.ok(Array.isArray(trail) && trail.length > 3, 'a decision trail');
  assert.ok(trail.every((e) => e.ok));
  assert.ok(trail.some((e) => e.check === 'inResponseTo'));

  assert.equal(failure.reason, 'BindingNotActive');
  assert.equal(failure.user, 'bob@example.com');
  assert.deepEqual(failure.attributes, { department: [MARKER] });

  // A validation failure logs the trail up to the failed check.
  const bad = await signIn(h, { response: { audience: 'https://someone-else.example/' } });
  assert.equal(bad.acs.statusCode, 401);
  const last = loginLines(h).at(-1)!;
  assert.equal(last.reason, 'AudienceMismatch');
  const badTrail = last.trail as { check: string; ok: boolean }[];
  assert.equal(badTrail.at(-1)?.ok, false);
  await assertNoSecrets(h, { samlResponse: bad.samlResponse, state: bad.login.state });
});

test('no session token and no state cookie in the log at debug level through a whole session', async () => {
  const h = await harness('Provisioning');
  onCleanup(() => h.close());
  const { acs, login, samlResponse } = await signIn(h);
  const token = cookieValue(acs, SESSION)!;
  const cookie = `${SESSION}=${token}; ${STATE}=${login.state}`;
  await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
  await h.app.inject({ method: 'GET', url: '/auth/whoami', headers: { cookie } });
  await h.app.inject({ method: 'GET', url: '/auth/logout', headers: { cookie } });
  await assertNoSecrets(h, { samlResponse, token, state: login.state });
});
