// Interoperability of the operator's SAML SP with a real SimpleSAMLphp IdP
// (Debian package) and a real standalone operator (directory store, controller,
// fastify on loopback). No mocks: every login goes browser -> operator ->
// SimpleSAMLphp -> operator's ACS over HTTP.
//
// Facts about SimpleSAMLphp 1.19 that shape these tests:
// - It answers with the ACS endpoint registered for the SP; an
//   AssertionConsumerServiceURL in the AuthnRequest that is not registered
//   exactly is ignored (warning in its log) and the default ACS is used. So
//   for acsParameterStyle Query the `?s=` URL of a login must be registered
//   with the IdP before the browser reaches it (test 3 shows both cases).
// - An IdP session lives in the browser's cookie jar: a second login in the
//   same browser gets a SAMLResponse without the login form.
// - The harness runs `php -S` with `-d opcache.enable_cli=0`, but OPcache
//   covers the built-in server's `cli-server` SAPI through `opcache.enable`
//   (On in Debian), with revalidate_freq=2 and second-resolution mtimes: a
//   rewritten metadata file can be ignored for 2 s, or for good when it is
//   rewritten within the second it was last compiled. Hence setIdpKey()
//   below (wait until the IdP's own metadata shows the key, rewrite if it
//   stays stale) and the SP registration done once, before the IdP has read
//   it (the Query login of test 3 is started in beforeAll() for that).

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { stringify } from 'yaml';

import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';
import { makeTestKeyPair, pemBody, startSimpleSamlPhp, type SimpleSamlPhp, type SpRegistration, type TestKeyPair } from '../support/simplesamlphp.ts';
import { BrowserClient, findFormWithField, parseForms, type BrowserResponse, type ParsedForm } from '../support/browser-client.ts';

const NAMESPACE = 'default';
const SECRET = 'ssp-idp-signing';
const USERS = {
  alice: { password: 'alice-Pw-7q!Xk2#interop', email: 'alice@example.com' },
  bob: { password: 'bob-Pw-9z$Lm4%interop', email: 'bob@example.com' },
} as const;
type UserName = keyof typeof USERS;
const ALICE_GROUPS = ['developers', 'ssp-users'];

/** The three connectors under test. ssp-post is the one that accepts IdP-initiated logins. */
const CONNECTORS = ['ssp-redirect', 'ssp-post', 'ssp-query'] as const;
type ConnectorName = (typeof CONNECTORS)[number];

// ---------------------------------------------------------------------------
// manifests

function secretManifest(pems: string[]): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SECRET, namespace: NAMESPACE },
    type: 'Opaque',
    // One PEM value holding every certificate (the operator accepts several per PEM).
    stringData: { 'tls.crt': pems.map((p) => p.trim()).join('\n') + '\n' },
  });
}

function connectorsManifest(idp: SimpleSamlPhp): string {
  const connector = (name: ConnectorName, extra: { binding: 'HTTPRedirect' | 'HTTPPost'; query?: boolean; idpInitiated?: boolean; stage?: string }) => ({
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'SsoConnector',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      displayName: `SimpleSAMLphp (${name})`,
      protocol: 'SAML2',
      ...(extra.stage ? { stage: extra.stage } : {}),
      saml: {
        idp: {
          entityID: idp.entityID,
          ssoURL: idp.ssoURL,
          ssoBinding: extra.binding,
          certificates: [{ secretRef: { name: SECRET, key: 'tls.crt' } }],
        },
        sp: {
          nameIDPolicy: { format: 'EmailAddress' },
          ...(extra.query ? { acsParameterStyle: 'Query' } : {}),
        },
        ...(extra.idpInitiated ? { idpInitiated: { enabled: true, redirectPath: '/auth/whoami' } } : {}),
      },
    },
  });
  return [
    connector('ssp-redirect', { binding: 'HTTPRedirect' }),
    // Provisioning logs the decision trail and attributes: the leak checks (test 10) cover that stage too.
    connector('ssp-post', { binding: 'HTTPPost', idpInitiated: true, stage: 'Provisioning' }),
    connector('ssp-query', { binding: 'HTTPRedirect', query: true }),
  ]
    .map((d) => stringify(d))
    .join('---\n');
}

