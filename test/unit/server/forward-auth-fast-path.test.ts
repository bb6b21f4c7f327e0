// Which requests the listener's fast path answers itself, and how it reads
// the session cookie: only those where it reads exactly what fastify and
// parseCookies would (src/server/forward-auth-fast-path.ts, src/session/cookies.ts).

import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plainQuery } from '../../../src/server/forward-auth-fast-path.ts';
import { parseCookies, readCookie } from '../../../src/session/cookies.ts';

test('plainQuery takes /auth/verify with plain, single-valued parameters and leaves everything else to fastify', () => {
  assert.deepEqual(plainQuery('/auth/verify'), {});
  assert.deepEqual({ ...plainQuery('/auth/verify?') }, {});
  assert.deepEqual({ ...plainQuery('/auth/verify?groups=a,b&connectors=ns/*') }, { groups: 'a,b', connectors: 'ns/*' });
  for (const url of [
    '/auth/verifyx',
    '/auth/verify/',
    '/auth/verify#x',
    '/auth/whoami',
    '/auth/verify?groups=a&groups=b',
    '/auth/verify?groups=%61',
    '/auth/verify?groups=a+b',
    '/auth/verify?groups=a;b',
    '/auth/verify?__proto__=x&__proto__=y',
  ]) {
    assert.equal(plainQuery(url), undefined, url);
  }
  // A prototype-named parameter is a plain own key, not a prototype change.
  const q = plainQuery('/auth/verify?__proto__=x') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(q), null);
  assert.equal(q['__proto__'], 'x');
  assert.equal(q.groups, undefined);
});

test('readCookie gives what parseCookies gives for that name, for any header', () => {
  const piece = fc.constantFrom('sso_session', ' sso_session ', 'other', '=', ';', ' ', '"', 'a', 'sso_session=', '"v"', '=x', '');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom('sso_session', 'other', 'a'), (parts, name) => {
      const header = parts.join('');
      assert.equal(readCookie(header, name), parseCookies(header)[name], JSON.stringify(header));
    }),
    { numRuns: 2000 },
  );
  assert.equal(readCookie(undefined, 'sso_session'), undefined);
  assert.equal(readCookie('a=1; sso_session="t"; sso_session=u', 'sso_session'), 't');
});
