// The login-state cookie's `__Host-` prefix (src/server/login-state.ts): on
// an https public URL it is `__Host-sso_state` (Secure, Path=/, no Domain, so
// that a sibling subdomain cannot plant one), a `sso_state` tossed in from a
// sibling never wins over it, and a `sso_state` of a login started before the
// upgrade still completes once and is then expired. On loopback http the name
// stays `sso_state`.
//
// The attacker's state below is minted by the operator itself, as a real
// attacker would get it (by starting a login of their own): its HMAC is
// valid, only its name tells it apart.

import assert from 'node:assert/strict';
import { legacyStateValue } from '../../support/legacy-state.ts';
import { describe, test } from '@jest/globals';
import type { LightMyRequestResponse } from 'fastify';
import { decodeState, encodeState, type PendingLogin } from '../../../src/session/state-cookie.ts';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import {
  PLAIN_STATE,
  SESSION,
  STATE,
  answer,
  assertRefused,
  cookieAttributes,
  cookieValue,
  jwtPayload,
  setCookieLine,
  setCookies,
  startHarness,
  startLogin,
  type Harness,
  type HarnessOptions,
  type StartedLogin,
} from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const LOGIN = '/saml/default/demo/login';
const ACS = '/saml/default/demo/acs';

async function harness(o: HarnessOptions = {}): Promise<Harness> {
  const idp = await signingIdentity('idp');
  const h = await startHarness({
    ...o,
    objects: [
      connectorManifest('demo', idp.certPem),
      bindingManifest('alice', 'alice@example.com', ['demo']),
      bindingManifest('mallory', 'mallory@example.com', ['demo']),
    ],
  });
  onCleanup(() => h.close());
  return h;
}

/** POST the IdP's answer to `login` to the ACS with this Cookie header, as the browser would. */
function postAnswer(h: Harness, login: StartedLogin, cookie: string, nameID: string): Promise<LightMyRequestResponse> {
  const form = new URLSearchParams({ SAMLResponse: answer(h.idp, login.request, { nameID }), RelayState: login.relayState ?? '' });
  return h.app.inject({ method: 'POST', url: ACS, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, payload: form.toString() });
}

function stateLines(res: LightMyRequestResponse): string[] {
  return setCookies(res).filter((l) => l.startsWith(`${STATE}=`) || l.startsWith(`${PLAIN_STATE}=`));
}

/** The line that expires the old `sso_state`: Max-Age=0, and the attributes it was set with (Path=/, no Domain). */
function assertPlainExpired(res: LightMyRequestResponse): void {
  const line = setCookieLine(res, PLAIN_STATE);
  assert.ok(line, `the old ${PLAIN_STATE} is expired: ${JSON.stringify(setCookies(res))}`);
  assert.equal(cookieValue(res, PLAIN_STATE), '');
  const attrs = cookieAttributes(line);
  assert.equal(attrs['max-age'], '0');
  assert.equal(attrs.path, '/');
  assert.equal(attrs.domain, undefined, 'it was host-only: a Domain would not match it');
  assert.ok('secure' in attrs);
  assert.equal(attrs.samesite, 'None');
}


/** The same pending entries as a value the previous release (v1, no name bound) would have set. */
function asPreviousRelease(h: { keys: { stateKey: Uint8Array } }, value: string): string {
  return legacyStateValue(decodeState(value, h.keys.stateKey, new Date(), { name: STATE }), h.keys.stateKey);
}

