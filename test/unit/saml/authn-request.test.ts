import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { inflateRawSync } from 'node:zlib';
import type { Element } from '../../../src/saml/xml.ts';
import { parseAuthnRequest } from '../../../src/demo-idp/saml-idp.ts';
import { buildAuthnRequest, buildAuthnRequestXml, newRequestId } from '../../../src/saml/authn-request.ts';
import { NS, childElement, childElements, parseXmlStrict } from '../../../src/saml/xml.ts';
import { ACS_URL, IDP_SSO_URL, SP_ENTITY_ID, makeConfig } from '../../support/saml-fixtures.ts';

const now = new Date('2030-01-02T03:04:05.678Z');
const params = { requestId: '_abc', relayState: 'state-1', now };

function requestFromRedirect(url: string): { xml: string; query: URLSearchParams } {
  const u = new URL(url);
  const encoded = u.searchParams.get('SAMLRequest');
  assert.ok(encoded);
  return { xml: inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8'), query: u.searchParams };
}

function root(xml: string): Element {
  const el = parseXmlStrict(xml).documentElement as Element;
  assert.equal(el.localName, 'AuthnRequest');
  assert.equal(el.namespaceURI, NS.protocol);
  return el;
}

describe('newRequestId', () => {
  it('is _ + 32 hex digits and random', () => {
    assert.match(newRequestId(), /^_[0-9a-f]{32}$/);
    assert.notEqual(newRequestId(), newRequestId());
  });
});

describe('buildAuthnRequest', () => {
  it('HTTP-Redirect: deflated request with the expected fields and RelayState', () => {
    const target = buildAuthnRequest(makeConfig([]), params);
    assert.equal(target.binding, 'HTTPRedirect');
    assert.ok(target.url.startsWith(`${IDP_SSO_URL}?SAMLRequest=`));
    const { xml, query } = requestFromRedirect(target.url);
    assert.equal(query.get('RelayState'), 'state-1');
    assert.equal(query.get('idptoken'), null);
    const r = root(xml);
    assert.equal(r.getAttribute('ID'), '_abc');
    assert.equal(r.getAttribute('Version'), '2.0');
    assert.equal(r.getAttribute('IssueInstant'), '2030-01-02T03:04:05Z');
    assert.equal(r.getAttribute('Destination'), IDP_SSO_URL);
    assert.equal(r.getAttribute('AssertionConsumerServiceURL'), ACS_URL);
    assert.equal(r.getAttribute('ProtocolBinding'), 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    assert.equal(r.hasAttribute('ForceAuthn'), false);
    assert.equal(r.hasAttribute('IsPassive'), false);
    assert.equal(childElement(r, NS.assertion, 'Issuer')?.textContent, SP_ENTITY_ID);
    assert.equal(childElement(r, NS.protocol, 'NameIDPolicy'), undefined);
    assert.equal(childElement(r, NS.protocol, 'RequestedAuthnContext'), undefined);
  });

  it('HTTP-POST: base64 request and RelayState fields', () => {
    const target = buildAuthnRequest(makeConfig([], { idp: { ssoBinding: 'HTTPPost' } }), params);
    assert.equal(target.binding, 'HTTPPost');
    if (target.binding !== 'HTTPPost') return;
    assert.equal(target.url, IDP_SSO_URL);
    assert.equal(target.fields.RelayState, 'state-1');
    const r = root(Buffer.from(target.fields.SAMLRequest ?? '', 'base64').toString('utf8'));
    assert.equal(r.getAttribute('ID'), '_abc');
  });

  it('NameIDPolicy, RequestedAuthnContext, ForceAuthn and IsPassive', () => {
    const cfg = makeConfig([], {
      nameIDPolicy: { format: 'EmailAddress', allowCreate: true },
      authnContext: { classRefs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', 'urn:x:mfa'], comparison: 'minimum' },
      forceAuthn: true,
      isPassive: true,
    });
    const r = root(buildAuthnRequestXml(cfg, params));
    assert.equal(r.getAttribute('ForceAuthn'), 'true');
    assert.equal(r.getAttribute('IsPassive'), 'true');
    const policy = childElement(r, NS.protocol, 'NameIDPolicy');
    assert.equal(policy?.getAttribute('Format'), 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
    assert.equal(policy?.getAttribute('AllowCreate'), 'true');
    const rac = childElement(r, NS.protocol, 'RequestedAuthnContext') as Element;
    assert.equal(rac.getAttribute('Comparison'), 'minimum');
    assert.deepEqual(
      childElements(rac, NS.assertion, 'AuthnContextClassRef').map((e) => e.textContent),
      ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', 'urn:x:mfa'],
    );
  });

  it('Query style: s=<state> in the ACS URL and no RelayState', () => {
    const cfg = makeConfig([], { acsParameterStyle: 'Query' });
    const { xml, query } = requestFromRedirect((buildAuthnRequest(cfg, params) as { url: string }).url);
    assert.equal(query.get('RelayState'), null);
    assert.equal(root(xml).getAttribute('AssertionConsumerServiceURL'), `${ACS_URL}?s=state-1`);
    const post = buildAuthnRequest(makeConfig([], { acsParameterStyle: 'Query', idp: { ssoBinding: 'HTTPPost' } }), params);
    assert.equal(post.binding === 'HTTPPost' && 'RelayState' in post.fields, false);
  });

  it('Query style with an ACS URL that already has a query', () => {
    const cfg = makeConfig([], { acsParameterStyle: 'Query', acsURL: 'https://sp.example.test/acs?tenant=a' });
    assert.equal(root(buildAuthnRequestXml(cfg, params)).getAttribute('AssertionConsumerServiceURL'), 'https://sp.example.test/acs?tenant=a&s=state-1');
  });

  it('idptoken=<accountID> on the IdP URL, with or without an existing query', () => {
    const plain = buildAuthnRequest(makeConfig([], { accountID: 'acct 42' }), params);
    assert.ok(plain.url.startsWith(`${IDP_SSO_URL}?idptoken=acct%2042&SAMLRequest=`));
    const withQuery = buildAuthnRequest(makeConfig([], { accountID: 'acct42', idp: { ssoURL: 'https://idp.example.test/sso?app=x' } }), params);
    assert.ok(withQuery.url.startsWith('https://idp.example.test/sso?app=x&idptoken=acct42&SAMLRequest='));
    const post = buildAuthnRequest(makeConfig([], { accountID: 'acct42', idp: { ssoBinding: 'HTTPPost', ssoURL: 'https://idp.example.test/sso?app=x' } }), params);
    assert.equal(post.url, 'https://idp.example.test/sso?app=x&idptoken=acct42');
    const { query } = requestFromRedirect(withQuery.url);
    assert.equal(query.get('app'), 'x');
    assert.equal(query.get('RelayState'), 'state-1');
  });

  it('escapes every value', () => {
    const cfg = makeConfig([], {
      spEntityID: 'urn:sp"&<x>',
      acsURL: 'https://sp.example.test/acs?a=1&b=2',
      authnContext: { classRefs: ['urn:<evil>&'] },
      idp: { ssoURL: 'https://idp.example.test/sso?x="1"&y=2' },
    });
    const r = root(buildAuthnRequestXml(cfg, { ...params, requestId: '_a"b' }));
    assert.equal(r.getAttribute('ID'), '_a"b');
    assert.equal(r.getAttribute('Destination'), 'https://idp.example.test/sso?x="1"&y=2');
    assert.equal(r.getAttribute('AssertionConsumerServiceURL'), 'https://sp.example.test/acs?a=1&b=2');
    assert.equal(childElement(r, NS.assertion, 'Issuer')?.textContent, 'urn:sp"&<x>');
    assert.equal(r.getElementsByTagNameNS(NS.assertion, 'AuthnContextClassRef')[0]?.textContent, 'urn:<evil>&');
  });
});

describe('parseAuthnRequest (demo IdP)', () => {
  const cfg = makeConfig([], { nameIDPolicy: { format: 'Transient', allowCreate: false }, authnContext: { classRefs: ['urn:x'] }, forceAuthn: true });

  it('reads back a redirect-binding request', () => {
    const url = new URL((buildAuthnRequest(cfg, params) as { url: string }).url);
    const req = parseAuthnRequest({ SAMLRequest: url.searchParams.get('SAMLRequest') ?? '', RelayState: url.searchParams.get('RelayState') ?? '' }, 'HTTPRedirect');
    assert.deepEqual(req, {
      id: '_abc',
      issuer: SP_ENTITY_ID,
      issueInstant: '2030-01-02T03:04:05Z',
      destination: IDP_SSO_URL,
      acsURL: ACS_URL,
      protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
      relayState: 'state-1',
      forceAuthn: true,
      isPassive: false,
      nameIDPolicy: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient', allowCreate: false },
      authnContext: { comparison: 'exact', classRefs: ['urn:x'] },
    });
  });

  it('reads back a post-binding request', () => {
    const target = buildAuthnRequest(makeConfig([], { idp: { ssoBinding: 'HTTPPost' } }), params);
    assert.equal(target.binding, 'HTTPPost');
    const req = parseAuthnRequest(target.binding === 'HTTPPost' ? target.fields : {}, 'HTTPPost');
    assert.equal(req.id, '_abc');
    assert.equal(req.acsURL, ACS_URL);
    assert.equal(req.relayState, 'state-1');
  });

  it('refuses a DOCTYPE, a wrong root and a missing request', () => {
    const enc = (xml: string): string => Buffer.from(xml).toString('base64');
    assert.throws(() => parseAuthnRequest({ SAMLRequest: enc('<!DOCTYPE x><x/>') }, 'HTTPPost'), /DOCTYPE/);
    assert.throws(() => parseAuthnRequest({ SAMLRequest: enc('<x/>') }, 'HTTPPost'), /AuthnRequest/);
    assert.throws(() => parseAuthnRequest({}, 'HTTPPost'), /missing/);
  });
});

describe('signed AuthnRequests (saml.sp.signAuthnRequests)', () => {
  it('Redirect: SigAlg and Signature over the query; POST: an enveloped signature; a key alone signs no AuthnRequest', async () => {
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const { loadSpSigningKey } = await import('../../../src/saml/sign.ts');
    const { verifyEnvelopedSignature } = await import('../../../src/saml/signature.ts');
    const { parseCertificates } = await import('../../../src/saml/certificates.ts');
    const { verify } = await import('node:crypto');
    const id = await generateSigningIdentity({ commonName: 'sp-signing' });
    const loaded = loadSpSigningKey(id.keyPem, id.certPem);
    assert.ok(loaded.ok);
    const spSigning = loaded.signing;

    const redirect = buildAuthnRequest(makeConfig([], { spSigning, signAuthnRequests: true }), params);
    assert.equal(redirect.binding, 'HTTPRedirect');
    const raw = redirect.url.slice(redirect.url.indexOf('?') + 1);
    const signed = raw.slice(0, raw.indexOf('&Signature='));
    const signature = new URL(redirect.url).searchParams.get('Signature')!;
    assert.match(signed, /^SAMLRequest=[^&]+&RelayState=state-1&SigAlg=http%3A%2F%2Fwww\.w3\.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256$/);
    assert.ok(verify('sha256', Buffer.from(signed), id.certPem, Buffer.from(signature, 'base64')));

    const post = buildAuthnRequest(makeConfig([], { spSigning, signAuthnRequests: true, idp: { ssoBinding: 'HTTPPost' } }), params);
    assert.equal(post.binding, 'HTTPPost');
    const xml = Buffer.from(post.binding === 'HTTPPost' ? post.fields.SAMLRequest! : '', 'base64').toString('utf8');
    assert.equal(verifyEnvelopedSignature(root(xml), parseCertificates(id.certPem, 'sp'), false).status, 'valid');

    const keyOnly = buildAuthnRequest(makeConfig([], { spSigning }), params);
    assert.equal(new URL(keyOnly.binding === 'HTTPRedirect' ? keyOnly.url : '').searchParams.get('Signature'), null);
  });
});
