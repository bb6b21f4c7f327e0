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
// sign.logout; without it the operator refuses its LogoutRequest.
// - SP signing key (saml.sp.signingKeySecretRef, signAuthnRequests): with
//   SimpleSAMLphp told to require and check the SP's signatures
//   (validate.authnrequest, validate.logout, the SP certificate as certData),
//   sign-in and both logout directions work; the same settings refuse a
//   connector that does not sign (the control that shows they are checked).

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';
import { makeTestKeyPair, pemBody, startSimpleSamlPhp, type SimpleSamlPhp, type SpRegistration, type TestKeyPair } from '../support/simplesamlphp.ts';
import { BrowserClient, findFormWithField, parseForms, type BrowserResponse } from '../support/browser-client.ts';

const NS = 'default';
const NAME = 'ssp-slo';
/** Signs its AuthnRequests and logout messages with the key of the Secret sp-signing. */
const SIGNED = 'ssp-signed';
/** Registered at the IdP like SIGNED (signatures required) but signs nothing: must be refused. */
const STRICT = 'ssp-strict';
/** As SIGNED, over the HTTP-POST binding (an enveloped signature on the AuthnRequest). */
const SIGNED_POST = 'ssp-signed-post';
const USER = { name: 'alice', password: 'alice-Pw-slo-4%Qz', email: 'alice@example.com' };