describe('https public URL: __Host-sso_state', () => {
  test('the login sets __Host-sso_state with Secure, Path=/ and no Domain, even with a cookie domain', async () => {
    const h = await harness({ publicURL: 'https://sso.example.test', cookieDomain: 'example.test' });
    const login = await startLogin(h.app, `${LOGIN}?rd=/app`);
    assert.equal(login.stateName, STATE);
    const lines = stateLines(login.res);
    assert.equal(lines.length, 1, `one state cookie, under the new name only: ${JSON.stringify(lines)}`);
    const attrs = cookieAttributes(setCookieLine(login.res, STATE)!);
    assert.ok('secure' in attrs, 'Secure');
    assert.equal(attrs.path, '/');
    assert.equal(attrs.domain, undefined, 'no Domain: --cookie-domain is for the session cookie only');
    assert.ok('httponly' in attrs);
    assert.equal(attrs.samesite, 'None', "kept for the IdP's cross-site POST to the ACS");
    assert.equal(attrs['max-age'], '600');

    // The session cookie does take the cookie domain: the two are independent.
    const acs = await postAnswer(h, login, `${STATE}=${login.state}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(cookieAttributes(setCookieLine(acs, SESSION)!).domain, 'example.test');
    assert.equal(setCookieLine(acs, PLAIN_STATE), undefined, 'no old cookie came: none is expired');
  });

  test('a sso_state planted by a sibling domain does not take precedence over __Host-sso_state', async () => {
    const h = await harness();
    // Mallory starts a login of her own and gets a validly signed state...
    const mallory = await startLogin(h.app, `${LOGIN}?rd=/mallory`);
    // ...while the victim has a login of their own in flight.
    const victim = await startLogin(h.app, `${LOGIN}?rd=/victim`);
    const planted = `${PLAIN_STATE}=${mallory.state}`;
    const ours = `${STATE}=${victim.state}`;

    for (const cookie of [`${planted}; ${ours}`, `${ours}; ${planted}`]) {
      // The victim's browser delivers Mallory's IdP answer: her pending login is not found.
      const res = await postAnswer(h, mallory, cookie, 'mallory@example.com');
      assertRefused(res, 401, 'UnsolicitedResponseRefused');
    }

    // The victim's own login completes from __Host-sso_state, and the planted
    // cookie is expired as far as this host can (a host-only one would go).
    const acs = await postAnswer(h, victim, `${planted}; ${ours}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/victim');
    assert.equal(jwtPayload(cookieValue(acs, SESSION)!).sub, 'alice@example.com');
    assertPlainExpired(acs);
    // What is written back holds the victim's cookie minus the used entry, not Mallory's.
    assert.equal(cookieValue(acs, STATE), '', "nothing of Mallory's login was carried into __Host-sso_state");
  });

  test('__Host-sso_state wins even when it holds nothing valid: a sso_state is not used in its place', async () => {
    const h = await harness();
    const mallory = await startLogin(h.app, `${LOGIN}?rd=/mallory`);
    for (const ours of [`${STATE}=`, `${STATE}=v1.garbage.zz`]) {
      const res = await postAnswer(h, mallory, `${PLAIN_STATE}=${mallory.state}; ${ours}`, 'mallory@example.com');
      assertRefused(res, 401, 'UnsolicitedResponseRefused');
    }
  });

  test('a new login beside a planted sso_state keeps only the __Host- entries', async () => {
    const h = await harness();
    const mallory = await startLogin(h.app, `${LOGIN}?rd=/mallory`);
    const first = await startLogin(h.app, `${LOGIN}?rd=/first`);
    const second = await startLogin(h.app, `${LOGIN}?rd=/second`, `${PLAIN_STATE}=${mallory.state}; ${STATE}=${first.state}`);
    assertPlainExpired(second.res);
    // Mallory's answer with the cookie the victim now holds: refused.
    assertRefused(await postAnswer(h, mallory, `${STATE}=${second.state}`, 'mallory@example.com'), 401, 'UnsolicitedResponseRefused');
    // Both of the victim's logins are in it.
    const acs = await postAnswer(h, first, `${STATE}=${second.state}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.notEqual(cookieValue(acs, STATE), '', 'the second login is still pending');
  });

  test('a sso_state alone (a login started before the upgrade) still completes, and is then expired', async () => {
    const h = await harness({ cookieDomain: 'example.test' });
    // The old release set the v1 format under the old name, with the same key.
    const login = await startLogin(h.app, `${LOGIN}?rd=/before-upgrade`);
    const acs = await postAnswer(h, login, `${PLAIN_STATE}=${asPreviousRelease(h, login.state)}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/before-upgrade');
    assert.equal(jwtPayload(cookieValue(acs, SESSION)!).sub, 'alice@example.com');
    assertPlainExpired(acs);
    // The new name is written (here: deleted, nothing left pending), never the old one with a value.
    assert.equal(cookieValue(acs, STATE), '');
    assert.equal(cookieAttributes(setCookieLine(acs, STATE)!)['max-age'], '0');
    assert.equal(stateLines(acs).length, 2);
  });

  test('a value of this release copied from __Host-sso_state and tossed in as sso_state is refused: the name is bound into its HMAC', async () => {
    const h = await harness();
    // Mallory starts a login of her own and gets a validly signed __Host-sso_state value...
    const mallory = await startLogin(h.app, `${LOGIN}?rd=/mallory`);
    assert.match(mallory.state, /^v2\./);
    // ...and tosses it into the victim's browser under the old name, which a sibling host can set.
    assertRefused(await postAnswer(h, mallory, `${PLAIN_STATE}=${mallory.state}`, 'mallory@example.com'), 401, 'UnsolicitedResponseRefused');
    // The same value under its own name is good: only the name made the difference.
    assert.equal((await postAnswer(h, mallory, `${STATE}=${mallory.state}`, 'alice@example.com')).statusCode, 303);
  });

  test('a sso_state alone must still carry a valid HMAC', async () => {
    const h = await harness();
    const login = await startLogin(h.app, `${LOGIN}?rd=/x`);
    const forged = `${asPreviousRelease(h, login.state).slice(0, -4)}AAAA`;
    assertRefused(await postAnswer(h, login, `${PLAIN_STATE}=${forged}`, 'alice@example.com'), 401, 'UnsolicitedResponseRefused');
    // Signed with another key (another deployment's state): refused too.
    const foreign = encodeState([{ sid: login.relayState!, rid: login.request.id, c: 'default/demo', rd: '/x', exp: Math.floor(Date.now() / 1000) + 600 }], new Uint8Array(32).fill(9));
    assertRefused(await postAnswer(h, login, `${PLAIN_STATE}=${foreign}`, 'alice@example.com'), 401, 'UnsolicitedResponseRefused');
  });

  test('a login started before the upgrade moves to __Host-sso_state when another one starts', async () => {
    const h = await harness();
    const before = await startLogin(h.app, `${LOGIN}?rd=/before`);
    const after = await startLogin(h.app, `${LOGIN}?rd=/after`, `${PLAIN_STATE}=${asPreviousRelease(h, before.state)}`);
    assert.equal(after.stateName, STATE);
    assertPlainExpired(after.res);
    const acs = await postAnswer(h, before, `${STATE}=${after.state}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/before');
    const rest = cookieValue(acs, STATE)!;
    assert.notEqual(rest, '', 'the login started after the upgrade is still pending');
    const acs2 = await postAnswer(h, after, `${STATE}=${rest}`, 'alice@example.com');
    assert.equal(acs2.headers.location, '/after');
  });

  test('OIDC logged-out: the __Host- pending logout is used, a planted sso_state is not, an old one alone is', async () => {
    const h = await harness();
    const exp = Math.floor(Date.now() / 1000) + 600;
    const entry = (sid: string, rd: string): PendingLogin => ({ sid, rid: `r-${sid}`, c: 'default/oidc', rd, exp, k: 'logout' });
    const ours = `${STATE}=${encodeState([entry('victim', '/bye')], h.keys.stateKey, STATE)}`;
    const planted = `${PLAIN_STATE}=${encodeState([entry('mallory', '/mallory')], h.keys.stateKey)}`;
    const loggedOut = (state: string, cookie: string) => h.app.inject({ method: 'GET', url: `/oidc/default/oidc/logged-out?state=${state}`, headers: { cookie } });

    const foreign = await loggedOut('mallory', `${planted}; ${ours}`);
    assert.equal(foreign.statusCode, 200, 'a plain signed-out page, no redirect of the planted state');
    assert.equal(foreign.headers.location, undefined);

    const own = await loggedOut('victim', `${planted}; ${ours}`);
    assert.equal(own.statusCode, 303);
    assert.equal(own.headers.location, '/bye');
    assertPlainExpired(own);

    const old = await loggedOut('victim', `${PLAIN_STATE}=${legacyStateValue([entry('victim', '/bye')], h.keys.stateKey)}`);
    assert.equal(old.statusCode, 303, 'a logout started before the upgrade still comes back');
    assert.equal(old.headers.location, '/bye');
    assertPlainExpired(old);
  });
});

describe('loopback http public URL: sso_state', () => {
  test('the login sets sso_state (a __Host- cookie needs a secure origin), and the login completes with it', async () => {
    const h = await harness({ publicURL: 'http://127.0.0.1:8080' });
    const login = await startLogin(h.app, `${LOGIN}?rd=/dev`);
    assert.equal(login.stateName, PLAIN_STATE);
    assert.equal(setCookieLine(login.res, STATE), undefined, 'no __Host- cookie on http');
    const attrs = cookieAttributes(setCookieLine(login.res, PLAIN_STATE)!);
    assert.ok('secure' in attrs, 'SameSite=None needs Secure, which browsers allow on loopback');
    assert.equal(attrs.path, '/');
    assert.equal(attrs.domain, undefined);

    const acs = await postAnswer(h, login, `${PLAIN_STATE}=${login.state}`, 'alice@example.com');
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/dev');
    // The cookie of this URL is simply deleted once used: one line, not an extra "expire the old name".
    assert.deepEqual(stateLines(acs).map((l) => l.split(';')[0]), [`${PLAIN_STATE}=`]);
  });
});
