// readIdpMetadata: what an IdP metadata document gives a connector, and every
// way a document is refused (reason codes), including the cases where samlify
// alone would lose an IdP's announced next signing key.

import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { SignedXml } from 'xml-crypto';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { parseCertificates } from '../../../src/saml/certificates.ts';
import { parseXsDuration, readIdpMetadata } from '../../../src/saml/idp-metadata.ts';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
let current: SigningIdentity;
let next: SigningIdentity;
let signer: SigningIdentity;
let stranger: SigningIdentity;

beforeAll(async () => {
  const make = (commonName: string) => generateSigningIdentity({ commonName });
  [current, next, signer, stranger] = await Promise.all([make('idp-current'), make('idp-next'), make('federation-signer'), make('stranger')]);
});

const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
const kd = (use: string | null, id: SigningIdentity) =>
  `<md:KeyDescriptor${use ? ` use="${use}"` : ''}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body(id.certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;

function entity(entityID: string, o: { keys?: string; attrs?: string; sso?: string; ns?: boolean } = {}): string {
  return `<md:EntityDescriptor${o.ns === false ? '' : ` xmlns:md="${MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`} ID="_e${Math.abs(hash(entityID))}" entityID="${entityID}"${o.attrs ?? ''}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ${o.keys ?? kd('signing', current)}
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    ${o.sso ?? '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso-post"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>'}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

