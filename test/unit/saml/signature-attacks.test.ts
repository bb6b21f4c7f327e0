// Signature wrapping, key confusion and tampering: each response here is
// built by an attacker who holds a genuinely signed response for another
// user (or their own key) and edits it.
import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import type { Document, Element } from '@xmldom/xmldom';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { isSha1Signature, signatureMethod, signingAlgorithm } from '../../../src/saml/algorithms.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import {
  assertAccepted,
  assertRejected,
  b64,
  certificatesOf,
  editXml,
  input,
  makeConfig,
  makeResponse,
  makeResponseXml,
  signingIdentity,
} from '../../support/saml-fixtures.ts';

const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

let idp: SigningIdentity;
let idp2: SigningIdentity;
let attacker: SigningIdentity;
let cfg: SamlConnectorConfig;
let lax: SamlConnectorConfig;

beforeAll(async () => {
  [idp, idp2, attacker] = await Promise.all([signingIdentity('idp'), signingIdentity('idp2'), signingIdentity('attacker')]);
  cfg = makeConfig(certificatesOf(idp));
  lax = makeConfig(certificatesOf(idp), { security: { requireSignedAssertions: false } });
});

function first(doc: Document, ns: string, name: string): Element {
  const el = doc.getElementsByTagNameNS(ns, name).item(0);
  assert.ok(el, `${name} present`);
  return el;
}

/** A copy of the signed assertion with another NameID and, unless kept, a new ID and no signature. */
function forgedCopy(doc: Document, keepId: boolean, nameID = 'mallory@example.com'): Element {
  const forged = first(doc, SAML, 'Assertion').cloneNode(true) as Element;
  if (!keepId) forged.setAttribute('ID', '_forged');
  const sig = forged.getElementsByTagNameNS(DS, 'Signature').item(0);
  if (sig && !keepId) forged.removeChild(sig);
  const nameIDEl = forged.getElementsByTagNameNS(SAML, 'NameID').item(0) as Element;
  nameIDEl.textContent = nameID;
  return forged;
}

describe('signature wrapping', () => {
  it('refuses a second, unsigned assertion injected before the signed one', async () => {
    const xml = editXml(makeResponseXml(idp, { signResponse: false }), (doc) => {
      const signed = first(doc, SAML, 'Assertion');
      signed.parentNode?.insertBefore(forgedCopy(doc, false), signed);
    });
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'AssertionCountInvalid');
  });

  it('refuses the signed assertion moved under an unsigned wrapper, a forged one in its place', async () => {
    const xml = editXml(makeResponseXml(idp, { signResponse: false }), (doc) => {
      const signed = first(doc, SAML, 'Assertion');
      const root = doc.documentElement as Element;
      const forged = forgedCopy(doc, false);
      root.replaceChild(forged, signed);
      const wrapper = doc.createElementNS(SAMLP, 'samlp:Extensions');
      wrapper.appendChild(signed);
      root.insertBefore(wrapper, forged);
      // The forged assertion points at the relocated signature's reference.
      forged.insertBefore(signed.getElementsByTagNameNS(DS, 'Signature').item(0)!.cloneNode(true), forged.firstChild!.nextSibling);
    });
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'AssertionCountInvalid');
  });

  it('refuses a forged assertion that reuses the signed ID (duplicate IDs)', async () => {
    const xml = editXml(makeResponseXml(idp, { signResponse: false }), (doc) => {
      const signed = first(doc, SAML, 'Assertion');
      const wrapper = doc.createElementNS(SAMLP, 'samlp:Extensions');
      signed.parentNode?.insertBefore(wrapper, signed);
      wrapper.appendChild(forgedCopy(doc, true));
    });
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });

  it('refuses a forged assertion carrying the original signature (same ID, original removed)', async () => {
    const xml = editXml(makeResponseXml(idp, { signResponse: false }), (doc) => {
      const signed = first(doc, SAML, 'Assertion');
      signed.parentNode?.replaceChild(forgedCopy(doc, true), signed);
    });
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });

  it('refuses a signed Response wrapped inside a forged Response (response-only signing)', async () => {
    const xml = editXml(makeResponseXml(idp, { signAssertion: false }), (doc) => {
      const original = doc.documentElement as Element;
      const forgedRoot = original.cloneNode(true) as Element;
      forgedRoot.setAttribute('ID', '_forgedResponse');
      const a = forgedRoot.getElementsByTagNameNS(SAML, 'Assertion').item(0) as Element;
      a.setAttribute('ID', '_forgedAssertion');
      (a.getElementsByTagNameNS(SAML, 'NameID').item(0) as Element).textContent = 'mallory@example.com';
      const ext = doc.createElementNS(SAMLP, 'samlp:Extensions');
      ext.appendChild(original.cloneNode(true));
      forgedRoot.insertBefore(ext, forgedRoot.getElementsByTagNameNS(SAMLP, 'Status').item(0));
      doc.replaceChild(forgedRoot, original);
    });
    const r = await validateResponse(lax, input(b64(xml)));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && ['AssertionCountInvalid', 'SignatureInvalid'].includes(r.reason), !r.ok ? r.reason : '');
  });

  it('refuses a signature whose Reference points at another element (moved signature)', async () => {
    // The Assertion's signature moved to the Response: it covers the Assertion, not its parent.
    const xml = editXml(makeResponseXml(idp, { signResponse: false }), (doc) => {
      const sig = first(doc, DS, 'Signature');
      const root = doc.documentElement as Element;
      sig.parentNode?.removeChild(sig);
      root.insertBefore(sig, first(doc, SAMLP, 'Status'));
    });
    assertRejected(await validateResponse(lax, input(b64(xml))), 'SignatureInvalid');
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'AssertionNotSigned');
  });

  it('a comment inside NameID cannot truncate the identity', async () => {
    const xml = makeResponseXml(idp, { nameID: 'alice@example.com.evil.com' }).replace(
      'alice@example.com.evil.com</saml:NameID>',
      'alice@example.com<!---->.evil.com</saml:NameID>',
    );
    assert.ok(xml.includes('<!---->'));
    const a = assertAccepted(await validateResponse(cfg, input(b64(xml))));
    assert.equal(a.identity, 'alice@example.com.evil.com');
    assert.equal(a.nameID, 'alice@example.com.evil.com');
  });

  it('a comment inside the identity attribute cannot truncate it', async () => {
    const byAttr = makeConfig(certificatesOf(idp), { userIdentityAttribute: 'mail' });
    const xml = makeResponseXml(idp, { attributes: { mail: 'bob@example.com.evil.com' } }).replace(
      'bob@example.com.evil.com</saml:AttributeValue>',
      'bob@example.com<!-- x -->.evil.com</saml:AttributeValue>',
    );
    const a = assertAccepted(await validateResponse(byAttr, input(b64(xml))));
    assert.equal(a.identity, 'bob@example.com.evil.com');
  });
});