describe('single logout and SP signing with a real SimpleSAMLphp IdP', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(180_000);
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  let spKey: TestKeyPair;
  const base = (name = NAME) => `${op.baseURL}/saml/${NS}/${name}`;

  const registration = (name: string, extra: SpRegistration['extraMetadata']): SpRegistration => ({
    entityID: `${base(name)}/metadata`,
    acsURL: `${base(name)}/acs`,
    sloURL: `${base(name)}/slo`,
    nameIDFormat: 'email',
    nameIDAttribute: 'email',
    ...(extra ? { extraMetadata: extra } : {}),
  });
  /** Every SP registration; `plainSignsLogout` false makes the IdP send unsigned logout messages to NAME. */
  const registrations = (plainSignsLogout = true): SpRegistration[] => {
    const strict = { 'sign.logout': true, 'validate.authnrequest': true, 'validate.logout': true, certData: pemBody(spKey.certPem) };
    return [registration(NAME, { 'sign.logout': plainSignsLogout }), registration(SIGNED, strict), registration(SIGNED_POST, strict), registration(STRICT, strict)];
  };

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
  async function signIn(browser: BrowserClient, name = NAME): Promise<{ askedForPassword: boolean; token: string }> {
    // HTTP-POST binding: our auto-submit AuthnRequest form comes first.
    let page = await settle(browser, await browser.get(`${base(name)}/login?rd=${encodeURIComponent('/auth/whoami')}`));
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

  beforeAll(async () => {
    const [key, sp] = await Promise.all([makeTestKeyPair('ssp-slo-idp'), makeTestKeyPair('sso-operator-sp-signing')]);
    spKey = sp;
    idp = await startSimpleSamlPhp({
      users: { [USER.name]: { password: USER.password, attributes: { uid: [USER.name], email: [USER.email] } } },
      serviceProviders: [],
      signing: key,
    });
    const connector = (name: string, sp: Record<string, unknown>, ssoBinding = 'HTTPRedirect') => ({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name, namespace: NS },
      spec: {
        protocol: 'SAML2',
        saml: {
          idp: { entityID: idp.entityID, ssoURL: idp.ssoURL, sloURL: idp.sloURL, ssoBinding, certificates: [{ pem: key.certPem }] },
          sp: { nameIDPolicy: { format: 'EmailAddress' }, ...sp },
        },
      },
    });
    op = await startTestOperator({
      manifests: {
        'all.yaml': [
          connector(NAME, {}),
          connector(SIGNED, { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } }),
          connector(SIGNED_POST, { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } }, 'HTTPPost'),
          connector(STRICT, {}),
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'sp-signing', namespace: NS },
            type: 'kubernetes.io/tls',
            stringData: { 'tls.crt': spKey.certPem, 'tls.key': spKey.keyPem },
          },
          {
            apiVersion: 'sso.operator.dev/v1alpha1',
            kind: 'UserBinding',
            metadata: { name: 'alice', namespace: NS },
            spec: { user: USER.email, connectors: [NAME, SIGNED, SIGNED_POST, STRICT] },
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
      const ready = (name: string) => body.resources.some((r) => r.kind === 'SsoConnector' && r.name === name && r.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready(NAME) && ready(SIGNED) && ready(SIGNED_POST) && ready(STRICT);
    }, 10_000);
    await idp.setServiceProviders(registrations());
    // The SP metadata announces the SLO endpoint for both bindings.
    const metadata = await (await fetch(`${base()}/metadata`)).text();
    assert.match(metadata, new RegExp(`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${base()}/slo"/>`));
    assert.match(metadata, /AuthnRequestsSigned="false"/);
    assert.doesNotMatch(metadata, /KeyDescriptor/);
  });

  afterAll(async () => {
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
      await idp.setServiceProviders(registrations(false));
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
        await idp.setServiceProviders(registrations());
      }
    }));

  it('signed SP: SimpleSAMLphp, requiring our signatures, accepts our AuthnRequest and both logout directions', () =>
    withLogs(async () => {
      const metadata = await (await fetch(`${base(SIGNED)}/metadata`)).text();
      assert.match(metadata, /AuthnRequestsSigned="true"/);
      assert.ok(metadata.includes(`<ds:X509Certificate>${pemBody(spKey.certPem)}</ds:X509Certificate>`), 'the SP certificate is published');
      const browser = new BrowserClient();
      const login = await browser.get(`${base(SIGNED)}/login?rd=%2F`, { followRedirects: false });
      const location = new URL(login.headers.get('location') ?? '');
      assert.equal(location.searchParams.get('SigAlg'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
      assert.ok(location.searchParams.get('Signature'));
      const first = await signIn(browser, SIGNED);
      assert.equal(first.askedForPassword, true);

      const out = await browser.postForm(`${op.baseURL}/auth/logout?rd=${encodeURIComponent('/auth/whoami?after=signed')}`, {});
      const page = await settle(browser, out);
      assert.equal(new URL(page.url).pathname + new URL(page.url).search, '/auth/whoami?after=signed', `${page.status} ${page.url}: ${page.body.slice(0, 400)}`);
      assert.equal(await verifyWith(first.token), 401);
      const second = await signIn(browser, SIGNED);
      assert.equal(second.askedForPassword, true, 'SimpleSAMLphp accepted our signed LogoutRequest and ended its session');

      const returnTo = `${idp.baseURL}signed-logout-finished.php`;
      const idpLogout = await settle(browser, await browser.get(`${idp.sloURL}?ReturnTo=${encodeURIComponent(returnTo)}`));
      assert.equal(idpLogout.url, returnTo, 'SimpleSAMLphp accepted our signed LogoutResponse');
      assert.equal(await verifyWith(second.token), 401);
      assert.doesNotMatch(idp.logs(), /no signature found/i);

      // HTTP-POST binding: the enveloped signature on the AuthnRequest is checked as well.
      const postBrowser = new BrowserClient();
      const form = findFormWithField(await postBrowser.get(`${base(SIGNED_POST)}/login?rd=%2F`), 'SAMLRequest');
      assert.ok(form);
      assert.match(Buffer.from(form.fields['SAMLRequest'] ?? '', 'base64').toString('utf8'), /<ds:Signature /);
      const viaPost = await signIn(postBrowser, SIGNED_POST);
      assert.equal(viaPost.askedForPassword, true);
      assert.equal(await verifyWith(viaPost.token), 200);
      assert.doesNotMatch(idp.logs(), /no signature found/i);
    }));

  it('control: the same SimpleSAMLphp settings refuse a connector that does not sign', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const page = await browser.get(`${base(STRICT)}/login?rd=%2F`);
      assert.equal(parseForms(page.body, page.url).some((f) => 'password' in f.fields), false, 'no login form for an unsigned AuthnRequest');
      assert.equal(findFormWithField(page, 'SAMLResponse'), undefined);
      assert.match(idp.logs(), /no signature found on message/i);
    }));
});
