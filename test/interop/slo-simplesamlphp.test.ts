// SAML single logout between the operator and a real SimpleSAMLphp IdP
// (Debian package), both on loopback, driven by a cookie-keeping HTTP client
// that follows redirects and auto-submit forms as a browser does.
//
// - SP-initiated: /auth/logout ends the session here, sends a LogoutRequest
//   to SimpleSAMLphp, which ends its own session and answers with a signed
//   LogoutResponse; the browser lands on rd, and the next sign-in asks for
//   the password again (the IdP session is gone).
// - IdP-initiated: SimpleSAMLphp's own logout (SingleLogoutService.php with
//   ReturnTo) sends a signed LogoutRequest to the operator, which revokes the
//   session (a copy of the cookie taken before is refused) and answers with a
//   LogoutResponse that SimpleSAMLphp accepts: the browser reaches ReturnTo.
// SimpleSAMLphp signs logout messages because the SP registration says
// sign.logout; without it the operator refuses its LogoutRequest (last test).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';
import { makeTestKeyPair, startSimpleSamlPhp, type SimpleSamlPhp, type SpRegistration } from '../support/simplesamlphp.ts';
import { BrowserClient, findFormWithField, parseForms, type BrowserResponse } from '../support/browser-client.ts';

const NS = 'default';
const NAME = 'ssp-slo';
const USER = { name: 'alice', password: 'alice-Pw-slo-4%Qz', email: 'alice@example.com' };

