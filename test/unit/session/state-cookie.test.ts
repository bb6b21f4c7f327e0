import { legacyStateValue } from '../../support/legacy-state.ts';
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  MAX_PENDING_LOGINS,
  PENDING_TTL_SECONDS,
  addPending,
  createPending,
  decodeState,
  encodeState,
  takePending,
  type PendingLogin,
} from '../../../src/session/state-cookie.ts';
import { HOST_STATE_COOKIE, serializeCookie, stateCookieOptions } from '../../../src/session/cookies.ts';

const KEY = new Uint8Array(randomBytes(32));
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function pending(n: number, rd = `/app/${n}`, now = T0): PendingLogin {
  return createPending({ rid: `_req${n}-${'a'.repeat(30)}`, c: 'team-a/okta', rd }, now);
}

test('round-trip', () => {
  const list = addPending(addPending([], pending(1), T0), pending(2), T0);
  const value = encodeState(list, KEY);
  assert.match(value, /^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeState(value, KEY, T0), list);
});

test('a value is bound to its cookie name; the v1 format of the previous release only where allowed', () => {
  const list = [pending(1)];
  const host = encodeState(list, KEY, '__Host-sso_state');
  assert.deepEqual(decodeState(host, KEY, T0, { name: '__Host-sso_state' }), list);
  assert.deepEqual(decodeState(host, KEY, T0, { name: 'sso_state' }), [], 'under another name');
  assert.deepEqual(decodeState(host, KEY, T0), [], 'the default name is sso_state');
  const v1 = legacyStateValue(list, KEY);
  assert.deepEqual(decodeState(v1, KEY, T0, { legacy: true }), list);
  assert.deepEqual(decodeState(v1, KEY, T0), [], 'v1 only when allowed');
  assert.deepEqual(decodeState(v1, KEY, T0, { name: '__Host-sso_state' }), []);
});

test('createPending: random sid, 10 minute expiry', () => {
  const a = pending(1);
  const b = pending(1);
  assert.notEqual(a.sid, b.sid);
  assert.equal(a.exp, T0.getTime() / 1000 + PENDING_TTL_SECONDS);
  assert.equal(PENDING_TTL_SECONDS, 600);
});

test('tampered, foreign, or malformed values give an empty list and never throw', () => {
  const value = encodeState([pending(1)], KEY);
  const [v, p, m] = value.split('.') as [string, string, string];
  const otherKey = new Uint8Array(randomBytes(32));
  const flipped = p.slice(0, 5) + (p[5] === 'A' ? 'B' : 'A') + p.slice(6);
  const cases = [
    undefined,
    null,
    '',
    'garbage',
    `${v}.${flipped}.${m}`,
    `${v}.${p}.${m.slice(0, -2)}`,
    `${v}.${p}.`,
    `v1.${p}.${m}`,
    `v3.${p}.${m}`,
    `${v}.${p}.${m}.x`,
    encodeState([pending(1)], otherKey),
    'v1.%%%.###',
    'x'.repeat(100_000),
  ];
  for (const c of cases) assert.deepEqual(decodeState(c, KEY, T0), [], String(c).slice(0, 30));
});

test('a validly signed payload with the wrong shape gives [] or drops bad entries', async () => {
  // Build values with the real MAC over odd JSON to check the decoder's own validation.
  const { createHmac } = await import('node:crypto');
  const { deflateRawSync } = await import('node:zlib');
  const sign = (json: string) => {
    const payload = deflateRawSync(Buffer.from(json)).toString('base64url');
    const mac = createHmac('sha256', KEY).update('sso_state.v2.sso_state.' + payload).digest('base64url');
    return `v2.${payload}.${mac}`;
  };
  assert.deepEqual(decodeState(sign('{"a":1}'), KEY, T0), []);
  assert.deepEqual(decodeState(sign('not json'), KEY, T0), []);
  const good = pending(1);
  const decoded = decodeState(sign(JSON.stringify([{ sid: 'x' }, null, 3, good, { ...good, sid: 'a b' }])), KEY, T0);
  assert.deepEqual(decoded, [good]);
});

test('expired entries are dropped', () => {
  const old = pending(1, '/a', T0);
  const fresh = pending(2, '/b', at(300));
  const value = encodeState([old, fresh], KEY);
  assert.deepEqual(decodeState(value, KEY, at(599)), [old, fresh]);
  assert.deepEqual(decodeState(value, KEY, at(600)), [fresh]);
  assert.deepEqual(decodeState(value, KEY, at(900)), []);
  // addPending also drops expired entries
  assert.deepEqual(addPending([old], fresh, at(700)), [fresh]);
});

test('adding a 9th drops the oldest', () => {
  let list: PendingLogin[] = [];
  const all: PendingLogin[] = [];
  for (let i = 0; i < 9; i++) {
    const e = pending(i);
    all.push(e);
    list = addPending(list, e, T0);
  }
  assert.equal(list.length, MAX_PENDING_LOGINS);
  assert.deepEqual(list, all.slice(1));
  assert.deepEqual(decodeState(encodeState(list, KEY), KEY, T0), all.slice(1));
});

