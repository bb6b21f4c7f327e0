import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  HOST_STATE_COOKIE,
  PLAIN_STATE_COOKIE,
  SESSION_COOKIE,
  parseCookies,
  serializeCookie,
  sessionCookieOptions,
  stateCookieName,
  stateCookieOptions,
} from '../../../src/session/cookies.ts';

test('cookie names', () => {
  assert.equal(SESSION_COOKIE, 'sso_session');
  assert.equal(HOST_STATE_COOKIE, '__Host-sso_state');
  assert.equal(PLAIN_STATE_COOKIE, 'sso_state');
});

test('the state cookie is __Host-sso_state on https, sso_state on loopback http', () => {
  assert.equal(stateCookieName('https://sso.example.com'), '__Host-sso_state');
  assert.equal(stateCookieName('https://example.com/sso'), '__Host-sso_state');
  assert.equal(stateCookieName('http://localhost:8080'), 'sso_state');
  assert.equal(stateCookieName('http://127.0.0.1:8080'), 'sso_state');
});

test('session cookie options follow the public URL scheme and cookie domain', () => {
  assert.deepEqual(sessionCookieOptions({ publicURL: 'https://sso.example.com/prefix', cookieDomain: 'example.com', maxAgeSeconds: 28800 }), {
    httpOnly: true,
    sameSite: 'lax',
    secure: true,
    domain: 'example.com',
    path: '/',
    maxAge: 28800,
  });
  assert.deepEqual(sessionCookieOptions({ publicURL: 'http://localhost:8080', maxAgeSeconds: 60 }), {
    httpOnly: true,
    sameSite: 'lax',
    secure: false,
    path: '/',
    maxAge: 60,
  });
});

test('state cookie options: SameSite=None, always Secure, Path=/, never a Domain, 10 minutes', () => {
  assert.deepEqual(stateCookieOptions('http://localhost:8080'), { httpOnly: true, sameSite: 'none', secure: true, path: '/', maxAge: 600 });
  assert.deepEqual(stateCookieOptions('https://sso.example.com/prefix'), { httpOnly: true, sameSite: 'none', secure: true, path: '/', maxAge: 600 });
});

test('serializeCookie', () => {
  const opts = sessionCookieOptions({ publicURL: 'https://sso.example.com', cookieDomain: '.example.com', maxAgeSeconds: 3600 });
  assert.equal(
    serializeCookie(SESSION_COOKIE, 'eyJ.abc-_.sig', opts),
    'sso_session=eyJ.abc-_.sig; Max-Age=3600; Domain=.example.com; Path=/; HttpOnly; Secure; SameSite=Lax',
  );
  assert.equal(
    serializeCookie(PLAIN_STATE_COOKIE, 'v1.x.y', stateCookieOptions('http://localhost:8080')),
    'sso_state=v1.x.y; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=None',
  );
  assert.equal(
    serializeCookie(HOST_STATE_COOKIE, 'v1.x.y', stateCookieOptions('https://sso.example.com')),
    '__Host-sso_state=v1.x.y; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=None',
  );
  assert.equal(serializeCookie(SESSION_COOKIE, '', { ...opts, maxAge: 0 }).startsWith('sso_session=; Max-Age=0;'), true);
});

test('serializeCookie refuses injection', () => {
  const opts = stateCookieOptions('https://sso.example.com');
  assert.throws(() => serializeCookie('a;b', 'v', opts), TypeError);
  assert.throws(() => serializeCookie('a b', 'v', opts), TypeError);
  assert.throws(() => serializeCookie('a', 'v; Domain=evil.com', opts), TypeError);
  assert.throws(() => serializeCookie('a', 'v\r\nSet-Cookie: x=y', opts), TypeError);
  assert.throws(() => serializeCookie('a', 'v', { ...opts, domain: 'evil.com; Secure' }), TypeError);
  assert.throws(() => serializeCookie('a', 'v', { ...opts, path: '/;x' }), TypeError);
  assert.throws(() => serializeCookie('a', 'v', { ...opts, maxAge: -1 }), TypeError);
  assert.throws(() => serializeCookie('a', 'v', { ...opts, maxAge: 1.5 }), TypeError);
  assert.throws(() => serializeCookie('a', 'v', { ...opts, secure: false }), /SameSite=None requires Secure/);
});

test('serializeCookie refuses a prefixed cookie the browser would drop', () => {
  const opts = stateCookieOptions('https://sso.example.com');
  const lax = { ...opts, sameSite: 'lax' as const };
  assert.throws(() => serializeCookie(HOST_STATE_COOKIE, 'v', { ...opts, domain: 'example.com' }), /requires Path=\/ and no Domain/);
  assert.throws(() => serializeCookie(HOST_STATE_COOKIE, 'v', { ...opts, path: '/saml' }), /requires Path=\/ and no Domain/);
  assert.throws(() => serializeCookie(HOST_STATE_COOKIE, 'v', { ...lax, secure: false }), /requires Secure/);
  assert.throws(() => serializeCookie('__HOST-x', 'v', { ...opts, domain: 'example.com' }), /requires Path=\/ and no Domain/, 'prefixes are case-insensitive');
  assert.throws(() => serializeCookie('__Secure-x', 'v', { ...lax, secure: false }), /requires Secure/);
  assert.equal(serializeCookie('__Secure-x', 'v', { ...opts, domain: 'example.com' }).includes('Domain=example.com'), true, '__Secure- allows a Domain');
});

test('parseCookies', () => {
  assert.deepEqual({ ...parseCookies(undefined) }, {});
  assert.deepEqual({ ...parseCookies('') }, {});
  assert.deepEqual({ ...parseCookies('a=1; b=2;c=3') }, { a: '1', b: '2', c: '3' });
  assert.deepEqual({ ...parseCookies('  sso_session = tok.en ; junk ; sso_state="v1.x.y"') }, { sso_session: 'tok.en', sso_state: 'v1.x.y' });
  // First occurrence wins.
  assert.deepEqual({ ...parseCookies('a=1; a=2') }, { a: '1' });
  // Value containing '=' is kept whole.
  assert.deepEqual({ ...parseCookies('a=b=c') }, { a: 'b=c' });
  // No prototype pollution.
  const parsed = parseCookies('__proto__=x; constructor=y');
  assert.equal(Object.getPrototypeOf(parsed), null);
  assert.equal(parsed['__proto__'], 'x');
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('serialize then parse round-trips', () => {
  const header = serializeCookie(SESSION_COOKIE, 'abc.def', sessionCookieOptions({ publicURL: 'https://x.example', maxAgeSeconds: 5 }));
  const pair = header.split(';')[0]!;
  assert.equal(parseCookies(pair)[SESSION_COOKIE], 'abc.def');
});