describe('single logout with a real SimpleSAMLphp IdP', { timeout: 180_000 }, () => {
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  const base = () => `${op.baseURL}/saml/${NS}/${NAME}`;

  const registration = (signLogout: boolean): SpRegistration => ({
    entityID: `${base()}/metadata`,
    acsURL: `${base()}/acs`,
    sloURL: `${base()}/slo`,
    nameIDFormat: 'email',
    nameIDAttribute: 'email',
    extraMetadata: { 'sign.logout': signLogout },
  });

  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      console.error(`--- operator log (last 30 lines) ---\n${op?.rawLogs().split('\n').slice(-30).join('\n') ?? ''}`);
      console.error(`--- SimpleSAMLphp log (last 6 kB) ---\n${idp?.logs().slice(-6000) ?? ''}`);
      throw err;
    }
  };

  /** Submits auto-post SAML forms (either direction) until a page has none. */
  async function settle(browser: BrowserClient, page: BrowserResponse): Promise<BrowserResponse> {
    for (let i = 0; i < 6; i++) {
      const form = findFormWithField(page, 'SAMLResponse') ?? findFormWithField(page, 'SAMLRequest');
      if (!form) return page;
      page = await browser.submit(form);
    }
    return page;
  }

  /** Signs in through the connector; reports whether the IdP asked for the password. */
  async function signIn(browser: BrowserClient): Promise<{ askedForPassword: boolean; token: string }> {
    let page = await browser.get(`${base()}/login?rd=${encodeURIComponent('/auth/whoami')}`);
    const loginForm = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
    if (loginForm) page = await browser.submit(loginForm, { username: USER.name, password: USER.password });
    page = await settle(browser, page);
    assert.equal(new URL(page.url).pathname, '/auth/whoami', `${page.status} at ${page.url}: ${page.body.slice(0, 500)}`);
    assert.equal(page.status, 200);
    const token = browser.cookies.get(op.baseURL, 'sso_session');
    assert.ok(token);
    return { askedForPassword: loginForm !== undefined, token };
  }

  async function verifyWith(token: string): Promise<number> {
    return (await fetch(`${op.baseURL}/auth/verify`, { headers: { cookie: `sso_session=${token}` } })).status;
  }

  before(async () => {
    const key = await makeTestKeyPair('ssp-slo-idp');
    idp = await startSimpleSamlPhp({
      users: { [USER.name]: { password: USER.password, attributes: { uid: [USER.name], email: [USER.email] } } },
      serviceProviders: [],
      signing: key,
    });
    op = await startTestOperator({
      manifests: {
        'all.yaml': [
          {
            apiVersion: 'sso.operator.dev/v1alpha1',
            kind: 'SsoConnector',
            metadata: { name: NAME, namespace: NS },
            spec: {
              protocol: 'SAML2',
              saml: {
                idp: { entityID: idp.entityID, ssoURL: idp.ssoURL, sloURL: idp.sloURL, ssoBinding: 'HTTPRedirect', certificates: [{ pem: key.certPem }] },
                sp: { nameIDPolicy: { format: 'EmailAddress' } },
              },
            },
          },
          {
            apiVersion: 'sso.operator.dev/v1alpha1',
            kind: 'UserBinding',
            metadata: { name: 'alice', namespace: NS },
            spec: { user: USER.email, connectors: [NAME] },
          },
        ]
          .map((d) => stringify(d))
          .join('---\n'),
      },
      logLevel: 'info',
    });
    await waitFor(async () => {
      const res = await fetch(`${op.adminURL}/admin/status`);
      const body = (await res.json()) as { resources: { kind: string; name: string; status: { conditions?: { type: string; status: string }[] } }[] };
      return body.resources.some((r) => r.kind === 'SsoConnector' && r.name === NAME && r.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, 10_000);
    await idp.setServiceProviders([registration(true)]);
    // The SP metadata announces the SLO endpoint for both bindings.
    const metadata = await (await fetch(`${base()}/metadata`)).text();
    assert.match(metadata, new RegExp(`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${base()}/slo"/>`));
  });

  after(async () => {
    await op?.stop();
    await idp?.stop();
  });

  it('SP-initiated: /auth/logout ends the session here and at the IdP, then lands on rd', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const first = await signIn(browser);
      assert.equal(first.askedForPassword, true);
      const again = await signIn(browser);
      assert.equal(again.askedForPassword, false, 'the IdP session signs in without the password');

      const t0 = performance.now();
      const out = await browser.postForm(`${op.baseURL}/auth/logout?rd=${encodeURIComponent('/auth/whoami?after=logout')}`, {});
      const page = await settle(browser, out);
      const ms = performance.now() - t0;
      const hops = [...out.redirects, out.url].map((u) => new URL(u).pathname);
      console.log(`[slo] SP-initiated round trip through SimpleSAMLphp: ${ms.toFixed(0)} ms, hops ${hops.join(' -> ')}`);
      assert.ok(hops.includes(new URL(idp.sloURL).pathname), 'the browser went through the IdP SLO endpoint');
      assert.ok(hops.includes(`/saml/${NS}/${NAME}/slo`), 'and came back with the LogoutResponse');
      assert.equal(new URL(page.url).pathname + new URL(page.url).search, '/auth/whoami?after=logout');
      assert.equal(page.status, 401, 'not signed in any more');
      assert.equal(await verifyWith(again.token), 401, 'a copy of the cookie is refused');
      assert.match(op.rawLogs(), /"initiator":"sp","result":"success","reason":"Success"/);

      const third = await signIn(browser);
      assert.equal(third.askedForPassword, true, 'the IdP session ended too');
    }));

  it('IdP-initiated: a signed LogoutRequest from SimpleSAMLphp revokes the session and the IdP accepts the answer', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const session = await signIn(browser);
      assert.equal(await verifyWith(session.token), 200);
      const returnTo = `${idp.baseURL}logout-finished.php`;
      const t0 = performance.now();
      const start = await browser.get(`${idp.sloURL}?ReturnTo=${encodeURIComponent(returnTo)}`);
      const page = await settle(browser, start);
      const ms = performance.now() - t0;
      const hops = [...start.redirects, start.url].map((u) => new URL(u).pathname);
      console.log(`[slo] IdP-initiated round trip: ${ms.toFixed(0)} ms, hops ${hops.join(' -> ')}`);
      assert.ok(hops.includes(`/saml/${NS}/${NAME}/slo`), 'SimpleSAMLphp sent the LogoutRequest to the operator');
      assert.equal(page.url, returnTo, 'SimpleSAMLphp accepted the LogoutResponse and finished at ReturnTo');
      assert.equal(await verifyWith(session.token), 401);
      assert.match(op.rawLogs(), /"initiator":"idp","result":"success","reason":"Success","status":200,"revokedKeys":2/, "its SessionIndex and the NameID's unindexed sessions");
      const next = await signIn(browser);
      assert.equal(next.askedForPassword, true);
      assert.equal(await verifyWith(next.token), 200, 'a new session after the logout works');
    }));

  it('an unsigned LogoutRequest from SimpleSAMLphp (sign.logout off) is refused and ends nothing here', () =>
    withLogs(async () => {
      await idp.setServiceProviders([registration(false)]);
      try {
        const browser = new BrowserClient();
        // The IdP reads the new registration on its next request; wait until
        // it sends unsigned messages (OPcache may serve the old file briefly).
        let session: { token: string } | undefined;
        let refused: BrowserResponse | undefined;
        await waitFor(async () => {
          session = await signIn(browser);
          const res = await browser.get(`${idp.sloURL}?ReturnTo=${encodeURIComponent(`${idp.baseURL}done.php`)}`);
          if (new URL(res.url).pathname === `/saml/${NS}/${NAME}/slo`) {
            refused = res;
            return true;
          }
          return false;
        }, 15_000, 500);
        assert.ok(refused && session);
        assert.equal(refused.status, 401, refused.body.slice(0, 500));
        assert.match(refused.body, /SignatureMissing/);
        assert.equal(await verifyWith(session.token), 200, 'the session was not ended by an unsigned request');
      } finally {
        await idp.setServiceProviders([registration(true)]);
      }
    }));
});
