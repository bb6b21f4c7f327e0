// The verified-token cache must never change an answer: SessionTokens with
// its cache gives, for every token, time and key set, what a fresh
// verification gives (src/session/verified-tokens.ts).

import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { generateKeySet, parseKeySet, rotate, toPersisted, type SessionKeySet } from '../../../src/session/keys.ts';
import { SESSION_AUDIENCE, SessionTokens, type VerifyResult } from '../../../src/session/tokens.ts';
import { VerifiedTokenCache } from '../../../src/session/verified-tokens.ts';

const ISS = 'https://sso.example.com';
const T0 = new Date('2030-01-01T00:00:00Z');
const T0s = T0.getTime() / 1000;
const claims = { sub: 'alice@example.com', groups: ['dev'], connector: 'team-a/okta', saml: { nameID: 'alice', sessionIndex: '_s1' } };
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Tokens of every kind the cache might treat differently. */
async function pool(set: SessionKeySet): Promise<string[]> {
  const tokens = new SessionTokens(() => set, ISS);
  const valid = (await tokens.issue(claims, 3600, T0)).token;
  const short = (await tokens.issue(claims, 60, at(100))).token;
  const future = (await tokens.issue(claims, 3600, at(7200))).token;
  const signed = (payload: Record<string, unknown>) =>
    new SignJWT({ groups: ['dev'], connector: 'team-a/okta', ...payload })
      .setProtectedHeader({ alg: 'EdDSA', kid: set.current.kid, typ: 'JWT' })
      .setSubject('bob')
      .setIssuer(ISS)
      .setAudience(SESSION_AUDIENCE)
      .setIssuedAt(T0s)
      .setExpirationTime(T0s + 3600)
      .setJti('j-nbf')
      .sign(set.current.privateKey);
  const notBefore = await signed({ nbf: T0s + 1800 });
  const badClaims = await signed({ groups: 'not-a-list' });
  const at10 = valid.length - 10;
  const tampered = valid.slice(0, at10) + (valid[at10] === 'A' ? 'B' : 'A') + valid.slice(at10 + 1);
  return [valid, short, future, notBefore, badClaims, tampered, 'not.a.token'];
}

const plain = (r: VerifyResult) => JSON.parse(JSON.stringify(r)) as unknown;

test('cached answers equal fresh verifications for any token, time and key rotation', async () => {
  const start = generateKeySet();
  const tokens = await pool(start);
  const step = fc.record({
    token: fc.nat({ max: tokens.length - 1 }),
    // Around every boundary of the pool (iat, nbf, exp, each ± the 5 s tolerance), and anywhere.
    seconds: fc.oneof(
      fc.constantFrom(-100, -6, -5, 0, 5, 100, 159, 160, 165, 166, 1794, 1795, 1796, 2500, 3604, 3605, 3606, 7194, 7195, 7200, 8000),
      fc.integer({ min: -100, max: 11_000 }),
    ),
    keys: fc.constantFrom('same', 'same', 'same', 'rotate', 'reload'),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
      let set = start;
      const cached = new SessionTokens(() => set, ISS, { cache: new VerifiedTokenCache(5, { capacity: 4 }) });
      for (const s of steps) {
        if (s.keys === 'rotate') set = rotate(set);
        // A reloaded Secret: the same keys as new objects.
        if (s.keys === 'reload') set = parseKeySet(toPersisted(set));
        const fresh = new SessionTokens(() => set, ISS);
        const token = tokens[s.token]!;
        const want = await fresh.verify(token, at(s.seconds));
        const got = await cached.verify(token, at(s.seconds));
        assert.deepEqual(plain(got), plain(want), `token ${s.token} at +${s.seconds}s`);
      }
    }),
    { numRuns: 150 },
  );
});

test('a cached token is refused once its key is dropped, and once expired', async () => {
  let set = generateKeySet();
  const tokens = new SessionTokens(() => set, ISS);
  const { token, exp } = await tokens.issue(claims, 600, T0);
  assert.ok((await tokens.verify(token, at(1))).ok);
  set = rotate(set);
  assert.ok((await tokens.verify(token, at(2))).ok, 'the previous key still verifies');
  set = rotate(set);
  assert.deepEqual(await tokens.verify(token, at(3)), { ok: false, reason: 'SessionInvalid' });

  const again = await tokens.issue(claims, 600, T0);
  assert.ok((await tokens.verify(again.token, at(1))).ok);
  assert.deepEqual(await tokens.verify(again.token, new Date((exp + 5) * 1000)), { ok: false, reason: 'SessionExpired' });
});

test('cached claims are frozen: a caller cannot change what the next request sees', async () => {
  const set = generateKeySet();
  const tokens = new SessionTokens(() => set, ISS);
  const { token } = await tokens.issue(claims, 600, T0);
  const first = await tokens.verify(token, at(1));
  assert.ok(first.ok);
  assert.throws(() => first.claims.groups.push('admins'), TypeError);
  assert.throws(() => {
    (first.claims as { sub: string }).sub = 'mallory';
  }, TypeError);
  const second = await tokens.verify(token, at(2));
  assert.ok(second.ok);
  assert.deepEqual(second.claims.groups, ['dev']);
  assert.equal(second.claims.sub, 'alice@example.com');
});

test('the cache holds at most its capacity, dropping the least recently used (to the second)', async () => {
  const set = generateKeySet();
  let clock = 0;
  const cache = new VerifiedTokenCache(5, { capacity: 2, clock: () => clock });
  const tokens = new SessionTokens(() => set, ISS, { cache });
  const [a, b, c] = await Promise.all([0, 1, 2].map(async () => (await tokens.issue(claims, 600, T0)).token));
  await tokens.verify(a!, at(1));
  await tokens.verify(b!, at(1));
  // Hits move an entry to the most recent end at most once a second.
  clock = 1001;
  await tokens.verify(a!, at(1)); // a is now the most recent
  await tokens.verify(c!, at(1)); // evicts b
  assert.equal(cache.size, 2);
  assert.ok(cache.lookup(a!, set, T0s + 1)?.ok);
  assert.equal(cache.lookup(b!, set, T0s + 1), undefined);
  assert.ok(cache.lookup(c!, set, T0s + 1)?.ok);
  // Past the entry age limit an entry is verified afresh.
  clock = 61_000;
  assert.equal(cache.lookup(a!, set, T0s + 1), undefined);
});

test('tokens that fail the signature or claim checks never enter the cache', async () => {
  const set = generateKeySet();
  const cache = new VerifiedTokenCache(5);
  const tokens = new SessionTokens(() => set, ISS, { cache });
  for (const bad of (await pool(set)).slice(4)) assert.equal((await tokens.verify(bad, at(1))).ok, false);
  assert.equal(cache.size, 0);
});
