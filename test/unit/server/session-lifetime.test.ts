// The session lasts session.ttl, never longer than the IdP's
// SessionNotOnOrAfter.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { SESSION, cookieAttributes, cookieValue, jwtPayload, setCookieLine, signIn, startHarness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

async function harness(ttl: string) {
  const idp = await signingIdentity('idp');
  return startHarness({ objects: [connectorManifest('demo', idp.certPem, { ttl }), bindingManifest('alice', 'alice@example.com', ['demo'])] });
}

test('SessionNotOnOrAfter earlier than session.ttl caps the session', async () => {
  const h = await harness('8h');
  onCleanup(() => h.close());
  const until = new Date(Date.now() + 10 * 60_000);
  const { acs } = await signIn(h, { response: { sessionNotOnOrAfter: until } });
  assert.equal(acs.statusCode, 303, acs.body);
  const claims = jwtPayload(cookieValue(acs, SESSION)!);
  assert.equal(claims.exp, Math.floor(until.getTime() / 1000));
  const maxAge = Number(cookieAttributes(setCookieLine(acs, SESSION)!)['max-age']);
  assert.equal(maxAge, Number(claims.exp) - Number(claims.iat), 'cookie and token expire together');
  assert.ok(maxAge <= 600 && maxAge >= 590, `max-age ${maxAge}`);
});

test('session.ttl shorter than SessionNotOnOrAfter gives the ttl', async () => {
  const h = await harness('15m');
  onCleanup(() => h.close());
  const { acs } = await signIn(h, { response: { sessionNotOnOrAfter: new Date(Date.now() + 3 * 3600_000) } });
  assert.equal(acs.statusCode, 303, acs.body);
  const claims = jwtPayload(cookieValue(acs, SESSION)!);
  assert.equal(Number(claims.exp) - Number(claims.iat), 900);
  assert.equal(cookieAttributes(setCookieLine(acs, SESSION)!)['max-age'], '900');
});

test('without SessionNotOnOrAfter the session lasts session.ttl', async () => {
  const h = await harness('2h');
  onCleanup(() => h.close());
  const { acs } = await signIn(h);
  const claims = jwtPayload(cookieValue(acs, SESSION)!);
  assert.equal(Number(claims.exp) - Number(claims.iat), 7200);
});

test('lowering session.ttl also shortens the sessions issued before; raised again, they last to their own exp at most', async () => {
  const h = await harness('8h');
  onCleanup(() => h.close());
  const { acs } = await signIn(h);
  const cookie = `${SESSION}=${cookieValue(acs, SESSION)!}`;
  const verify = async () => {
    const whoami = await h.app.inject({ method: 'GET', url: '/auth/whoami?format=json', headers: { cookie } });
    return { status: (await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } })).statusCode, reason: (whoami.json() as { reason?: string }).reason };
  };
  assert.deepEqual(await verify(), { status: 200, reason: undefined });
  await h.apply(connectorManifest('demo', h.idp.certPem, { ttl: '1s' }));
  await new Promise((r) => setTimeout(r, 2100));
  assert.deepEqual(await verify(), { status: 401, reason: 'SessionExpired' });
  // The token still says 8 h; the connector's ttl is what counts.
  await h.apply(connectorManifest('demo', h.idp.certPem, { ttl: '8h' }));
  assert.deepEqual(await verify(), { status: 200, reason: undefined }, 'back to 8 h: the token itself has not expired');
});
