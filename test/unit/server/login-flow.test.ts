// The whole SP-initiated login through the public app: login -> IdP -> ACS
// -> session cookie -> forward-auth, whoami, logout, JWKS.

import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';
import {
  PLAIN_STATE,
  SESSION,
  STATE,
  answer,
  cookieAttributes,
  cookieValue,
  jwtPayload,
  postAcs,
  sessionCookieHeader,
  setCookieLine,
  startHarness,
  startLogin,
  type HarnessOptions,
} from './harness.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';

async function harness(o: HarnessOptions = {}) {
  const idp = await signingIdentity('idp');
  return startHarness({
    ...o,
    objects: [
      connectorManifest('demo', idp.certPem, { ttl: '8h' }),
      bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs', 'admins'] }),
    ],
  });
}

describe('SP-initiated login, end to end', () => {
  test('login -> ACS -> 303 with a session that forward-auth, whoami and logout honour', async () => {
    const h = await harness();
    onCleanup(() => h.close());

    // 1. Login: 302 to the IdP with SAMLRequest and RelayState, state cookie set.
    const login = await startLogin(h.app, '/saml/default/demo/login?rd=%2Fapp%3Fx%3D1');
    assert.equal(login.res.statusCode, 302);
    const location = new URL(String(login.res.headers.location));
    assert.equal(`${location.origin}${location.pathname}`, 'https://idp.example.test/sso');
    assert.ok(location.searchParams.get('SAMLRequest'));
    assert.ok(login.relayState, 'RelayState carries the state id');
    assert.equal(login.request.acsURL, 'https://sp.example.test/saml/default/demo/acs');
    assert.equal(login.request.issuer, 'https://sp.example.test/saml/default/demo/metadata');
    const stateAttrs = cookieAttributes(setCookieLine(login.res, STATE)!);
    assert.equal(stateAttrs.samesite, 'None');
    assert.ok('secure' in stateAttrs, 'state cookie is Secure');
    assert.ok('httponly' in stateAttrs, 'state cookie is HttpOnly');

    // 2. The IdP answers the AuthnRequest; the browser posts it with the state cookie.
    const acs = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state);
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/app?x=1');
    const session = setCookieLine(acs, SESSION);
    assert.ok(session, 'session cookie set');
    const attrs = cookieAttributes(session);
    assert.ok('httponly' in attrs);
    assert.equal(attrs.samesite, 'Lax');
    assert.ok('secure' in attrs, 'https public URL: Secure');
    assert.equal(attrs.domain, undefined, 'no Domain without --cookie-domain');
    assert.equal(attrs['max-age'], String(8 * 3600));
    // The used pending login leaves the state cookie; with none left it is deleted.
    assert.equal(cookieValue(acs, STATE), '');
    assert.equal(cookieAttributes(setCookieLine(acs, STATE)!)['max-age'], '0');

    const token = cookieValue(acs, SESSION)!;
    const claims = jwtPayload(token);
    assert.equal(claims.sub, 'alice@example.com');
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.connector, 'default/demo');
    assert.deepEqual(claims.groups, ['admins', 'devs']);
    assert.equal(Number(claims.exp) - Number(claims.iat), 8 * 3600);
    assert.equal(typeof claims.jti, 'string');

    // 3. Forward-auth.
    const cookie = sessionCookieHeader(acs);
    const verify = await h.app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie } });
    assert.equal(verify.statusCode, 200);
    assert.equal(verify.headers['x-auth-request-user'], 'alice@example.com');
    assert.equal(verify.headers['x-auth-request-email'], 'alice@example.com');
    assert.equal(verify.headers['x-auth-request-groups'], 'admins,devs');
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify?groups=ops,devs', headers: { cookie } })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify?groups=ops', headers: { cookie } })).statusCode, 403);
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/verify' })).statusCode, 401, 'no cookie: 401');

    // 4. whoami as JSON.
    const whoami = await h.app.inject({ method: 'GET', url: '/auth/whoami', headers: { cookie, accept: 'application/json' } });
    assert.equal(whoami.statusCode, 200);
    const who = whoami.json() as { authenticated: boolean; claims: Record<string, unknown> };
    assert.equal(who.authenticated, true);
    assert.equal(who.claims.sub, 'alice@example.com');
    assert.equal(who.claims.connector, 'default/demo');
    assert.deepEqual(who.claims.groups, ['admins', 'devs']);

    // 5. Logout clears the cookie.
    const logout = await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } });
    assert.equal(logout.statusCode, 303);
    const cleared = setCookieLine(logout, SESSION);
    assert.ok(cleared, 'logout sets the session cookie');
    assert.equal(cookieValue(logout, SESSION), '');
    assert.equal(cookieAttributes(cleared)['max-age'], '0');
  });

  test('two logins in flight: each completes with its own state, the other stays pending', async () => {
    const h = await harness();
    onCleanup(() => h.close());
    const first = await startLogin(h.app, '/saml/default/demo/login?rd=/first');
    const second = await startLogin(h.app, '/saml/default/demo/login?rd=/second', `${STATE}=${first.state}`);
    assert.notEqual(first.relayState, second.relayState);

    const acs1 = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, first.request), RelayState: first.relayState }, second.state);
    assert.equal(acs1.statusCode, 303, acs1.body);
    assert.equal(acs1.headers.location, '/first');
    const remaining = cookieValue(acs1, STATE)!;
    assert.notEqual(remaining, '', 'the second login is still pending');
    assert.equal(cookieAttributes(setCookieLine(acs1, STATE)!)['max-age'], '600');

    const acs2 = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, second.request), RelayState: second.relayState }, remaining);
    assert.equal(acs2.statusCode, 303, acs2.body);
    assert.equal(acs2.headers.location, '/second');

    // The first state id was used up: the same RelayState again is an unsolicited response, refused.
    const again = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, first.request), RelayState: first.relayState }, remaining);
    assert.equal(again.statusCode, 401);
    assert.ok(again.body.includes('<code>UnsolicitedResponseRefused</code>'), again.body);
  });

  test('JWKS publishes the session keys without private members', async () => {
    const h = await harness();
    onCleanup(() => h.close());
    const res = await h.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    const { keys } = res.json() as { keys: Record<string, unknown>[] };
    assert.ok(keys.length >= 1);
    assert.equal(keys[0]!.kid, h.keys.current.kid);
    for (const k of keys) {
      assert.equal(k.d, undefined, 'no private key member');
      assert.equal(k.kty, 'OKP');
      assert.equal(typeof k.x, 'string');
    }
  });

  test('the session token verifies against the published JWKS', async () => {
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const h = await harness();
    onCleanup(() => h.close());
    const login = await startLogin(h.app, '/saml/default/demo/login');
    const acs = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state);
    assert.equal(acs.statusCode, 303);
    assert.equal(acs.headers.location, '/', 'no rd: the root');
    const jwks = (await h.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as Parameters<typeof createLocalJWKSet>[0];
    const { payload } = await jwtVerify(cookieValue(acs, SESSION)!, createLocalJWKSet(jwks));
    assert.equal(payload.sub, 'alice@example.com');
  });
});

