// Which requests the listener's fast path answers itself, and how it reads
// the session cookie: only those where it reads exactly what fastify and
// parseCookies would (src/server/forward-auth-fast-path.ts, src/session/cookies.ts).

import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AddressInfo } from 'node:net';
import { forwardAuthFastPath, plainQuery } from '../../../src/server/forward-auth-fast-path.ts';
import type { PublicContext } from '../../../src/server/context.ts';
import type { SessionCheck } from '../../../src/server/forward-auth-answer.ts';
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

test('an early refusal that throws leaves the request to fastify and is logged; one that answers keeps it', async () => {
  const logged: unknown[] = [];
  const ctx = { logger: { error: (...args: unknown[]) => logged.push(args) } } as unknown as PublicContext;
  const check = {} as unknown as SessionCheck;
  let mode: 'throw' | 'answer' | 'pass' = 'throw';
  const fastPath = forwardAuthFastPath(ctx, check, (_req, res) => {
    if (mode === 'throw') throw new Error('boom');
    if (mode === 'pass') return false;
    res.writeHead(413, { 'content-length': '5' }).end('early');
    return true;
  });
  const server = fastPath.serverFactory((_req, res) => res.writeHead(200, { 'content-length': '7' }).end('fastify'), {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const post = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/saml/default/demo/acs`, { method: 'POST', body: 'x' });
    return `${res.status} ${await res.text()}`;
  };
  try {
    assert.equal(await post(), '200 fastify');
    assert.equal(logged.length, 1);
    assert.match(JSON.stringify(logged[0]), /early refusal failed/);
    mode = 'answer';
    assert.equal(await post(), '413 early');
    mode = 'pass';
    assert.equal(await post(), '200 fastify');
    fastPath.close();
    mode = 'answer';
    assert.equal(await post(), '200 fastify', 'once closing, everything goes to fastify');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