describe('tampering and keys', () => {
  it('refuses an attribute changed after signing', async () => {
    const xml = makeResponseXml(idp, { signResponse: false }).replace('<saml:AttributeValue>devs</saml:AttributeValue>', '<saml:AttributeValue>root</saml:AttributeValue>');
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });

  it('refuses a NameID changed after signing (both signatures)', async () => {
    const xml = makeResponseXml(idp).replace('>alice@example.com</saml:NameID>', '>mallory@example.com</saml:NameID>');
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });

  it('refuses an altered Response when the Response signature is present', async () => {
    const xml = makeResponseXml(idp).replace('IssueInstant="', 'Consent="urn:x" IssueInstant="');
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });

  it('refuses an attacker key even with the attacker certificate in KeyInfo', async () => {
    const r = await validateResponse(cfg, input(makeResponse(attacker)));
    assertRejected(r, 'CertificateNotTrusted');
  });

  it('refuses an attacker key that ships the trusted certificate in KeyInfo', async () => {
    const r = await validateResponse(cfg, input(makeResponse(attacker, { keyInfoCertPem: idp.certPem })));
    assertRejected(r, 'SignatureInvalid');
  });

  it('a KeyInfo certificate that is not configured makes no difference to a valid signature', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { keyInfoCertPem: attacker.certPem }))));
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { keyInfoCertPem: null }))));
  });

  it('key rotation: with two configured certificates, a signature by the second passes', async () => {
    const both = makeConfig(certificatesOf(idp, idp2));
    const r = await validateResponse(both, input(makeResponse(idp2, { keyInfoCertPem: null })));
    assertAccepted(r);
    assert.ok(r.trail.some((e) => e.check === 'signature.assertion' && e.detail?.includes('inline[1]')));
  });

  it('a response signed by a certificate that was removed is refused', async () => {
    const rotated = makeConfig(certificatesOf(idp2));
    assertRejected(await validateResponse(rotated, input(makeResponse(idp))), 'CertificateNotTrusted');
    assertRejected(await validateResponse(rotated, input(makeResponse(idp, { keyInfoCertPem: null }))), 'SignatureInvalid');
  });

  it('no configured certificate: nothing verifies', async () => {
    assertRejected(await validateResponse(makeConfig([]), input(makeResponse(idp))), 'SignatureInvalid');
  });
});

describe('algorithms', () => {
  it('refuses SHA-1 by default', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { algorithm: 'sha1' }))), 'WeakAlgorithm');
  });

  it('accepts SHA-1 with allowSHA1', async () => {
    const sha1 = makeConfig(certificatesOf(idp), { security: { allowSHA1: true } });
    assertAccepted(await validateResponse(sha1, input(makeResponse(idp, { algorithm: 'sha1' }))));
  });

  it('accepts SHA-512', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { algorithm: 'sha512' }))));
  });

  it('refuses a SHA-1 digest under a SHA-256 signature method', async () => {
    const xml = makeResponseXml(idp, { signResponse: false }).replace(
      '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>',
      '<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>',
    );
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'WeakAlgorithm');
  });

  it('a SignatureMethod or DigestMethod named after an Object.prototype member is unsupported, not a default hash', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const method = makeResponseXml(idp, { signResponse: false }).replace(
        'SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"',
        `SignatureMethod Algorithm="${name}"`,
      );
      const r1 = await validateResponse(cfg, input(b64(method)));
      assertRejected(r1, 'SignatureInvalid');
      assert.ok(!r1.ok && r1.trail.some((e) => (e.detail ?? '').includes(`unsupported SignatureMethod ${name}`)), JSON.stringify(r1.trail));
      const digest = makeResponseXml(idp, { signResponse: false }).replace(
        'DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"',
        `DigestMethod Algorithm="${name}"`,
      );
      const r2 = await validateResponse(cfg, input(b64(digest)));
      assertRejected(r2, 'SignatureInvalid');
      assert.ok(!r2.ok && r2.trail.some((e) => (e.detail ?? '').includes(`unsupported DigestMethod ${name}`)), JSON.stringify(r2.trail));
    }
    assert.equal(signatureMethod('constructor'), undefined);
    assert.equal(isSha1Signature('__proto__'), false);
    assert.throws(() => signingAlgorithm('constructor'), /unsupported signature algorithm/);
  });

  it('refuses unexpected transforms', async () => {
    const xml = makeResponseXml(idp, { signResponse: false }).replace(
      '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
      '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"/>',
    );
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'SignatureInvalid');
  });
});