describe('session cookie attributes follow the public URL and --cookie-domain', () => {
  const cases: { name: string; o: HarnessOptions; secure: boolean; domain?: string; stateName: string }[] = [
    { name: 'http loopback: no Secure', o: { publicURL: 'http://127.0.0.1:8080' }, secure: false, stateName: PLAIN_STATE },
    { name: 'https: Secure', o: { publicURL: 'https://sp.example.test' }, secure: true, stateName: STATE },
    { name: 'cookie domain', o: { publicURL: 'https://sp.example.test', cookieDomain: 'example.test' }, secure: true, domain: 'example.test', stateName: STATE },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const h = await harness(c.o);
      onCleanup(() => h.close());
      const login = await startLogin(h.app, '/saml/default/demo/login?rd=/x');
      // The state cookie is SameSite=None and so always Secure, even on http
      // loopback; __Host-sso_state on https, sso_state on http.
      assert.equal(login.stateName, c.stateName);
      const state = cookieAttributes(setCookieLine(login.res, c.stateName)!);
      assert.equal(state.samesite, 'None');
      assert.ok('secure' in state);
      assert.equal(state.domain, undefined, 'the state cookie stays on this host');
      assert.equal(state.path, '/');
      const acs = await postAcs(h.app, '/saml/default/demo/acs', { SAMLResponse: answer(h.idp, login.request), RelayState: login.relayState }, login.state, login.stateName);
      assert.equal(acs.statusCode, 303, acs.body);
      const attrs = cookieAttributes(setCookieLine(acs, SESSION)!);
      assert.equal('secure' in attrs, c.secure);
      assert.ok('httponly' in attrs);
      assert.equal(attrs.samesite, 'Lax');
      assert.equal(attrs.domain, c.domain);
      // Logout clears it with the same Domain, or the browser would keep it.
      const logout = await h.app.inject({ method: 'GET', url: '/auth/logout', headers: { cookie: sessionCookieHeader(acs) } });
      assert.equal(cookieAttributes(setCookieLine(logout, SESSION)!).domain, c.domain);
    });
  }
});
