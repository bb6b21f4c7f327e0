// verifyEnvelopedSignature against xml-crypto's own SignedXml.checkSignature:
// the canonical content we return must be byte-identical to what
// getSignedReferences() returns, including with InclusiveNamespaces.
import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { canonicalise } from '../../../src/saml/c14n.ts';
import type { Element } from '../../../src/saml/xml.ts';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { C14N_EXC, DIGEST, SIG, TRANSFORM_ENVELOPED } from '../../../src/saml/algorithms.ts';
import { verifyEnvelopedSignature } from '../../../src/saml/signature.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import { NS, parseXmlStrict } from '../../../src/saml/xml.ts';
import { assertAccepted, b64, certificatesOf, input, makeConfig, makeResponseXml, signingIdentity } from '../../support/saml-fixtures.ts';

let idp: SigningIdentity;
beforeAll(async () => {
  idp = await signingIdentity();
});

/** xml-crypto over its own xmldom parse: the Signature that is a child of the element with this ID. */
function xmlCryptoSignedReference(xml: string, elementId: string): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const owner = Array.from(doc.getElementsByTagName('*')).find((e) => e.getAttribute('ID') === elementId);
  const signature = owner && Array.from(owner.childNodes).find((n) => n.nodeType === 1 && (n as unknown as Element).localName === 'Signature');
  assert.ok(signature, `no Signature under ${elementId}`);
  const sx = new SignedXml({ publicCert: idp.certPem });
  sx.loadSignature(signature as unknown as Parameters<SignedXml["loadSignature"]>[0]);
  assert.equal(sx.checkSignature(xml), true);
  const refs = sx.getSignedReferences();
  assert.equal(refs.length, 1);
  return refs[0] as string;
}

function compare(xml: string): void {
  const root = parseXmlStrict(xml).documentElement as Element;
  const assertion = root.getElementsByTagNameNS(NS.assertion, 'Assertion')[0] as Element;
  for (const el of [root, assertion]) {
    const ours = verifyEnvelopedSignature(el, certificatesOf(idp), false);
    assert.equal(ours.status, 'valid', JSON.stringify(ours));
    if (ours.status !== 'valid') return;
    assert.equal(ours.signedXml, xmlCryptoSignedReference(xml, el.getAttribute('ID') ?? ''));
  }
}

describe('verifyEnvelopedSignature', () => {
  it('returns exactly what xml-crypto getSignedReferences() returns', () => {
    compare(makeResponseXml(idp));
  });

  it('honours InclusiveNamespaces PrefixList declared on an ancestor', async () => {
    const assertionID = '_incl';
    const unsigned =
      `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_r" Version="2.0" IssueInstant="2020-01-01T00:00:00Z">` +
      `<saml:Issuer>https://idp.example.test/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      `<saml:Assertion ID="${assertionID}" Version="2.0" IssueInstant="2020-01-01T00:00:00Z"><saml:Issuer>https://idp.example.test/metadata</saml:Issuer>` +
      `<saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue xsi:type="xs:string">a@example.com</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` +
      `</saml:Assertion></samlp:Response>`;
    const signer = new SignedXml({ privateKey: idp.keyPem, signatureAlgorithm: SIG.rsaSha256, canonicalizationAlgorithm: C14N_EXC, inclusiveNamespacesPrefixList: 'xs' });
    signer.addReference({ xpath: `//*[@ID='${assertionID}']`, transforms: [TRANSFORM_ENVELOPED, C14N_EXC], digestAlgorithm: DIGEST.sha256, inclusiveNamespacesPrefixList: ['xs', 'xsi'] });
    signer.computeSignature(unsigned, { prefix: 'ds', location: { reference: `//*[@ID='${assertionID}']/*[local-name(.)='Issuer']`, action: 'after' } });
    const xml = signer.getSignedXml();
    assert.match(xml, /PrefixList="xs xsi"/);
    const root = parseXmlStrict(xml).documentElement as Element;
    const assertion = root.getElementsByTagNameNS(NS.assertion, 'Assertion')[0] as Element;
    const ours = verifyEnvelopedSignature(assertion, certificatesOf(idp), false);
    assert.equal(ours.status, 'valid');
    assert.equal(ours.status === 'valid' && ours.signedXml, xmlCryptoSignedReference(xml, assertionID));
    assert.match(ours.status === 'valid' ? ours.signedXml : '', /xmlns:xs="http:\/\/www.w3.org\/2001\/XMLSchema"/);
    // The document is left as it was.
    assert.equal(canonicalise(root), canonicalise(parseXmlStrict(xml).documentElement as Element));
  });

  it('leaves the parsed document unchanged', () => {
    const xml = makeResponseXml(idp);
    const root = parseXmlStrict(xml).documentElement as Element;
    const before = canonicalise(root);
    assert.equal(verifyEnvelopedSignature(root, certificatesOf(idp), false).status, 'valid');
    assert.equal(canonicalise(root), before);
    assert.match(before, /<ds:Signature/);
  });

  it('reports absent when there is no signature', () => {
    const root = parseXmlStrict(makeResponseXml(idp, { signResponse: false })).documentElement as Element;
    assert.deepEqual(verifyEnvelopedSignature(root, certificatesOf(idp), false), { status: 'absent' });
  });

  it('refuses two signatures on one element', async () => {
    const xml = makeResponseXml(idp, { signResponse: false }).replace(/(<ds:Signature[\s\S]*?<\/ds:Signature>)/, '$1$1');
    const r = await validateResponse(makeConfig(certificatesOf(idp)), input(b64(xml)));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'SignatureInvalid');
  });

  it('validates the whole default response end to end', async () => {
    assertAccepted(await validateResponse(makeConfig(certificatesOf(idp)), input(b64(makeResponseXml(idp)))));
  });
});
