// /auth/verify remembers verified tokens (src/session/verified-tokens.ts) and
// the listener answers it before fastify (src/server/forward-auth-fast-path.ts).
// Neither may let a session through one request longer than before: each case
// warms the cache over a real socket, changes the world, and expects the
// very next request to be refused, over the socket and through app.inject.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from '@jest/globals';
import { rotate } from '../../../src/session/keys.ts';
import { RevocationListUnavailableError, type RevocationList } from '../../../src/session/revocation.ts';
import { onCleanup } from '../../support/cleanup.ts';
import { SESSION, cookieValue, signIn, startHarness, type Harness, type HarnessOptions } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** A request over a socket: the path real ingresses take (through the fast path when it applies). */
function overSocket(port: number, path: string, cookie: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { cookie } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function signedIn(o: HarnessOptions = {}, sessionNotOnOrAfter?: Date): Promise<{ h: Harness; cookie: string; port: number }> {
  const h = await startHarness(o);
  onCleanup(() => h.close());
  await h.apply(connectorManifest('demo', h.idp.certPem), bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs'] }));
  const { acs } = await signIn(h, sessionNotOnOrAfter ? { response: { sessionNotOnOrAfter } } : {});
  assert.equal(acs.statusCode, 303, acs.body);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (h.app.server.address() as AddressInfo).port;
  return { h, cookie: `${SESSION}=${cookieValue(acs, SESSION)!}`, port };
}

/** Twice over the socket, so the token is cached; the answer is 200 with the identity. */
async function warm(port: number, cookie: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const a = await overSocket(port, '/auth/verify', cookie);
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-auth-request-user'], 'alice@example.com');
    assert.equal(a.headers['cache-control'], 'no-store');
  }
}

/** The next request is refused with `status` over the socket and through fastify; whoami names `reason`. */
async function refusedNext(h: Harness, port: number, cookie: string, status: number, reason: string): Promise<void> {
  const socket = await overSocket(port, '/auth/verify', cookie);
  assert.equal(socket.status, status);
  assert.equal(socket.headers['x-auth-request-user'], undefined);
  const inject = await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
  assert.equal(inject.statusCode, status);
  const whoami = await h.app.inject({ method: 'GET', url: '/auth/whoami?format=json', headers: { cookie } });
  assert.equal((whoami.json() as { reason?: string }).reason, reason);
}

test('a cached session that logs out is refused at the next request (SessionRevoked)', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  const out = await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } });
  assert.equal(out.statusCode, 303);
  await refusedNext(h, port, cookie, 401, 'SessionRevoked');
});

test('a cached session whose binding turns Denied, or Pending, is refused at the next request', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { approval: 'Denied' }));
  await refusedNext(h, port, cookie, 401, 'BindingNotActive');
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs'] }));
  await warm(port, cookie);
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { approval: 'Pending' }));
  await refusedNext(h, port, cookie, 401, 'BindingNotActive');
});

test('a cached session of a connector that is disabled is refused at the next request', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  await h.apply(connectorManifest('demo', h.idp.certPem, { enabled: false }));
  await refusedNext(h, port, cookie, 401, 'ConnectorDisabled');
});

test('a cached session is refused at the first request past its exp (SessionExpired)', async () => {
  let offsetMs = 0;
  // The IdP's SessionNotOnOrAfter (1 h) sets the token's exp, well before
  // session.ttl (8 h) would end it: exp alone must refuse it.
  const { h, cookie, port } = await signedIn({ now: () => new Date(Date.now() + offsetMs) }, new Date(Date.now() + 3600_000));
  await warm(port, cookie);
  // Verification tolerates 5 s of clock skew.
  offsetMs = 3600_000 + 6000;
  await refusedNext(h, port, cookie, 401, 'SessionExpired');
});

test('a cached session signed by a key that rotation dropped is refused at the next request', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  // One rotation keeps the key as the previous one: still valid.
  h.setKeys(rotate(h.keys));
  await warm(port, cookie);
  // The second drops it.
  h.setKeys(rotate(h.keys));
  await refusedNext(h, port, cookie, 401, 'SessionInvalid');
});

test('a token that differs from a cached one in one byte of its signature is refused', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  // Not the last character: its low bits are padding that base64url decoders ignore.
  const at = cookie.length - 10;
  const tampered = cookie.slice(0, at) + (cookie[at] === 'A' ? 'B' : 'A') + cookie.slice(at + 1);
  await refusedNext(h, port, tampered, 401, 'SessionInvalid');
  await warm(port, cookie);
});