test('takePending: used once, connector must match', () => {
  const a = pending(1);
  const b = createPending({ rid: '_r2', c: 'team-b/adfs', rd: '/' }, T0);
  const list = [a, b];
  const ok = takePending(list, a.sid, 'team-a/okta', T0);
  assert.deepEqual(ok.entry, a);
  assert.deepEqual(ok.rest, [b]);
  // Second use of the same sid finds nothing.
  assert.equal(takePending(ok.rest, a.sid, 'team-a/okta', T0).entry, undefined);
  // Replaying team-b's state at team-a's ACS: refused, and the entry is burnt.
  const cross = takePending(list, b.sid, 'team-a/okta', T0);
  assert.equal(cross.entry, undefined);
  assert.deepEqual(cross.rest, [a]);
  // Unknown sid leaves the list alone.
  assert.deepEqual(takePending(list, 'nope', 'team-a/okta', T0), { rest: list });
  // Expired entry is not returned.
  assert.equal(takePending(list, a.sid, 'team-a/okta', at(601)).entry, undefined);
});

test('rd longer than 2048 characters is refused; 2048 is accepted', () => {
  assert.throws(() => createPending({ rid: 'r', c: 'a/b', rd: '/' + 'x'.repeat(2048) }, T0), /rd/);
  const ok = createPending({ rid: 'r', c: 'a/b', rd: '/' + 'x'.repeat(2047) }, T0);
  assert.throws(() => addPending([], { ...ok, rd: ok.rd + 'y' }, T0), RangeError);
  assert.throws(() => createPending({ rid: 'r', c: 'a/b', rd: '/a b' }, T0), RangeError);
  assert.throws(() => createPending({ rid: 'r', c: 'a/b', rd: '/a\r\nSet-Cookie: x' }, T0), RangeError);
});

test('8 entries with long rd values keep the Set-Cookie header (with the longer __Host- name) well under 4 KB', () => {
  // Realistic: long but similar URLs compress well, so all 8 fit.
  let list: PendingLogin[] = [];
  for (let i = 0; i < 8; i++) {
    list = addPending(list, pending(i, `https://app.example.com/reports/2030/q${i}?filter=${'region-eu-west,'.repeat(60)}&page=${i}`), T0);
  }
  let value = encodeState(list, KEY);
  let header = serializeCookie(HOST_STATE_COOKIE, value, stateCookieOptions('https://sso.example.com'));
  assert.ok(header.length < 4000, `header is ${header.length} bytes`);
  assert.equal(decodeState(value, KEY, T0).length, 8);

  // Worst case: 8 entries with 2048 characters of incompressible rd each.
  // The oldest are dropped to stay in budget; the newest is always kept.
  list = [];
  for (let i = 0; i < 8; i++) {
    list = addPending(list, pending(i, '/' + randomBytes(1536).toString('base64url').slice(0, 2047)), T0);
  }
  value = encodeState(list, KEY);
  header = serializeCookie(HOST_STATE_COOKIE, value, stateCookieOptions('https://sso.example.com'));
  assert.ok(header.length < 4000, `header is ${header.length} bytes`);
  const decoded = decodeState(value, KEY, T0);
  assert.ok(decoded.length >= 1);
  assert.deepEqual(decoded.at(-1), list.at(-1));
  assert.deepEqual(decoded, list.slice(-decoded.length));
});

test('empty list encodes to an empty value', () => {
  assert.equal(encodeState([], KEY), '');
  assert.deepEqual(decodeState('', KEY, T0), []);
});

test('a pending logout keeps its kind through the cookie and is never taken as a login, nor the reverse', () => {
  const login = pending(1);
  const logout: PendingLogin = { ...pending(2), k: 'logout' };
  const value = encodeState([login, logout], KEY);
  const decoded = decodeState(value, KEY, T0);
  assert.deepEqual(decoded, [login, logout]);
  assert.equal(decoded[1]?.k, 'logout');
  // At the ACS (kind login) the logout entry is refused and burnt.
  const atAcs = takePending(decoded, logout.sid, 'team-a/okta', T0);
  assert.equal(atAcs.entry, undefined);
  assert.deepEqual(atAcs.rest, [login]);
  // At the SLO endpoint (kind logout) the login entry is refused and burnt.
  const atSlo = takePending(decoded, login.sid, 'team-a/okta', T0, 'logout');
  assert.equal(atSlo.entry, undefined);
  assert.deepEqual(atSlo.rest, [logout]);
  assert.deepEqual(takePending(decoded, logout.sid, 'team-a/okta', T0, 'logout').entry, logout);
  // An unknown kind is not an entry.
  assert.throws(() => addPending([], { ...pending(3), k: 'other' as 'logout' }, T0), /invalid pending login: k/);
});