function bindingsManifest(withAlice: boolean): string {
  const docs = [];
  if (withAlice) {
    docs.push({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'UserBinding',
      metadata: { name: 'alice', namespace: NAMESPACE },
      // Mixed case on purpose: SimpleSAMLphp asserts alice@example.com; emails compare case-insensitively.
      spec: { user: 'Alice@Example.com', connectors: [...CONNECTORS], groups: ALICE_GROUPS },
    });
  }
  // Someone else, so the rewritten file is not empty (bob stays unbound throughout).
  docs.push({
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: { name: 'carol', namespace: NAMESPACE },
    spec: { user: 'carol@example.com', connectors: ['ssp-redirect'], groups: ['auditors'] },
  });
  return docs.map((d) => stringify(d)).join('---\n');
}

// ---------------------------------------------------------------------------
// helpers

function fingerprintOf(pem: string): string {
  return 'sha256:' + new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

function setCookieNames(res: BrowserResponse): string[] {
  return res.headers.getSetCookie().map((c) => c.slice(0, c.indexOf('=')));
}

function cookieValue(res: BrowserResponse, name: string): string | undefined {
  const c = res.headers.getSetCookie().find((x) => x.startsWith(`${name}=`));
  return c === undefined ? undefined : c.slice(name.length + 1).split(';')[0];
}

/** Reason and correlation id of the operator's error page. */
function errorPage(res: BrowserResponse): { reason: string; correlationId: string } {
  const reason = /Reason: <code>([^<]*)<\/code>/.exec(res.body)?.[1];
  const correlationId = /Correlation id: <code>([^<]*)<\/code>/.exec(res.body)?.[1];
  assert.ok(reason !== undefined && correlationId !== undefined, `not an operator error page (status ${res.status}):\n${res.body.slice(0, 1500)}`);
  return { reason, correlationId };
}

interface Attempt {
  connector: string;
  status: number;
  reason: string;
  correlationId?: string;
}

describe('operator SP with a real SimpleSAMLphp IdP', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(240_000);
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  let oldKey: TestKeyPair;
  let newKey: TestKeyPair;
  let registrations: SpRegistration[] = [];
  // Test 3's login, started in beforeAll() so its ACS URL is registered with the IdP from the start.
  const queryBrowser = new BrowserClient();
  let queryLogin: { location: string; acs: string };

  // Everything sent to or issued by the ACS, for the log checks of test 10.
  const attempts: Attempt[] = [];
  const postedResponses: string[] = [];
  const sessionTokens: string[] = [];
  const stateCookies: string[] = [];

  const loginURL = (c: ConnectorName, rd: string) => `${op.baseURL}/saml/${NAMESPACE}/${c}/login?rd=${encodeURIComponent(rd)}`;
  const entityIDOf = (c: ConnectorName) => `${op.baseURL}/saml/${NAMESPACE}/${c}/metadata`;
  const acsOf = (c: ConnectorName) => `${op.baseURL}/saml/${NAMESPACE}/${c}/acs`;

  /** Prints the operator's and SimpleSAMLphp's logs when a test body throws. */
  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      console.error(`--- operator log (last 40 lines) ---\n${op?.rawLogs().split('\n').slice(-40).join('\n') ?? '(not started)'}`);
      console.error(`--- SimpleSAMLphp log (last 8 kB) ---\n${idp?.logs().slice(-8000) ?? '(not started)'}`);
      throw err;
    }
  };

  async function adminStatus(): Promise<{ problems: unknown[]; resources: { kind: string; namespace: string; name: string; status: Record<string, unknown> }[] }> {
    const res = await fetch(`${op.adminURL}/admin/status`);
    assert.equal(res.status, 200);
    return (await res.json()) as Awaited<ReturnType<typeof adminStatus>>;
  }

  async function resourceStatus(kind: string, name: string): Promise<Record<string, unknown> | undefined> {
    return (await adminStatus()).resources.find((r) => r.kind === kind && r.namespace === NAMESPACE && r.name === name)?.status;
  }

  function isReady(status: Record<string, unknown> | undefined): boolean {
    const conditions = (status?.conditions as { type: string; status: string }[] | undefined) ?? [];
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  }

  async function certificatesOf(c: ConnectorName): Promise<{ fingerprint: string; source: string }[]> {
    return ((await resourceStatus('SsoConnector', c))?.certificates as { fingerprint: string; source: string }[] | undefined) ?? [];
  }

  /**
   * From any page of the login flow to SimpleSAMLphp's auto-submit form:
   * posts the operator's own AuthnRequest form (HTTP-POST binding) and fills
   * the IdP's login form when it is shown.
   */
  async function toSamlResponse(browser: BrowserClient, start: BrowserResponse, user: UserName): Promise<ParsedForm> {
    let page = start;
    if (page.url.startsWith(op.baseURL) && findFormWithField(page, 'SAMLRequest')) {
      const form = findFormWithField(page, 'SAMLRequest') as ParsedForm;
      assert.equal(form.method, 'POST');
      assert.equal(form.action, idp.ssoURL, 'the operator posts the AuthnRequest to the IdP');
      page = await browser.submit(form);
    }
    const loginForm = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
    if (loginForm) page = await browser.submit(loginForm, { username: user, password: USERS[user].password });
    const form = findFormWithField(page, 'SAMLResponse');
    assert.ok(form, `no SAMLResponse form at ${page.url} (status ${page.status}):\n${page.body.slice(0, 2000)}`);
    assert.equal(form.method, 'POST');
    return form;
  }

  /**
   * Posts a captured SAMLResponse form to the operator's ACS without following
   * the redirect, and records the attempt. `cookie` replaces the jar's Cookie
   * header (a replay from elsewhere); otherwise the browser's own cookies go.
   */
  async function postAcs(browser: BrowserClient, form: ParsedForm, cookie?: string): Promise<BrowserResponse> {
    const state = browser.cookies.get(form.action, 'sso_state');
    if (state) stateCookies.push(state);
    postedResponses.push(form.fields['SAMLResponse'] ?? '');
    const connector = /\/saml\/([^/]+)\/([^/]+)\/acs/.exec(new URL(form.action).pathname);
    assert.ok(connector, `form action ${form.action} is not an operator ACS`);
    const res =
      cookie === undefined
        ? await browser.submit(form, {}, { followRedirects: false })
        : await new BrowserClient().request(
            'POST',
            form.action,
            { body: new URLSearchParams(form.entries).toString(), contentType: 'application/x-www-form-urlencoded' },
            { followRedirects: false, headers: { cookie } },
          );
    const attempt: Attempt = { connector: `${connector[1]}/${connector[2]}`, status: res.status, reason: 'Success' };
    if (res.status !== 303) Object.assign(attempt, errorPage(res));
    attempts.push(attempt);
    const token = cookieValue(res, 'sso_session');
    if (token) sessionTokens.push(token);
    const newState = cookieValue(res, 'sso_state');
    if (newState) stateCookies.push(newState);
    return res;
  }

  /** A refused ACS answer: the status, the reason on the page, and no session cookie. */
  function assertRefused(res: BrowserResponse, status: number, reason: string): void {
    assert.equal(res.status, status, `expected ${status} ${reason}, got ${res.status}:\n${res.body.slice(0, 800)}`);
    assert.equal(errorPage(res).reason, reason);
    assert.ok(!setCookieNames(res).includes('sso_session'), 'no session cookie on a refusal');
  }

  /** A successful ACS answer: 303 to `rd` with a session cookie. */
  function assertLanded(res: BrowserResponse, rd: string): void {
    assert.equal(res.status, 303, `expected 303, got ${res.status}:\n${res.body.slice(0, 800)}`);
    const location = res.headers.get('location');
    assert.ok(location, '303 has a Location');
    assert.equal(new URL(location, op.baseURL).href, new URL(rd, op.baseURL).href);
    assert.ok(setCookieNames(res).includes('sso_session'), 'session cookie set');
  }

  /** A whole SP-initiated login in `browser` through `c`, as `user`. */
  async function spLogin(browser: BrowserClient, c: ConnectorName, rd: string, user: UserName = 'alice'): Promise<BrowserResponse> {
    const start = await browser.get(loginURL(c, rd));
    const form = await toSamlResponse(browser, start, user);
    assert.equal(form.action, acsOf(c), 'SimpleSAMLphp posts to the connector ACS');
    return postAcs(browser, form);
  }

  /** Starts a Query-style login (not followed): the IdP URL and the `?s=` ACS URL the AuthnRequest names. */
  async function beginQueryLogin(browser: BrowserClient, rd: string): Promise<{ location: string; acs: string }> {
    const res = await browser.get(loginURL('ssp-query', rd), { followRedirects: false });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, idp.ssoURL);
    assert.equal(location.searchParams.get('RelayState'), null, 'Query style sends no RelayState');
    const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const request = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
    assert.ok(request);
    const acs = request.getAttribute('AssertionConsumerServiceURL') ?? '';
    assert.match(acs, /\?s=[A-Za-z0-9_-]{16,64}$/);
    assert.ok(acs.startsWith(`${acsOf('ssp-query')}?s=`), acs);
    return { location: location.href, acs };
  }

  /**
   * Switches SimpleSAMLphp's signing key and waits until its metadata
   * publishes the new certificate (the SSO endpoint reads the same file);
   * rewrites it when OPcache keeps serving the old one (see the top note).
   */
  async function setIdpKey(pair: TestKeyPair): Promise<void> {
    const t0 = performance.now();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await idp.setSigningKey(pair.keyPem, pair.certPem);
      try {
        await waitFor(async () => (await (await fetch(idp.metadataURL)).text()).includes(pemBody(pair.certPem)), 2600, 50);
        console.log(`[timing] IdP signing key switched after ${(performance.now() - t0).toFixed(0)} ms (${attempt} write(s))`);
        return;
      } catch {
        // Stale OPcache entry: write again, in a later second.
      }
    }
    throw new Error('SimpleSAMLphp kept publishing the previous signing certificate');
  }

  async function verify(browser: BrowserClient): Promise<BrowserResponse> {
    return browser.get(`${op.baseURL}/auth/verify`);
  }

  async function whoami(browser: BrowserClient): Promise<{ status: number; json: { authenticated: boolean; claims?: Record<string, unknown>; reason?: string } }> {
    const res = await browser.get(`${op.baseURL}/auth/whoami`, { headers: { accept: 'application/json' } });
    return { status: res.status, json: JSON.parse(res.body) as { authenticated: boolean; claims?: Record<string, unknown> } };
  }

  /** /auth/verify and /auth/whoami of a browser signed in as alice through `c`. */
  async function assertSignedInAsAlice(browser: BrowserClient, c: ConnectorName): Promise<void> {
    const v = await verify(browser);
    assert.equal(v.status, 200);
    assert.equal(v.headers.get('x-auth-request-user'), USERS.alice.email);
    assert.equal(v.headers.get('x-auth-request-email'), USERS.alice.email);
    assert.equal(v.headers.get('x-auth-request-groups'), ALICE_GROUPS.join(','));

    const w = await whoami(browser);
    assert.equal(w.status, 200);
    assert.equal(w.json.authenticated, true);
    const claims = w.json.claims ?? {};
    assert.equal(claims['sub'], USERS.alice.email);
    assert.equal(claims['email'], USERS.alice.email);
    assert.deepEqual(claims['groups'], ALICE_GROUPS);
    assert.equal(claims['connector'], `${NAMESPACE}/${c}`);
    const now = Date.now() / 1000;
    const exp = claims['exp'];
    assert.ok(typeof exp === 'number' && exp > now + 60 && exp <= now + 8 * 3600 + 5, `exp ${String(exp)} is in the session lifetime (<= 8h)`);
    assert.ok(typeof claims['iat'] === 'number' && Math.abs((claims['iat'] as number) - now) < 60, 'iat is now');
  }

  beforeAll(async () => {
    let t = performance.now();
    [oldKey, newKey] = await Promise.all([makeTestKeyPair('ssp-interop-idp-old'), makeTestKeyPair('ssp-interop-idp-new')]);
    idp = await startSimpleSamlPhp({
      users: Object.fromEntries(
        Object.entries(USERS).map(([name, u]) => [
          name,
          { password: u.password, attributes: { uid: [name], email: [u.email], eduPersonAffiliation: ['member', 'staff'] } },
        ]),
      ),
      serviceProviders: [],
      signing: oldKey,
    });
    console.log(`[timing] SimpleSAMLphp start (with key pairs): ${(performance.now() - t).toFixed(0)} ms`);

    t = performance.now();
    op = await startTestOperator({
      manifests: {
        'idp-secret.yaml': secretManifest([oldKey.certPem]),
        'connectors.yaml': connectorsManifest(idp),
        'bindings.yaml': bindingsManifest(true),
      },
      logLevel: 'info',
    });
    await waitFor(async () => {
      for (const c of CONNECTORS) if (!isReady(await resourceStatus('SsoConnector', c))) return false;
      return (await resourceStatus('UserBinding', 'alice'))?.phase === 'Active';
    }, 10_000);
    console.log(`[timing] operator start until connectors Ready: ${(performance.now() - t).toFixed(0)} ms`);

    // The operator's SP URLs are known only now: register them with the IdP,
    // taken from the published status and held to the documented defaults.
    registrations = [];
    for (const c of CONNECTORS) {
      const status = (await resourceStatus('SsoConnector', c)) ?? {};
      assert.equal(status['entityID'], entityIDOf(c));
      assert.equal(status['acsURL'], acsOf(c));
      registrations.push({ entityID: entityIDOf(c), acsURL: acsOf(c), nameIDFormat: 'email', nameIDAttribute: 'email' });
    }
    // SimpleSAMLphp only answers to registered ACS URLs: the `?s=` URL of the
    // Query login of test 3 is registered next to the plain one (as with an
    // IdP that honours the requested ACS URL).
    queryLogin = await beginQueryLogin(queryBrowser, '/queried');
    const post = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
    registrations = registrations.map((r) =>
      r.entityID === entityIDOf('ssp-query')
        ? {
            ...r,
            extraMetadata: {
              AssertionConsumerService: [
                { Binding: post, Location: acsOf('ssp-query'), index: 0 },
                { Binding: post, Location: queryLogin.acs, index: 1 },
              ],
            },
          }
        : r,
    );
    await idp.setServiceProviders(registrations);
  });

  afterAll(async () => {
    await op?.stop();
    await idp?.stop();
  });

  it('1. SP-initiated over HTTP-Redirect: 303 to rd, session, /auth/verify and whoami', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const t = performance.now();
      const start = await browser.get(loginURL('ssp-redirect', '/app/one?x=1&y=2'));
      // The operator redirected (302) to SimpleSAMLphp with a deflated AuthnRequest.
      assert.equal(start.redirects[0], loginURL('ssp-redirect', '/app/one?x=1&y=2'));
      assert.ok(start.redirects[1]?.startsWith(`${idp.ssoURL}?SAMLRequest=`), `went to the IdP: ${start.redirects.join(' -> ')}`);
      assert.ok(browser.cookies.get(op.baseURL, 'sso_state'), 'state cookie set');
      const form = await toSamlResponse(browser, start, 'alice');
      assert.equal(form.action, acsOf('ssp-redirect'));
      const res = await postAcs(browser, form);
      console.log(`[timing] SP-initiated Redirect login (4 round trips): ${(performance.now() - t).toFixed(0)} ms`);
      assertLanded(res, '/app/one?x=1&y=2');
      const session = res.headers.getSetCookie().find((c) => c.startsWith('sso_session='));
      assert.match(session ?? '', /; HttpOnly/);
      assert.match(session ?? '', /; SameSite=Lax/);
      await assertSignedInAsAlice(browser, 'ssp-redirect');
    }));

  it('2. SP-initiated over HTTP-POST: the auto-submit page posts the AuthnRequest to SimpleSAMLphp', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const start = await browser.get(loginURL('ssp-post', '/posted'));
      assert.equal(start.status, 200);
      assert.equal(start.url, loginURL('ssp-post', '/posted'), 'no redirect: an auto-submit page');
      const request = findFormWithField(start, 'SAMLRequest');
      assert.ok(request);
      const xml = Buffer.from(request.fields['SAMLRequest'] ?? '', 'base64').toString('utf8');
      assert.match(xml, /^<samlp:AuthnRequest /);
      assert.ok(xml.includes(`AssertionConsumerServiceURL="${acsOf('ssp-post')}"`));
      const form = await toSamlResponse(browser, start, 'alice');
      const res = await postAcs(browser, form);
      assertLanded(res, '/posted');
      await assertSignedInAsAlice(browser, 'ssp-post');
    }));

  it('3. acsParameterStyle Query: the AuthnRequest ACS URL carries ?s= and the login succeeds', () =>
    withLogs(async () => {
      const browser = queryBrowser;

      // SimpleSAMLphp 1.19 ignores an ACS URL it does not know and answers to
      // the registered one: the state id is lost, and the operator refuses
      // the response as unsolicited instead of guessing the login.
      const lost = await beginQueryLogin(browser, '/lost');
      const fallback = await toSamlResponse(browser, await browser.get(lost.location), 'alice');
      assert.equal(fallback.action, acsOf('ssp-query'), 'IdP fell back to the registered ACS');
      assertRefused(await postAcs(browser, fallback), 401, 'UnsolicitedResponseRefused');

      // The login started in beforeAll(), whose `?s=` URL is registered.
      const form = await toSamlResponse(browser, await browser.get(queryLogin.location), 'alice');
      assert.equal(form.action, queryLogin.acs, 'SimpleSAMLphp posts to the ACS URL with ?s=');
      assert.ok(!form.fields['RelayState'], 'no RelayState came back');
      const res = await postAcs(browser, form);
      assertLanded(res, '/queried');
      await assertSignedInAsAlice(browser, 'ssp-query');
    }));

  it('4. several pending logins in one browser, completed in reverse order, each land on their own rd', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const first = await browser.get(loginURL('ssp-redirect', '/first'));
      const second = await browser.get(loginURL('ssp-redirect', '/second'));
      // Both are pending in the one state cookie; the IdP shows a login form for each.
      const secondForm = await toSamlResponse(browser, second, 'alice');
      assertLanded(await postAcs(browser, secondForm), '/second');
      const firstForm = await toSamlResponse(browser, first, 'alice');
      assert.notEqual(firstForm.fields['RelayState'], secondForm.fields['RelayState'], 'distinct state ids');
      assertLanded(await postAcs(browser, firstForm), '/first');
      await assertSignedInAsAlice(browser, 'ssp-redirect');
    }));

  it('5. IdP-initiated: accepted by the enabled connector (303 to /auth/whoami), refused by a disabled one', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const form = await toSamlResponse(browser, await browser.get(idp.idpInitiatedURL(entityIDOf('ssp-post'))), 'alice');
      assert.equal(form.action, acsOf('ssp-post'));
      const res = await postAcs(browser, form);
      assertLanded(res, '/auth/whoami');
      await assertSignedInAsAlice(browser, 'ssp-post');

      const other = new BrowserClient();
      const refusedForm = await toSamlResponse(other, await other.get(idp.idpInitiatedURL(entityIDOf('ssp-redirect'))), 'alice');
      assert.equal(refusedForm.action, acsOf('ssp-redirect'));
      assertRefused(await postAcs(other, refusedForm), 401, 'UnsolicitedResponseRefused');
      assert.equal((await verify(other)).status, 401);
      assert.equal(other.cookies.get(op.baseURL, 'sso_session'), undefined);
    }));

  it('6. unbound user: signs in at the IdP, the ACS answers 403 BindingNotActive without a session', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const res = await spLogin(browser, 'ssp-redirect', '/bob', 'bob');
      assertRefused(res, 403, 'BindingNotActive');
      assert.equal(browser.cookies.get(op.baseURL, 'sso_session'), undefined);
      assert.equal((await verify(browser)).status, 401);
    }));

  it('7. replay: the same SAMLResponse posted again is refused', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const start = await browser.get(loginURL('ssp-post', '/replayed'));
      const form = await toSamlResponse(browser, start, 'alice');
      // The state cookie as it was when the response arrived (an attacker who also stole it).
      const stateBefore = browser.cookies.get(op.baseURL, 'sso_state');
      assert.ok(stateBefore);

      assertLanded(await postAcs(browser, form), '/replayed');

      // Same browser: the ACS consumed the pending login, so no login is pending
      // any more. ssp-post accepts unsolicited responses, but this one answers a
      // request (InResponseTo) that this browser no longer has pending:
      // InResponseToMismatch, decided before the replay cache is consulted.
      assertRefused(await postAcs(browser, form), 401, 'InResponseToMismatch');

      // With the pre-login state cookie the pending login resolves again, every
      // other check passes, and only the replay cache stops it.
      assertRefused(await postAcs(browser, form, `sso_state=${stateBefore}`), 401, 'ReplayDetected');
    }));

  it('8. removing the binding ends access at the next request', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      assertLanded(await spLogin(browser, 'ssp-redirect', '/before-removal'), '/before-removal');
      assert.equal((await verify(browser)).status, 200);

      const t0 = performance.now();
      await op.writeManifest('bindings.yaml', bindingsManifest(false));
      const { ms } = await waitFor(async () => (await verify(browser)).status === 401, 5000);
      console.log(`binding removal -> /auth/verify 401: ${ms} ms (write included: ${(performance.now() - t0).toFixed(0)} ms)`);
      assert.equal((await whoami(browser)).json.authenticated, false);

      // A new login is refused too.
      const again = new BrowserClient();
      assertRefused(await spLogin(again, 'ssp-redirect', '/after-removal'), 403, 'BindingNotActive');

      // Restore alice for the tests that follow.
      await op.writeManifest('bindings.yaml', bindingsManifest(true));
      await waitFor(async () => (await resourceStatus('UserBinding', 'alice'))?.phase === 'Active', 5000);
    }));

  it('9. certificate rotation: logins succeed throughout, the removed key is refused', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const oldFp = fingerprintOf(oldKey.certPem);
      const newFp = fingerprintOf(newKey.certPem);
      const fps = async () => (await certificatesOf('ssp-redirect')).map((c) => c.fingerprint).sort();
      assert.deepEqual(await fps(), [oldFp]);

      let n = 0;
      const loginOK = async (what: string) => {
        const rd = `/rotation/${++n}`;
        const res = await spLogin(browser, 'ssp-redirect', rd);
        assert.equal(res.status, 303, `login ${what}: ${res.status} ${res.status === 303 ? '' : errorPage(res).reason}`);
        assertLanded(res, rd);
      };
      const writeSecret = async (pems: string[], expected: string[]) => {
        const t0 = performance.now();
        await op.writeManifest('idp-secret.yaml', secretManifest(pems));
        await waitFor(async () => JSON.stringify(await fps()) === JSON.stringify([...expected].sort()), 3000);
        const ms = Math.round(performance.now() - t0);
        console.log(`reload delay: ${ms} ms (Secret with ${pems.length} certificate(s) -> status lists ${expected.length})`);
      };

      await loginOK('with the old key and the old certificate');

      await writeSecret([oldKey.certPem, newKey.certPem], [oldFp, newFp]);
      await loginOK('signed with the old key, both certificates trusted');

      await setIdpKey(newKey);
      await loginOK('signed with the new key, both certificates trusted');

      await writeSecret([newKey.certPem], [newFp]);
      const sources = await certificatesOf('ssp-redirect');
      assert.equal(sources.length, 1);
      await loginOK('signed with the new key, only the new certificate trusted');

      // A response signed with the removed key: its KeyInfo names the old,
      // no longer configured certificate, so the validator says which.
      await setIdpKey(oldKey);
      const refused = await spLogin(browser, 'ssp-redirect', '/rotation/removed');
      assertRefused(refused, 401, 'CertificateNotTrusted');
      assert.equal((await verify(new BrowserClient())).status, 401);

      await setIdpKey(newKey);
    }));

  it('10. logs: one line per ACS attempt with a correlation id, and no secrets', () => {
    assert.ok(attempts.length >= 15, `the tests above made ${attempts.length} ACS attempts`);
    const raw = op.rawLogs();
    const lines = op.logs.filter((l) => l['msg'] === 'login' || l['msg'] === 'login refused');
    assert.equal(lines.length, attempts.length, 'exactly one login / login refused line per ACS attempt');

    const ids = lines.map((l) => l['correlationId']);
    for (const id of ids) assert.match(String(id), /^[0-9a-f]{16}$/, 'every line has a correlation id');
    assert.equal(new Set(ids).size, ids.length, 'correlation ids are unique');

    const summary = (x: { connector: unknown; status: unknown; reason: unknown }) => `${String(x.connector)} ${String(x.status)} ${String(x.reason)}`;
    const expected = attempts.map((a) => summary({ connector: a.connector, status: a.status, reason: a.reason })).sort();
    assert.deepEqual(lines.map((l) => summary({ connector: l['connector'], status: l['status'], reason: l['reason'] })).sort(), expected);
    for (const l of lines) assert.equal(l['msg'], l['status'] === 303 ? 'login' : 'login refused');
    for (const a of attempts.filter((x) => x.correlationId !== undefined)) {
      const matching = lines.filter((l) => l['correlationId'] === a.correlationId);
      assert.equal(matching.length, 1, `one line for the refusal ${a.correlationId}`);
      assert.equal(matching[0]?.['reason'], a.reason);
    }
    console.log(`[logs] ${attempts.length} ACS attempts, ${lines.length} login lines, ${raw.length} bytes of log`);

    assert.ok(postedResponses.length === attempts.length && sessionTokens.length >= 10 && stateCookies.length >= 10);
    for (const r of postedResponses) {
      assert.ok(r.length > 1000);
      assert.ok(!raw.includes(r), 'a SAMLResponse is in the log');
      assert.ok(!raw.includes(r.slice(r.length / 2, r.length / 2 + 48)), 'part of a SAMLResponse is in the log');
      const xml = Buffer.from(r, 'base64').toString('utf8');
      for (const m of xml.matchAll(/<ds:SignatureValue>([^<]+)<\/ds:SignatureValue>/g)) {
        assert.ok(!raw.includes((m[1] ?? '').replace(/\s+/g, '').slice(0, 48)), 'a signature value is in the log');
      }
    }
    for (const token of sessionTokens) {
      assert.ok(!raw.includes(token), 'a session token is in the log');
      assert.ok(!raw.includes(token.split('.')[2] ?? token), 'a session token signature is in the log');
    }
    for (const state of stateCookies) assert.ok(!raw.includes(state), 'a state cookie is in the log');
    assert.ok(!raw.includes('PRIVATE KEY'), 'a private key is in the log');
    for (const u of Object.values(USERS)) assert.ok(!raw.includes(u.password), 'a password is in the log');
  });
});