test('over the socket, /auth/verify answers as fastify does: groups, connectors, repeated and encoded parameters, HEAD', async () => {
  const { h, cookie, port } = await signedIn();
  const cases: [string, string][] = [
    ['GET', '/auth/verify?groups=devs'],
    ['GET', '/auth/verify?groups=ops'],
    ['GET', '/auth/verify?connectors=default/*'],
    ['GET', '/auth/verify?connectors=other/demo'],
    ['GET', '/auth/verify?groups=ops&groups=devs'],
    ['GET', '/auth/verify?groups=de%76s'],
    ['GET', '/auth/verify?groups=ops,+devs'],
    ['GET', '/auth/verify/'],
    ['HEAD', '/auth/verify'],
    ['POST', '/auth/verify'],
  ];
  for (const [method, url] of cases) {
    const socket = await overSocket(port, url, cookie, method);
    const inject = await h.app.inject({ method: method as 'GET', url, headers: { cookie } });
    assert.equal(socket.status, inject.statusCode, `${method} ${url}`);
    for (const name of ['x-auth-request-user', 'x-auth-request-groups', 'cache-control']) {
      assert.equal(socket.headers[name], inject.headers[name], `${method} ${url}: ${name}`);
    }
  }
  // Spot checks that the comparison above compared something.
  assert.equal((await overSocket(port, '/auth/verify?groups=ops', cookie)).status, 403);
  assert.equal((await overSocket(port, '/auth/verify?groups=ops&groups=devs', cookie)).status, 400);
  assert.equal((await overSocket(port, '/auth/verify?groups=de%76s', cookie)).status, 200);
});

test('the fast path counts its answers in the forward-auth metric', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  await overSocket(port, '/auth/verify', 'sso_session=garbage');
  const text = await h.metrics.registry.metrics();
  assert.match(text, /sso_forward_auth_total\{[^}]*result="allowed"[^}]*reason="Allowed"[^}]*\} 2/);
  assert.match(text, /sso_forward_auth_total\{[^}]*result="denied"[^}]*reason="SessionInvalid"[^}]*\} 1/);
});

test('a remembered decision follows the binding and the query: new groups at the next request, groups= and connectors= judged per request', async () => {
  const { h, cookie, port } = await signedIn();
  await warm(port, cookie);
  assert.equal((await overSocket(port, '/auth/verify', cookie)).headers['x-auth-request-groups'], 'devs');
  await h.apply(bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs', 'ops'] }));
  assert.equal((await overSocket(port, '/auth/verify', cookie)).headers['x-auth-request-groups'], 'devs,ops');
  // The same session asks with different queries in turn: each gets its own answer.
  assert.equal((await overSocket(port, '/auth/verify?groups=admins', cookie)).status, 403);
  assert.equal((await overSocket(port, '/auth/verify?groups=ops', cookie)).status, 200);
  assert.equal((await overSocket(port, '/auth/verify?groups=admins', cookie)).status, 403);
  assert.equal((await overSocket(port, '/auth/verify?connectors=default/other', cookie)).status, 403);
  assert.equal((await overSocket(port, '/auth/verify', cookie)).status, 200);
  // A binding removed entirely: refused at the next request.
  await h.remove('UserBinding', 'default', 'alice');
  await refusedNext(h, port, cookie, 401, 'BindingNotActive');
});

test('a revocation list that answers in process is asked synchronously, and fails closed like one that answers by promise', async () => {
  let state: 'ok' | 'revoked' | 'down' = 'ok';
  const answer = () => {
    if (state === 'down') throw new RevocationListUnavailableError('list unreachable');
    return state === 'revoked';
  };
  let asked = 0;
  const list: RevocationList = {
    async revoke() {},
    async revokeIssuedBefore() {},
    async isRevoked() {
      throw new Error('the fast path must ask isRevokedNow when the list has it');
    },
    isRevokedNow() {
      asked++;
      return answer();
    },
  };
  const { h, cookie, port } = await signedIn({ revocations: list });
  await warm(port, cookie);
  assert.ok(asked >= 2, 'asked at every request');
  state = 'revoked';
  const socket = await overSocket(port, '/auth/verify', cookie);
  assert.equal(socket.status, 401);
  assert.equal(socket.headers['x-auth-request-user'], undefined);
  state = 'down';
  assert.equal((await overSocket(port, '/auth/verify', cookie)).status, 503);
  assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } })).statusCode, 503);
  assert.match(h.logText(), /revocation list unavailable/);
  state = 'ok';
  await warm(port, cookie);
});
