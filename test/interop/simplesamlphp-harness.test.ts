// Proves the SimpleSAMLphp harness and the HTTP browser on their own, without the
// project's SP code: IdP-initiated and SP-initiated (Redirect + POST) sign-ins,
// wrong password, and signing key rotation.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import type { Document, Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

import { ensureDebianPackages } from '../support/system-deps.ts';
import {
  SIMPLESAMLPHP_PACKAGES,
  makeTestKeyPair,
  pemBody,
  startSimpleSamlPhp,
  NAMEID_FORMATS,
  type SimpleSamlPhp,
  type TestKeyPair,
} from '../support/simplesamlphp.ts';
import { BrowserClient, CookieJar, decodeEntities, parseForms, type BrowserResponse } from '../support/browser-client.ts';

const SP_ENTITY = 'http://127.0.0.1:9/sp';
const ACS = 'http://127.0.0.1:9/acs';
const USER = 'alice';
const PASSWORD = 'correct horse & "battery"';
const EMAIL = 'alice@example.org';

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
};

// ---------------------------------------------------------------------------
// helpers

function parseXml(xml: string): Document {
  return new DOMParser().parseFromString(xml, 'text/xml');
}

function children(el: Element | Document, ns: string, local: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === local) out.push(n as Element);
  }
  return out;
}

function only(el: Element | Document, ns: string, local: string): Element {
  const found = children(el, ns, local);
  assert.equal(found.length, 1, `expected exactly one ${local}`);
  return found[0] as Element;
}

interface CapturedResponse {
  xml: string;
  doc: Document;
  response: Element;
  assertion: Element;
  relayState: string | undefined;
}

/** The auto-submit form that SimpleSAMLphp answers with, captured instead of posted. */
function captureSamlResponse(page: BrowserResponse): CapturedResponse {
  const form = parseForms(page.body, page.url).find((f) => 'SAMLResponse' in f.fields);
  assert.ok(form, `no SAMLResponse form on ${page.url} (status ${page.status}):\n${page.body.slice(0, 2000)}`);
  assert.equal(form.method, 'POST');
  assert.equal(form.action, ACS);
  const b64 = form.fields['SAMLResponse'] ?? '';
  assert.match(b64, /^[A-Za-z0-9+/]+=*$/, 'SAMLResponse is base64');
  const xml = Buffer.from(b64, 'base64').toString('utf8');
  const doc = parseXml(xml);
  const response = doc.documentElement as Element;
  assert.equal(response.localName, 'Response');
  assert.equal(response.namespaceURI, NS.samlp);
  return { xml, doc, response, assertion: only(response, NS.saml, 'Assertion'), relayState: form.fields['RelayState'] };
}

function nameID(c: CapturedResponse): Element {
  return only(only(c.assertion, NS.saml, 'Subject'), NS.saml, 'NameID');
}

function statusCode(c: CapturedResponse): string {
  return only(only(c.response, NS.samlp, 'Status'), NS.samlp, 'StatusCode').getAttribute('Value') ?? '';
}

/** The X509Certificate text in the KeyInfo of an element's enveloped ds:Signature. */
function signatureCert(el: Element): string {
  const sig = only(el, NS.ds, 'Signature');
  const x509 = only(only(only(sig, NS.ds, 'KeyInfo'), NS.ds, 'X509Data'), NS.ds, 'X509Certificate');
  return (x509.textContent ?? '').replace(/\s+/g, '');
}

/** Cryptographically checks the enveloped signature of `el` against `certPem`. */
function signatureValid(xml: string, el: Element, certPem: string): boolean {
  const verifier = new SignedXml({ publicCert: certPem, getCertFromKeyInfo: () => null });
  verifier.loadSignature(only(el, NS.ds, 'Signature') as unknown as Parameters<SignedXml['loadSignature']>[0]);
  try {
    return verifier.checkSignature(xml) === true;
  } catch {
    return false;
  }
}

