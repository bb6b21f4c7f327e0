import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { Element } from '../../../src/saml/xml.ts';
import { buildSpMetadata } from '../../../src/saml/metadata.ts';
import { NS, childElement, childElements, parseXmlStrict } from '../../../src/saml/xml.ts';
import { makeConfig } from '../../support/saml-fixtures.ts';

function spDescriptor(xml: string): { root: Element; sp: Element } {
  const root = parseXmlStrict(xml).documentElement as Element;
  assert.equal(root.localName, 'EntityDescriptor');
  assert.equal(root.namespaceURI, NS.metadata);
  const sp = childElement(root, NS.metadata, 'SPSSODescriptor');
  assert.ok(sp);
  return { root, sp };
}

describe('buildSpMetadata', () => {
  it('describes the SP with its ACS and signing wishes', () => {
    const { root, sp } = spDescriptor(buildSpMetadata(makeConfig([])));
    assert.equal(root.getAttribute('entityID'), 'https://sp.example.test/saml/default/demo/metadata');
    assert.equal(sp.getAttribute('AuthnRequestsSigned'), 'false');
    assert.equal(sp.getAttribute('WantAssertionsSigned'), 'true');
    assert.equal(sp.getAttribute('protocolSupportEnumeration'), NS.protocol);
    const [acs, ...more] = childElements(sp, NS.metadata, 'AssertionConsumerService');
    assert.equal(more.length, 0);
    assert.equal(acs?.getAttribute('Binding'), 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    assert.equal(acs?.getAttribute('Location'), 'https://sp.example.test/saml/default/demo/acs');
    assert.equal(childElements(sp, NS.metadata, 'SingleLogoutService').length, 0);
    assert.equal(childElements(sp, NS.metadata, 'NameIDFormat').length, 0);
  });

  it('adds NameIDFormat and SLO in schema order, and WantAssertionsSigned=false when not required', () => {
    const cfg = makeConfig([], {
      sloURL: 'https://sp.example.test/saml/default/demo/slo',
      nameIDPolicy: { format: 'Persistent' },
      security: { requireSignedAssertions: false },
    });
    const { sp } = spDescriptor(buildSpMetadata(cfg));
    assert.equal(sp.getAttribute('WantAssertionsSigned'), 'false');
    const order = childElements(sp, NS.metadata, 'SingleLogoutService')
      .concat(childElements(sp, NS.metadata, 'NameIDFormat'), childElements(sp, NS.metadata, 'AssertionConsumerService'))
      .map((e) => e.localName);
    assert.deepEqual(order, ['SingleLogoutService', 'SingleLogoutService', 'NameIDFormat', 'AssertionConsumerService']);
    const children = Array.from({ length: sp.childNodes.length }, (_, i) => sp.childNodes[i]).filter((n) => n?.nodeType === 1).map((n) => n?.localName);
    assert.deepEqual(children, order);
    assert.equal(childElement(sp, NS.metadata, 'NameIDFormat')?.textContent, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
  });

  it('escapes every value', () => {
    const cfg = makeConfig([], { spEntityID: 'urn:x"<&>\'y', acsURL: 'https://sp.example.test/acs?a=1&b="2"' });
    const xml = buildSpMetadata(cfg);
    const { root, sp } = spDescriptor(xml);
    assert.equal(root.getAttribute('entityID'), 'urn:x"<&>\'y');
    assert.equal(childElement(sp, NS.metadata, 'AssertionConsumerService')?.getAttribute('Location'), 'https://sp.example.test/acs?a=1&b="2"');
  });
});

describe('buildSpMetadata with an SP signing key', () => {
  it('publishes the certificate as a signing KeyDescriptor (before SingleLogoutService) and AuthnRequestsSigned only with signAuthnRequests', async () => {
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const { loadSpSigningKey } = await import('../../../src/saml/sign.ts');
    const id = await generateSigningIdentity({ commonName: 'sp-signing' });
    const loaded = loadSpSigningKey(id.keyPem, id.certPem);
    assert.ok(loaded.ok);
    const cfg = makeConfig([], { spSigning: loaded.signing, signAuthnRequests: true, sloURL: 'https://sp.example.test/saml/default/demo/slo' });
    const xml = buildSpMetadata(cfg);
    const { sp } = spDescriptor(xml);
    assert.equal(sp.getAttribute('AuthnRequestsSigned'), 'true');
    const kd = childElements(sp, NS.metadata, 'KeyDescriptor');
    assert.equal(kd.length, 1);
    assert.equal(kd[0]!.getAttribute('use'), 'signing');
    const body = id.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    assert.ok(xml.includes(`<ds:X509Certificate>${body}</ds:X509Certificate>`));
    assert.ok(xml.indexOf('KeyDescriptor') < xml.indexOf('SingleLogoutService'), 'schema order');
    assert.ok(!xml.includes('PRIVATE'));
    assert.equal(spDescriptor(buildSpMetadata({ ...cfg, signAuthnRequests: false })).sp.getAttribute('AuthnRequestsSigned'), 'false');
  });
});

describe('buildSpMetadata with SP encryption keys', () => {
  it('publishes each encryption key (current, then next) with the accepted methods, only when encryption is on, legacy methods only when allowed', async () => {
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const { loadSpSigningKey } = await import('../../../src/saml/sign.ts');
    const keys = await Promise.all(['enc-current', 'enc-next'].map((commonName) => generateSigningIdentity({ commonName })));
    const loaded = keys.map((k) => {
      const l = loadSpSigningKey(k.keyPem, k.certPem);
      assert.ok(l.ok);
      return l.signing;
    });
    const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    const cfg = makeConfig([], { sloURL: 'https://sp.example.test/saml/default/demo/slo', encryption: { mode: 'Required', keys: loaded, allowLegacy: false } });
    const { sp } = spDescriptor(buildSpMetadata(cfg));
    const descriptors = childElements(sp, NS.metadata, 'KeyDescriptor');
    assert.deepEqual(descriptors.map((d) => d.getAttribute('use')), ['encryption', 'encryption']);
    assert.deepEqual(descriptors.map((d) => d.getElementsByTagNameNS(NS.dsig, 'X509Certificate')[0]?.textContent), keys.map((k) => body(k.certPem)));
    const methods = childElements(descriptors[0]!, NS.metadata, 'EncryptionMethod').map((m) => m.getAttribute('Algorithm'));
    assert.deepEqual(methods, ['http://www.w3.org/2009/xmlenc11#aes256-gcm', 'http://www.w3.org/2009/xmlenc11#aes128-gcm', 'http://www.w3.org/2009/xmlenc11#rsa-oaep', 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p']);
    // Schema order: KeyDescriptor before SingleLogoutService.
    const children = Array.from({ length: sp.childNodes.length }, (_, i) => sp.childNodes[i]).filter((n) => n?.nodeType === 1).map((n) => n?.localName);
    assert.deepEqual(children.slice(0, 3), ['KeyDescriptor', 'KeyDescriptor', 'SingleLogoutService']);
    const legacy = spDescriptor(buildSpMetadata({ ...cfg, encryption: { ...cfg.encryption, allowLegacy: true } })).sp;
    const legacyMethods = childElements(childElements(legacy, NS.metadata, 'KeyDescriptor')[0]!, NS.metadata, 'EncryptionMethod').map((m) => m.getAttribute('Algorithm'));
    assert.ok(legacyMethods.includes('http://www.w3.org/2001/04/xmlenc#aes128-cbc') && legacyMethods.includes('http://www.w3.org/2001/04/xmlenc#rsa-1_5'));
    const off = spDescriptor(buildSpMetadata({ ...cfg, encryption: { ...cfg.encryption, mode: 'None' } })).sp;
    assert.equal(childElements(off, NS.metadata, 'KeyDescriptor').length, 0, 'None: an IdP must not encrypt to us');
  });
});

describe('buildSpMetadata with the next SP signing key', () => {
  it('publishes the current and the next signing certificate, current first', async () => {
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const { loadSpSigningKey } = await import('../../../src/saml/sign.ts');
    const [current, next] = await Promise.all(['sign-current', 'sign-next'].map((commonName) => generateSigningIdentity({ commonName })));
    const load = (k: { keyPem: string; certPem: string }) => {
      const l = loadSpSigningKey(k.keyPem, k.certPem);
      assert.ok(l.ok);
      return l.signing;
    };
    const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    const { sp } = spDescriptor(buildSpMetadata(makeConfig([], { spSigning: load(current!), spSigningNext: load(next!), signAuthnRequests: true })));
    const signing = childElements(sp, NS.metadata, 'KeyDescriptor').filter((d) => d.getAttribute('use') === 'signing');
    assert.deepEqual(signing.map((d) => d.getElementsByTagNameNS(NS.dsig, 'X509Certificate')[0]?.textContent), [body(current!.certPem), body(next!.certPem)]);
  });
});
