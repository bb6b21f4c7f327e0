// /auth/logout revokes the session it ends: a copy of the cookie taken before
// the logout is refused afterwards (401 SessionRevoked), other sessions of the
// same user are not, a token that does not verify revokes nothing, and while
// the revocation list cannot answer forward-auth says 503, never 200.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import type { FastifyInstance } from 'fastify';
import { generateKeySet } from '../../../src/session/keys.ts';
import { MemoryRevocationList, REVOCATION_GRACE_SECONDS, RevocationListUnavailableError, type RevocationList } from '../../../src/session/revocation.ts';
import { SessionTokens } from '../../../src/session/tokens.ts';
import { SESSION, cookieValue, jwtPayload, setCookieLine, signIn, startHarness, type Harness, type HarnessOptions } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

/** A memory list that records what it was asked to revoke. */
class SpyList extends MemoryRevocationList {
  readonly revoked: string[] = [];
  override async revoke(jti: string, exp: number): Promise<void> {
    this.revoked.push(jti);
    return super.revoke(jti, exp);
  }
}

async function harness(o: HarnessOptions = {}): Promise<Harness> {
  const h = await startHarness(o);
  await h.apply(connectorManifest('demo', h.idp.certPem), bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs'] }));
  return h;
}

async function newSession(h: Harness): Promise<string> {
  const { acs } = await signIn(h);
  assert.equal(acs.statusCode, 303, acs.body);
  return cookieValue(acs, SESSION)!;
}

/** Status of /auth/verify and the status and reason of whoami, for one token. */
async function check(app: FastifyInstance, token: string): Promise<{ status: number; whoami: number; reason: string | undefined }> {
  const cookie = `${SESSION}=${token}`;
  const verify = await app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
  const whoami = await app.inject({ method: 'GET', url: '/auth/whoami?format=json', headers: { cookie } });
  const body = whoami.json() as { authenticated: boolean; reason?: string };
  return { status: verify.statusCode, whoami: whoami.statusCode, reason: body.reason };
}

const ALLOWED = { status: 200, whoami: 200, reason: undefined };
const REVOKED = { status: 401, whoami: 401, reason: 'SessionRevoked' };

for (const method of ['GET', 'POST'] as const) {
  test(`after ${method} /auth/logout a copy of the same token is refused with SessionRevoked`, async () => {
    const h = await harness();
    onCleanup(() => h.close());
    const copied = await newSession(h);
    assert.deepEqual(await check(h.app, copied), ALLOWED);
    const out = await h.app.inject({ method, url: '/auth/logout', headers: { cookie: `${SESSION}=${copied}` } });
    assert.equal(out.statusCode, 303);
    assert.match(setCookieLine(out, SESSION) ?? '', /^sso_session=;/, 'the cookie is cleared');
    assert.deepEqual(await check(h.app, copied), REVOKED);
  });
}

test('logout revokes only that session: another session of the same user still works', async () => {
  const h = await harness();
  onCleanup(() => h.close());
  const laptop = await newSession(h);
  const phone = await newSession(h);
  assert.notEqual(laptop, phone);
  await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: `${SESSION}=${laptop}` } });
  assert.deepEqual(await check(h.app, laptop), REVOKED);
  assert.deepEqual(await check(h.app, phone), ALLOWED);
});

test('a logout with a token that does not verify revokes nothing', async () => {
  const spy = new SpyList();
  const h = await harness({ revocations: spy });
  onCleanup(() => h.close());
  const token = await newSession(h);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  // Same jti, three ways of not being signed by the operator.
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  const flipped = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
  const foreignKeys = generateKeySet();
  const foreign = new SessionTokens(() => foreignKeys, h.publicURL);
  const other = await foreign.issue({ sub: 'alice@example.com', email: 'alice@example.com', groups: [], connector: 'default/demo' }, 3600);
  for (const forged of [unsigned, flipped, other.token, 'garbage']) {
    const out = await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: `${SESSION}=${forged}` } });
    assert.equal(out.statusCode, 303, 'the logout itself still answers as usual');
  }
  assert.deepEqual(spy.revoked, [], 'nothing was revoked');
  assert.deepEqual(await check(h.app, token), ALLOWED, `the real session with jti ${String(claims.jti)} still works`);
});

test('a revoked entry lasts until exp plus the grace, then expires and is swept', async () => {
  let nowMs = 1_700_000_000_000;
  const list = new MemoryRevocationList({ now: () => nowMs, sweepIntervalSeconds: 1 });
  const exp = nowMs / 1000 + 3600;
  await list.revoke('jti-1', exp);
  assert.equal(await list.isRevoked('jti-1'), true);
  assert.equal(await list.isRevoked('jti-2'), false);
  nowMs = (exp + REVOCATION_GRACE_SECONDS - 1) * 1000;
  assert.equal(await list.isRevoked('jti-1'), true, 'still revoked just before the end of the grace');
  nowMs = (exp + REVOCATION_GRACE_SECONDS) * 1000;
  assert.equal(await list.isRevoked('jti-1'), false, 'expired');
  // The next revoke sweeps the expired entry; a revoke of an already expired token adds nothing.
  await list.revoke('jti-old', nowMs / 1000 - REVOCATION_GRACE_SECONDS - 1);
  assert.equal(list.size, 0);
});