/** Signs the root (enveloped, exc-c14n, RSA-SHA256, Reference to its ID) as a federation does; ds:Signature first child. */
function sign(xml: string, by: SigningIdentity): string {
  const s = new SignedXml({ privateKey: by.keyPem, publicCert: by.certPem, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#', idAttribute: 'ID' });
  s.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
  s.computeSignature(xml, { prefix: 'ds', location: { reference: '/*', action: 'prepend' } });
  return s.getSignedXml();
}

const certsOf = (id: SigningIdentity) => parseCertificates(id.certPem, 'test');
const now = new Date();

describe('readIdpMetadata', () => {
  it('reads entityID, SSO (HTTP-Redirect preferred), SLO, NameID formats and the signing certificate', () => {
    const r = readIdpMetadata(entity('https://idp.example.test/metadata'), { source: 'test', now });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.metadata.entityID, 'https://idp.example.test/metadata');
    assert.deepEqual(r.metadata.sso, { url: 'https://idp.example.test/sso', binding: 'HTTPRedirect' });
    assert.deepEqual(r.metadata.slo, { url: 'https://idp.example.test/slo', binding: 'HTTPPost' });
    assert.deepEqual(r.metadata.nameIDFormats, ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent']);
    assert.deepEqual(r.metadata.certificates.map((c) => c.fingerprint), certsOf(current).map((c) => c.fingerprint));
    assert.equal(r.metadata.signedBy, undefined);
  });

  it("keeps every signing certificate: an IdP's next key beside the current one, with or without use (where samlify returns 1 of 2 and 0 of 2)", () => {
    const fp = (id: SigningIdentity) => certsOf(id)[0]!.fingerprint;
    for (const keys of [kd('signing', current) + kd('signing', next), kd('signing', current) + kd(null, next), kd(null, current) + kd(null, next)]) {
      const r = readIdpMetadata(entity('https://idp.example.test/metadata', { keys }), { source: 'test', now });
      assert.ok(r.ok);
      assert.deepEqual(r.metadata.certificates.map((c) => c.fingerprint), [fp(current), fp(next)]);
    }
    const enc = readIdpMetadata(entity('https://idp.example.test/metadata', { keys: kd('signing', current) + kd('encryption', next) }), { source: 'test', now });
    assert.ok(enc.ok);
    assert.deepEqual(enc.metadata.certificates.map((c) => c.fingerprint), [fp(current)], 'an encryption key is not trusted for signatures');
  });

  it('picks the named entity from an aggregate, and refuses an aggregate of several IdPs without a name', () => {
    const agg = `<md:EntitiesDescriptor xmlns:md="${MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_agg" cacheDuration="PT6H">${entity('https://a.example.test/idp', { ns: false })}${entity('https://b.example.test/idp', { ns: false, keys: kd('signing', next) })}</md:EntitiesDescriptor>`;
    const b = readIdpMetadata(agg, { source: 'test', now, entityID: 'https://b.example.test/idp' });
    assert.ok(b.ok, JSON.stringify(b));
    assert.equal(b.metadata.entityID, 'https://b.example.test/idp');
    assert.equal(b.metadata.certificates[0]!.fingerprint, certsOf(next)[0]!.fingerprint);
    assert.equal(b.metadata.cacheDurationMs, 6 * 3600 * 1000);
    const none = readIdpMetadata(agg, { source: 'test', now });
    assert.equal(!none.ok && none.reason, 'EntityNotFound');
    const missing = readIdpMetadata(agg, { source: 'test', now, entityID: 'https://c.example.test/idp' });
    assert.equal(!missing.ok && missing.reason, 'EntityNotFound');
  });

  it('a signed document is accepted only with a signature by a named signer, and read from what was signed', () => {
    const signed = sign(entity('https://idp.example.test/metadata'), signer);
    const ok = readIdpMetadata(signed, { source: 'test', now, signingCertificates: certsOf(signer) });
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(ok.metadata.signedBy, certsOf(signer)[0]!.fingerprint);
    const foreign = readIdpMetadata(signed, { source: 'test', now, signingCertificates: certsOf(stranger) });
    assert.equal(!foreign.ok && foreign.reason, 'MetadataSignatureInvalid');
    const unsigned = readIdpMetadata(entity('https://idp.example.test/metadata'), { source: 'test', now, signingCertificates: certsOf(signer) });
    assert.equal(!unsigned.ok && unsigned.reason, 'MetadataSignatureMissing');
    // An attacker swaps the IdP's certificate in a signed document: the digest no longer matches.
    const swapped = signed.replace(body(current.certPem), body(stranger.certPem));
    assert.notEqual(swapped, signed);
    const tampered = readIdpMetadata(swapped, { source: 'test', now, signingCertificates: certsOf(signer) });
    assert.equal(!tampered.ok && tampered.reason, 'MetadataSignatureInvalid');
    // And moves the SSO endpoint.
    const moved = readIdpMetadata(signed.replace('https://idp.example.test/sso"', 'https://evil.example.test/sso"'), { source: 'test', now, signingCertificates: certsOf(signer) });
    assert.equal(!moved.ok && moved.reason, 'MetadataSignatureInvalid');
  });

  it('refuses by name: expired validUntil, DOCTYPE, oversized, not XML, not metadata, no SSO endpoint, no signing certificate, an invalid certificate', () => {
    const cases: Array<[string, string, string]> = [
      ['expired', entity('https://idp.example.test/metadata', { attrs: ' validUntil="2001-01-01T00:00:00Z"' }), 'MetadataExpired'],
      ['DOCTYPE', `<!DOCTYPE x [<!ENTITY e "x">]>${entity('https://idp.example.test/metadata')}`, 'DoctypeForbidden'],
      ['oversized', entity('https://idp.example.test/metadata').replace('</md:EntityDescriptor>', `<!-- ${'x'.repeat(1024 * 1024)} --></md:EntityDescriptor>`), 'MetadataTooLarge'],
      ['not XML', '<md:EntityDescriptor', 'MetadataInvalid'],
      ['not metadata', '<html><body>login</body></html>', 'MetadataInvalid'],
      ['no SSO', entity('https://idp.example.test/metadata', { sso: '' }), 'NoSingleSignOnService'],
      ['SSO on http off loopback', entity('https://idp.example.test/metadata', { sso: '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://idp.example.test/sso"/>' }), 'NoSingleSignOnService'],
      ['no signing certificate', entity('https://idp.example.test/metadata', { keys: kd('encryption', current) }), 'NoSigningCertificate'],
      ['an invalid certificate', entity('https://idp.example.test/metadata', { keys: '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>' }), 'MetadataInvalid'],
    ];
    for (const [what, xml, reason] of cases) {
      const r = readIdpMetadata(xml, { source: 'test', now });
      assert.equal(r.ok ? 'accepted' : r.reason, reason, what);
    }
    const future = readIdpMetadata(entity('https://idp.example.test/metadata', { attrs: ' validUntil="2099-01-01T00:00:00Z"' }), { source: 'test', now });
    assert.equal(future.ok && future.metadata.validUntil, Date.parse('2099-01-01T00:00:00Z'));
  });

  it('reads xs:duration as cacheDuration gives it', () => {
    assert.equal(parseXsDuration('PT1H'), 3_600_000);
    assert.equal(parseXsDuration('P1DT30M'), 86_400_000 + 1_800_000);
    assert.equal(parseXsDuration('PT0.5S'), 500);
    assert.equal(parseXsDuration('P'), undefined);
    assert.equal(parseXsDuration('1h'), undefined);
  });
});