function authnRequest(idp: SimpleSamlPhp, id: string): string {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return (
    `<samlp:AuthnRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${id}" Version="2.0" ` +
    `IssueInstant="${now}" Destination="${idp.ssoURL}" AssertionConsumerServiceURL="${ACS}" ` +
    `ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${SP_ENTITY}</saml:Issuer>` +
    `<samlp:NameIDPolicy Format="${NAMEID_FORMATS.email}" AllowCreate="true"/>` +
    `</samlp:AuthnRequest>`
  );
}

const newRequestID = (): string => '_' + randomBytes(16).toString('hex');

/** Fills SimpleSAMLphp's login form. */
function login(browser: BrowserClient, page: BrowserResponse, password = PASSWORD): Promise<BrowserResponse> {
  const form = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
  assert.ok(form, `expected the SimpleSAMLphp login form on ${page.url}:\n${page.body.slice(0, 2000)}`);
  return browser.submit(form, { username: USER, password });
}

// ---------------------------------------------------------------------------

describe('SimpleSAMLphp harness', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(600_000);
  let idp: SimpleSamlPhp;
  let keys: TestKeyPair;

  /** Runs a test body and prints the IdP's log if it throws. */
  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      console.error(`--- SimpleSAMLphp log (last 20 kB) ---\n${idp?.logs().slice(-20_000) ?? '(not started)'}`);
      throw err;
    }
  };

  beforeAll(async () => {
    let t = performance.now();
    const installed = await ensureDebianPackages(SIMPLESAMLPHP_PACKAGES);
    console.log(
      `[timing] packages: ${(performance.now() - t).toFixed(0)} ms` +
        (installed.length ? ` (apt-get installed ${installed.join(' ')})` : ' (already installed)'),
    );
    t = performance.now();
    keys = await makeTestKeyPair('simplesamlphp-harness-idp');
    console.log(`[timing] key pair: ${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
    idp = await startSimpleSamlPhp({
      users: { [USER]: { password: PASSWORD, attributes: { uid: [USER], email: [EMAIL], groups: ['admins', 'r&d'] } } },
      serviceProviders: [{ entityID: SP_ENTITY, acsURL: ACS, nameIDFormat: 'email', nameIDAttribute: 'email' }],
      signing: keys,
    });
    console.log(`[timing] SimpleSAMLphp start: ${(performance.now() - t).toFixed(0)} ms at ${idp.baseURL}`);
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it('serves IdP metadata with the signing certificate', () =>
    withLogs(async () => {
      const res = await new BrowserClient().get(idp.metadataURL);
      assert.equal(res.status, 200);
      assert.ok(res.body.includes(`entityID="${idp.entityID}"`));
      assert.ok(res.body.includes(pemBody(keys.certPem)));
      assert.ok(res.body.includes(idp.ssoURL));
    }));

  it('IdP-initiated sign-in yields a signed SAMLResponse with the email NameID', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const t = performance.now();
      const loginPage = await browser.get(idp.idpInitiatedURL(SP_ENTITY, 'relay & state'));
      assert.equal(loginPage.status, 200);
      assert.equal(loginPage.redirects.length, 1);
      const result = await login(browser, loginPage);
      console.log(`[timing] IdP-initiated login (2 round trips + redirect): ${(performance.now() - t).toFixed(0)} ms`);

      const c = captureSamlResponse(result);
      assert.equal(c.relayState, 'relay & state');
      assert.equal(statusCode(c), 'urn:oasis:names:tc:SAML:2.0:status:Success');
      assert.equal(c.response.getAttribute('Destination'), ACS);
      assert.equal(c.response.hasAttribute('InResponseTo'), false, 'unsolicited response');
      assert.equal(only(c.response, NS.saml, 'Issuer').textContent, idp.entityID);
      const nid = nameID(c);
      assert.equal(nid.textContent, EMAIL);
      assert.equal(nid.getAttribute('Format'), NAMEID_FORMATS.email);
      assert.ok(c.xml.includes('<ds:Signature'), 'has ds:Signature');
      assert.equal(signatureCert(c.response), pemBody(keys.certPem));
      assert.equal(signatureCert(c.assertion), pemBody(keys.certPem));
      assert.ok(signatureValid(c.xml, c.response, keys.certPem), 'Response signature verifies');
      assert.ok(signatureValid(c.xml, c.assertion, keys.certPem), 'Assertion signature verifies');
      assert.ok(c.xml.includes('>r&amp;d<'), 'attribute values are XML-escaped and present');

      // The IdP session is kept in the cookie jar: a second IdP-initiated visit needs no login.
      const again = await browser.get(idp.idpInitiatedURL(SP_ENTITY));
      assert.equal(nameID(captureSamlResponse(again)).textContent, EMAIL);
    }));

  it('wrong password shows the login form again, without a SAMLResponse', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const loginPage = await browser.get(idp.idpInitiatedURL(SP_ENTITY));
      const result = await login(browser, loginPage, 'wrong password');
      assert.equal(result.status, 200);
      const forms = parseForms(result.body, result.url);
      assert.ok(forms.some((f) => 'password' in f.fields && 'AuthState' in f.fields), 'login form again');
      assert.ok(!forms.some((f) => 'SAMLResponse' in f.fields));
      assert.ok(!result.body.includes('SAMLResponse'));
    }));

  it('SP-initiated sign-in over HTTP-Redirect answers InResponseTo the request ID', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const id = newRequestID();
      const q = new URLSearchParams({
        SAMLRequest: deflateRawSync(Buffer.from(authnRequest(idp, id))).toString('base64'),
        RelayState: '/after-login?x=1&y=2',
      });
      const loginPage = await browser.get(`${idp.ssoURL}?${q}`);
      const c = captureSamlResponse(await login(browser, loginPage));
      assert.equal(c.response.getAttribute('InResponseTo'), id);
      assert.equal(c.relayState, '/after-login?x=1&y=2');
      const conf = only(only(only(c.assertion, NS.saml, 'Subject'), NS.saml, 'SubjectConfirmation'), NS.saml, 'SubjectConfirmationData');
      assert.equal(conf.getAttribute('InResponseTo'), id);
      assert.equal(conf.getAttribute('Recipient'), ACS);
      assert.equal(nameID(c).textContent, EMAIL);
    }));

  it('SP-initiated sign-in over HTTP-POST answers InResponseTo the request ID', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const id = newRequestID();
      const loginPage = await browser.postForm(idp.ssoURL, {
        SAMLRequest: Buffer.from(authnRequest(idp, id)).toString('base64'),
        RelayState: 'post-relay',
      });
      assert.equal(loginPage.status, 200);
      const c = captureSamlResponse(await login(browser, loginPage));
      assert.equal(c.response.getAttribute('InResponseTo'), id);
      assert.equal(c.relayState, 'post-relay');
      assert.equal(nameID(c).textContent, EMAIL);
    }));

  it('key rotation: the next response is signed with the new key and carries the new certificate', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const first = captureSamlResponse(await login(browser, await browser.get(idp.idpInitiatedURL(SP_ENTITY))));
      assert.equal(signatureCert(first.response), pemBody(keys.certPem));

      const next = await makeTestKeyPair('simplesamlphp-harness-idp-rotated');
      await idp.setSigningKey(next.keyPem, next.certPem);
      assert.equal(idp.certPem, next.certPem);

      // Same browser (existing IdP session): no login, just a new response.
      const c = captureSamlResponse(await browser.get(idp.idpInitiatedURL(SP_ENTITY)));
      assert.equal(signatureCert(c.response), pemBody(next.certPem));
      assert.equal(signatureCert(c.assertion), pemBody(next.certPem));
      assert.ok(signatureValid(c.xml, c.response, next.certPem), 'verifies with the new certificate');
      assert.ok(!signatureValid(c.xml, c.response, keys.certPem), 'does not verify with the old certificate');

      const md = await new BrowserClient().get(idp.metadataURL);
      assert.ok(md.body.includes(pemBody(next.certPem)), 'metadata publishes the new certificate');
      assert.ok(!md.body.includes(pemBody(keys.certPem)), 'metadata no longer has the old certificate');
    }));

  it('setServiceProviders takes effect for the next request', () =>
    withLogs(async () => {
      const other = 'http://127.0.0.1:9/other-sp';
      await idp.setServiceProviders([
        { entityID: SP_ENTITY, acsURL: ACS, nameIDFormat: 'email' },
        { entityID: other, acsURL: ACS, nameIDFormat: 'persistent', signResponse: false },
      ]);
      const browser = new BrowserClient();
      const c = captureSamlResponse(await login(browser, await browser.get(idp.idpInitiatedURL(other))));
      const nid = nameID(c);
      assert.equal(nid.getAttribute('Format'), NAMEID_FORMATS.persistent);
      assert.match(nid.textContent ?? '', /^[0-9a-f]{40}$/, 'opaque persistent ID');
      assert.equal(children(c.response, NS.ds, 'Signature').length, 0, 'Response unsigned');
      assert.equal(children(c.assertion, NS.ds, 'Signature').length, 1, 'Assertion signed');
    }));
});

describe('browser-client helpers', () => {
  it('parses forms with quoting variants and entities', () => {
    const html = `<html><body><!-- <form action="/ignored"></form> -->
      <FORM Method=POST action='/a?x=1&amp;y=2' name=f>
        <input type=hidden name=A value="&quot;q&quot; &#x41;&#66; &amp;amp; &lt;t&gt;">
        <input type="hidden" name='B' value='it&apos;s'/>
        <input name="C">
        <input type="checkbox" name="D" value="d">
        <input type="checkbox" name="E" checked>
        <input type="submit" name="go" value="Go">
        <select name="S"><option value="1">one</option><option value="2" selected>two</option></select>
        <textarea name="T">line &amp; more</textarea>
      </form>
      <form><input name="q" value="x"></form></body></html>`;
    const forms = parseForms(html, 'http://h.test/dir/page?z=9');
    assert.equal(forms.length, 2);
    const f = forms[0];
    assert.ok(f);
    assert.equal(f.action, 'http://h.test/a?x=1&y=2');
    assert.equal(f.method, 'POST');
    assert.deepEqual(f.entries, [
      ['A', '"q" AB &amp; <t>'],
      ['B', "it's"],
      ['C', ''],
      ['E', 'on'],
      ['S', '2'],
      ['T', 'line & more'],
    ]);
    assert.equal(forms[1]?.action, 'http://h.test/dir/page?z=9');
    assert.equal(forms[1]?.method, 'GET');
    assert.equal(decodeEntities('&#128512;&copy=1&amp'), '\u{1F600}&copy=1&');
  });

  it('cookie jar: path, max-age, expires, deletion, secure on loopback', () => {
    const jar = new CookieJar();
    const now = Date.now();
    jar.setCookie('a=1; Path=/; HttpOnly; SameSite=None; Secure', 'http://127.0.0.1:8080/x/y', now);
    jar.setCookie('b=2', 'http://127.0.0.1:8080/x/y', now); // default path /x
    jar.setCookie('c=3; Max-Age=1', 'http://127.0.0.1:8080/', now);
    jar.setCookie('d=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://127.0.0.1:8080/', now);
    jar.setCookie('s=5; Secure', 'http://example.test/', now); // secure over non-loopback http: rejected
    assert.equal(jar.header('http://127.0.0.1:9999/x/z'), 'b=2; a=1; c=3');
    assert.equal(jar.header('http://127.0.0.1:9999/xy'), 'a=1; c=3');
    assert.equal(jar.cookiesFor('http://127.0.0.1/', now + 2000).map((c) => c.name).join(','), 'a');
    jar.setCookie('a=; Max-Age=0; Path=/', 'http://127.0.0.1/');
    assert.equal(jar.get('http://127.0.0.1/x/q', 'a'), undefined);
    assert.equal(jar.header('http://example.test/'), '');
    jar.setCookie('dom=1; Domain=example.test', 'http://www.example.test/');
    assert.equal(jar.get('http://api.example.test/', 'dom'), '1');
    jar.setCookie('evil=1; Domain=other.test', 'http://www.example.test/');
    assert.equal(jar.get('http://other.test/', 'evil'), undefined);
  });
});