test('a session key revoked at T ends sessions issued up to T, not later ones, and is kept until its end plus the grace', async () => {
  let nowMs = 1_700_000_000_000;
  const T = nowMs / 1000;
  const list = new MemoryRevocationList({ now: () => nowMs, sweepIntervalSeconds: 1 });
  const keys = ['saml-session:default/demo\0_s1'];
  await list.revokeIssuedBefore(keys[0]!, T, T + 3600);
  assert.equal(await list.isRevoked('jti-a', { iat: T - 100, keys }), true, 'issued before');
  assert.equal(await list.isRevoked('jti-a', { iat: T, keys }), true, 'issued in the same second');
  assert.equal(await list.isRevoked('jti-b', { iat: T + 1, keys }), false, 'issued after (signed in again)');
  assert.equal(await list.isRevoked('jti-a', { iat: T - 100, keys: ['saml-session:default/demo\0_s2'] }), false, 'another key');
  assert.equal(await list.isRevoked('jti-a'), false, 'without keys only the jti counts');
  // A later revocation of the same key moves the time on.
  await list.revokeIssuedBefore(keys[0]!, T + 10, T + 3600);
  assert.equal(await list.isRevoked('jti-b', { iat: T + 1, keys }), true);
  nowMs = (T + 3600 + REVOCATION_GRACE_SECONDS - 1) * 1000;
  assert.equal(await list.isRevoked('jti-a', { iat: T - 100, keys }), true);
  nowMs = (T + 3600 + REVOCATION_GRACE_SECONDS) * 1000;
  assert.equal(await list.isRevoked('jti-a', { iat: T - 100, keys }), false, 'expired');
  await list.revokeIssuedBefore('other', nowMs / 1000 - 1000, nowMs / 1000 - REVOCATION_GRACE_SECONDS - 1);
  assert.equal(list.size, 0, 'swept, and an already ended key adds nothing');
});

test('logout records the entry until the token\'s own exp (plus the grace)', async () => {
  // Past that the token no longer verifies at all (SessionExpired), which is why the list can forget it.
  let nowMs = Date.now();
  const list = new MemoryRevocationList({ now: () => nowMs });
  const h = await harness({ revocations: list });
  onCleanup(() => h.close());
  const token = await newSession(h);
  await h.app.inject({ method: 'GET', url: '/auth/logout', headers: { cookie: `${SESSION}=${token}` } });
  assert.deepEqual(await check(h.app, token), REVOKED);
  const { exp, jti } = jwtPayload(token) as { exp: number; jti: string };
  nowMs = (exp + REVOCATION_GRACE_SECONDS - 1) * 1000;
  assert.equal(await list.isRevoked(jti), true);
  nowMs = (exp + REVOCATION_GRACE_SECONDS) * 1000;
  assert.equal(await list.isRevoked(jti), false);
});

test('when revoke fails, logout still clears the cookie, answers as usual and logs a warning', async () => {
  const failing: RevocationList = {
    async revoke() {
      throw new RevocationListUnavailableError('redis unreachable');
    },
    async isRevoked() {
      return false;
    },
    async revokeIssuedBefore() {
      throw new RevocationListUnavailableError('redis unreachable');
    },
  };
  const h = await harness({ revocations: failing });
  onCleanup(() => h.close());
  const token = await newSession(h);
  const out = await h.app.inject({ method: 'POST', url: '/auth/logout?rd=/bye', headers: { cookie: `${SESSION}=${token}` } });
  assert.equal(out.statusCode, 303);
  assert.equal(out.headers.location, '/bye');
  assert.match(setCookieLine(out, SESSION) ?? '', /^sso_session=;/);
  const warning = h.logLines().find((l) => String(l.msg).startsWith('could not revoke the session on logout'));
  assert.ok(warning, h.logText());
  assert.equal(warning.level, 40);
});

test('when the revocation list cannot answer, verify and whoami say 503, never 200', async () => {
  let down = false;
  const list: RevocationList = {
    async revoke() {},
    async revokeIssuedBefore() {},
    async isRevoked() {
      if (down) throw new RevocationListUnavailableError('redis unreachable');
      return false;
    },
  };
  const h = await harness({ revocations: list });
  onCleanup(() => h.close());
  const token = await newSession(h);
  assert.deepEqual(await check(h.app, token), ALLOWED);
  down = true;
  assert.deepEqual(await check(h.app, token), { status: 503, whoami: 503, reason: 'RevocationListUnavailable' });
  const page = await h.app.inject({ method: 'GET', url: '/auth/whoami', headers: { cookie: `${SESSION}=${token}` } });
  assert.equal(page.statusCode, 503);
  assert.match(page.body, /<code>RevocationListUnavailable<\/code>/);
  // A request without a (valid) session needs no answer from the list.
  assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify' })).statusCode, 401);
  assert.match(h.logText(), /revocation list unavailable/);
  const metrics = await h.metrics.registry.metrics();
  assert.match(metrics, /sso_forward_auth_total\{result="denied",reason="RevocationListUnavailable"\} 1/);
  down = false;
  assert.deepEqual(await check(h.app, token), ALLOWED);
});
