import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { checkRedirect } from '../../../src/session/redirects.ts';

const opts = { publicURL: 'https://sso.example.com/prefix', allowedHosts: ['app.example.com', '.corp.example.org', 'api.example.net:8443'] };

function ok(rd: string | undefined, target: string) {
  assert.deepEqual(checkRedirect(rd, opts), { ok: true, target }, String(rd));
}
function refused(rd: string, pattern?: RegExp) {
  const r = checkRedirect(rd, opts);
  assert.equal(r.ok, false, `should refuse ${JSON.stringify(rd)}`);
  if (!r.ok) {
    assert.equal(r.reason, 'RedirectNotAllowed');
    if (pattern) assert.match(r.message, pattern);
  }
}

test('absent target means /', () => {
  ok(undefined, '/');
  ok('', '/');
});

test('relative paths are accepted and normalised', () => {
  ok('/', '/');
  ok('/x?y#z', '/x?y#z');
  ok('/app/page?a=1&b=2', '/app/page?a=1&b=2');
  ok('/a/../b', '/b');
  ok('/caf\u00e9', '/caf%C3%A9');
  ok('/%2e%2e/x', '/x');
  ok('/x//y', '/x//y');
});

test('absolute URLs on allowed hosts', () => {
  ok('https://app.example.com/dash?x=1', 'https://app.example.com/dash?x=1');
  ok('HTTPS://APP.Example.COM/Dash', 'https://app.example.com/Dash');
  ok('http://app.example.com:3000/', 'http://app.example.com:3000/');
  ok('https://sso.example.com/other', 'https://sso.example.com/other');
  ok('https://corp.example.org/', 'https://corp.example.org/');
  ok('https://a.b.corp.example.org/x', 'https://a.b.corp.example.org/x');
  ok('https://api.example.net:8443/v1', 'https://api.example.net:8443/v1');
});

test('open redirect: hosts not allowed', () => {
  refused('https://evil.com/', /not in the allowed/);
  refused('https://app.example.com.evil.com/');
  refused('https://evilcorp.example.org/');
  refused('https://xapp.example.com/');
  refused('https://api.example.net/'); // port-specific entry, default port
  refused('https://api.example.net:9443/');
});

test('open redirect: protocol-relative paths', () => {
  refused('//evil.com', /\/\//);
  refused('//evil.com/path');
  refused('///evil.com');
  refused('/.//evil.com', /normalises/);
  refused('/x/..//evil.com');
});

test('open redirect: backslashes (browsers read them as slashes)', () => {
  refused('/\\evil.com', /backslash/);
  refused('\\\\evil.com', /backslash/);
  refused('\\/evil.com');
  refused('https://app.example.com\\@evil.com/');
});

test('open redirect: percent-encoded slashes at the start', () => {
  refused('/%2F%2Fevil.com', /encoded/);
  refused('/%2fevil.com');
  refused('/%5Cevil.com');
  refused('/%5cevil.com');
  refused('/%252F%252Fevil.com');
  refused('/%2F%2Fevil.com/%zz');
});

test('script and other schemes', () => {
  refused('javascript:alert(1)', /http\(s\)/);
  refused('JavaScript:alert(1)');
  refused('data:text/html,<script>alert(1)</script>');
  refused('vbscript:msgbox');
  refused('file:///etc/passwd');
  refused('ftp://app.example.com/');
  refused('https:app.example.com');
  refused('https:/app.example.com');
  refused('app.example.com/x');
  refused('x');
  refused('?x=1');
});

test('userinfo is refused', () => {
  refused('https://app.example.com@evil.com/', /user information/);
  refused('https://user:pass@app.example.com/', /user information/);
  refused('https://@app.example.com/', /user information/);
});

test('header injection: control characters and whitespace anywhere', () => {
  refused('/x\r\nSet-Cookie: a=b', /whitespace or control/);
  refused('/x\nLocation: https://evil.com');
  refused('/\t/evil.com');
  refused('/x y');
  refused(' /x');
  refused('/x\u0000');
  refused('/x\u007f');
  refused('/x\u0085');
  refused('/x\u00a0');
  refused('/x\u2028');
  refused('/x\ufeff');
  refused('https://app.example.com/\r\n');
  refused('java\tscript:alert(1)');
});

test('overly long targets', () => {
  refused('/' + 'a'.repeat(2048), /longer than 2048/);
  ok('/' + 'a'.repeat(2047), '/' + 'a'.repeat(2047));
  // Grows past the limit when the parser percent-encodes it.
  refused('/' + '\u00e9'.repeat(1000), /longer than 2048/);
});

test('no allowed hosts: only the public host and relative paths', () => {
  const o = { publicURL: 'http://localhost:8080', allowedHosts: [] };
  assert.deepEqual(checkRedirect('http://localhost:8080/x', o), { ok: true, target: 'http://localhost:8080/x' });
  assert.equal(checkRedirect('https://app.example.com/', o).ok, false);
});
