// /auth/verify ends access at the next request when the binding or the
// connector goes away, and refuses tokens it did not sign.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import type { FastifyInstance } from 'fastify';
import { generateKeySet } from '../../../src/session/keys.ts';
import { SessionTokens } from '../../../src/session/tokens.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { SESSION, cookieValue, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function signedIn(): Promise<{ h: Harness; cookie: string; token: string }> {
  const idp = await signingIdentity('idp');
  const h = await startHarness({
    objects: [connectorManifest('demo', idp.certPem), bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs'] })],
  });
  const { acs } = await signIn(h);
  assert.equal(acs.statusCode, 303, acs.body);
  const token = cookieValue(acs, SESSION)!;
  return { h, cookie: `${SESSION}=${token}`, token };
}

/** Status of /auth/verify and the reason whoami gives, for one cookie header. */
async function check(app: FastifyInstance, cookie: string): Promise<{ status: number; reason: string | undefined }> {
  const verify = await app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
  const whoami = await app.inject({ method: 'GET', url: '/auth/whoami?format=json', headers: { cookie } });
  const body = whoami.json() as { authenticated: boolean; reason?: string };
  if (verify.statusCode === 200) assert.equal(body.authenticated, true);
  return { status: verify.statusCode, reason: body.reason };
}

test('deleting the binding ends access at the next request', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  assert.deepEqual(await check(h.app, cookie), { status: 200, reason: undefined });
  await h.remove('UserBinding', 'default', 'alice');
  assert.deepEqual(await check(h.app, cookie), { status: 401, reason: 'BindingNotActive' });
});

test('an empty binding index (registry.setBindings([])) ends access', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  assert.equal((await check(h.app, cookie)).status, 200);
  h.registry.setBindings([]);
  assert.deepEqual(await check(h.app, cookie), { status: 401, reason: 'BindingNotActive' });
});

test('denying the binding ends access; its groups follow the binding as it is now', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['ops'] }));
  const verify = await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
  assert.equal(verify.statusCode, 200);
  assert.equal(verify.headers['x-auth-request-groups'], 'ops');
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { approval: 'Denied' }));
  assert.deepEqual(await check(h.app, cookie), { status: 401, reason: 'BindingNotActive' });
});

test('disabling the connector ends access', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  await h.apply(connectorManifest('demo', h.idp.certPem, { enabled: false }));
  assert.deepEqual(await check(h.app, cookie), { status: 401, reason: 'ConnectorDisabled' });
  // Enabled again: the same session is honoured again (nothing was revoked but the switch).
  await h.apply(connectorManifest('demo', h.idp.certPem));
  assert.equal((await check(h.app, cookie)).status, 200);
});

test('deleting the connector ends access', async () => {
  const { h, cookie } = await signedIn();
  onCleanup(() => h.close());
  await h.remove('SsoConnector', 'default', 'demo');
  assert.deepEqual(await check(h.app, cookie), { status: 401, reason: 'ConnectorDisabled' });
});

test('a tampered token is refused', async () => {
  const { h, token } = await signedIn();
  onCleanup(() => h.close());
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  claims.groups = ['admins'];
  claims.sub = 'mallory@example.com';
  const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  assert.deepEqual(await check(h.app, `${SESSION}=${forged}`), { status: 401, reason: 'SessionInvalid' });
  // One flipped signature character is enough.
  const flipped = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
  assert.deepEqual(await check(h.app, `${SESSION}=${flipped}`), { status: 401, reason: 'SessionInvalid' });
});

test('a well-formed token signed by another key is refused', async () => {
  const { h } = await signedIn();
  onCleanup(() => h.close());
  const foreignKeys = generateKeySet();
  const foreign = new SessionTokens(() => foreignKeys, h.publicURL);
  const { token } = await foreign.issue({ sub: 'alice@example.com', email: 'alice@example.com', groups: [], connector: 'default/demo' }, 3600);
  assert.deepEqual(await check(h.app, `${SESSION}=${token}`), { status: 401, reason: 'SessionInvalid' });
  // The same claims signed with the operator's own key pass: the key is what differs.
  const own = new SessionTokens(() => h.keys, h.publicURL);
  const ok = await own.issue({ sub: 'alice@example.com', email: 'alice@example.com', groups: [], connector: 'default/demo' }, 3600);
  assert.equal((await check(h.app, `${SESSION}=${ok.token}`)).status, 200);
});
