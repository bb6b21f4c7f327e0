// XML Encryption of SAML elements: round trips for every accepted algorithm
// combination and key placement, refusals of legacy and unknown algorithms,
// and the failures that must all look alike (no decryption oracle).
import assert from 'node:assert/strict';
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { beforeAll, describe, it } from '@jest/globals';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
// Inputs are built and tampered with in xmldom's mutable DOM, then handed to
// the code under test as text parsed by its own parser (see decrypt below).
import type { Element } from '@xmldom/xmldom';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { verifyEnvelopedSignature } from '../../../src/saml/signature.ts';
import { NS, parseXmlStrict } from '../../../src/saml/xml.ts';

function childElements(parent: Element, ns: string, localName: string): Element[] {
  return Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).localName === localName && (n as Element).namespaceURI === ns);
}
function childElement(parent: Element, ns: string, localName: string): Element | undefined {
  return childElements(parent, ns, localName)[0];
}
import { MAX_CIPHER_VALUE_BASE64, OAEP_DIGEST, XENC, XENC11_NS, XENC_NS, decryptEncryptedElement } from '../../../src/saml/xmlenc.ts';
import type { ContentCipher, DecryptResult, DecryptionKey, KeyTransport, OaepHash } from '../../../src/saml/xmlenc.ts';
import { encryptElementXml, oaepEncryptByHand } from '../../support/saml-encrypt.ts';
import type { EncryptOptions } from '../../support/saml-encrypt.ts';
import { certificatesOf, makeResponseXml, signingIdentity } from '../../support/saml-fixtures.ts';

const DS = NS.dsig;
const ASSERTION =
  `<saml:Assertion xmlns:saml="${NS.assertion}" ID="_a1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">` +
  `<saml:Issuer>https://idp.example.test/metadata</saml:Issuer>` +
  `<saml:Subject><saml:NameID>alice@example.com</saml:NameID></saml:Subject>` +
  `</saml:Assertion>`;

const STRICT = { allowLegacy: false };
const LEGACY = { allowLegacy: true };

let sp: SigningIdentity;
let spOld: SigningIdentity;
let stranger: SigningIdentity;
let current: DecryptionKey;
let old: DecryptionKey;

beforeAll(async () => {
  // 2048-bit RSA identities, generated once per process by the fixtures.
  [sp, spOld, stranger] = await Promise.all([signingIdentity('sp-enc'), signingIdentity('sp-enc-old'), signingIdentity('stranger')]);
  current = { privateKey: createPrivateKey(sp.keyPem), fingerprint: 'sha256:current' };
  old = { privateKey: createPrivateKey(spOld.keyPem), fingerprint: 'sha256:old' };
});

function wrapperOf(xml: string): Element {
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement as Element;
}

function encrypt(opts: EncryptOptions = {}, plaintext: string | Buffer = ASSERTION, cert = (): string => sp.certPem): Element {
  return wrapperOf(encryptElementXml(plaintext, cert(), opts));
}

function decrypt(el: Element, policy = STRICT, keys: readonly DecryptionKey[] = [current]): DecryptResult {
  const ours = parseXmlStrict(new XMLSerializer().serializeToString(el)).documentElement;
  assert.ok(ours);
  return decryptEncryptedElement(ours, keys, policy);
}

function assertOk(r: DecryptResult): Extract<DecryptResult, { ok: true }> {
  if (!r.ok) assert.fail(`expected decryption, got ${r.reason}: ${r.detail}`);
  return r;
}

function assertFailed(r: DecryptResult, reason: 'EncryptionAlgorithmNotAllowed' | 'DecryptionFailed', detail?: RegExp): string {
  if (r.ok) assert.fail(`expected ${reason}, but it decrypted`);
  assert.equal(r.reason, reason, `expected ${reason}, got ${r.reason}: ${r.detail}`);
  if (detail) assert.match(r.detail, detail);
  return r.detail;
}

function encryptedData(wrapper: Element): Element {
  return childElement(wrapper, XENC_NS, 'EncryptedData') as Element;
}

/** The one EncryptedKey, wherever it is placed. */
function encryptedKey(wrapper: Element): Element {
  const keyInfo = childElement(encryptedData(wrapper), DS, 'KeyInfo');
  return ((keyInfo && childElement(keyInfo, XENC_NS, 'EncryptedKey')) ?? childElement(wrapper, XENC_NS, 'EncryptedKey')) as Element;
}

function cipherValue(parent: Element): Element {
  return childElement(childElement(parent, XENC_NS, 'CipherData') as Element, XENC_NS, 'CipherValue') as Element;
}

/** Rewrites the bytes of a CipherValue. */
function editCipherValue(parent: Element, edit: (b: Buffer) => Buffer): void {
  const cv = cipherValue(parent);
  cv.textContent = edit(Buffer.from(cv.textContent ?? '', 'base64')).toString('base64');
}

function flip(index: (length: number) => number): (b: Buffer) => Buffer {
  return (b) => {
    const out = Buffer.from(b);
    const i = index(out.length);
    out[i] = (out[i] ?? 0) ^ 0x01;
    return out;
  };
}

function setAlgorithm(method: Element, uri: string): void {
  method.setAttribute('Algorithm', uri);
}

const GCM: ContentCipher[] = ['aes128-gcm', 'aes192-gcm', 'aes256-gcm'];
const CBC: ContentCipher[] = ['aes128-cbc', 'aes192-cbc', 'aes256-cbc'];
const OAEP: Array<{ keyTransport: KeyTransport; digest: OaepHash }> = [
  { keyTransport: 'rsa-oaep-mgf1p', digest: 'sha1' },
  { keyTransport: 'rsa-oaep', digest: 'sha1' },
  { keyTransport: 'rsa-oaep', digest: 'sha256' },
];
const PLACEMENTS = ['keyinfo', 'sibling'] as const;

describe('round trips', () => {
  for (const contentCipher of GCM) {
    for (const { keyTransport, digest } of OAEP) {
      for (const keyPlacement of PLACEMENTS) {
        it(`${contentCipher}, ${keyTransport} with ${digest}, EncryptedKey in ${keyPlacement}`, () => {
          const r = assertOk(decrypt(encrypt({ contentCipher, keyTransport, digest, keyPlacement })));
          assert.equal(r.plaintext, ASSERTION);
          assert.equal(r.element.localName, 'Assertion');
          assert.equal(r.element.namespaceURI, NS.assertion);
          assert.equal(r.keyTransport, keyTransport);
          assert.equal(r.contentCipher, contentCipher);
          assert.equal(r.key, 'sha256:current');
        });
      }
    }
  }

  for (const digest of ['sha384', 'sha512'] as const) {
    it(`xmlenc11#rsa-oaep with ${digest} and mgf1${digest}`, () => {
      const el = encrypt({ keyTransport: 'rsa-oaep', digest, keyPlacement: 'sibling' });
      const method = childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element;
      assert.equal(childElement(method, XENC11_NS, 'MGF')?.getAttribute('Algorithm'), `${XENC11_NS}mgf1${digest}`);
      assertOk(decrypt(el));
    });
  }

  it('an explicit mgf1sha1 MGF with the default digest', () => {
    const el = encrypt({ keyTransport: 'rsa-oaep' });
    const method = childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element;
    const mgf = method.ownerDocument!.createElementNS(XENC11_NS, 'xenc11:MGF');
    mgf.setAttribute('Algorithm', XENC.mgf1sha1);
    method.appendChild(mgf);
    assertOk(decrypt(el));
  });

  for (const contentCipher of CBC) {
    for (const keyPlacement of PLACEMENTS) {
      it(`legacy ${contentCipher} (RSA-OAEP key), EncryptedKey in ${keyPlacement}`, () => {
        const r = assertOk(decrypt(encrypt({ contentCipher, keyPlacement }), LEGACY));
        assert.equal(r.plaintext, ASSERTION);
        assert.equal(r.contentCipher, contentCipher);
      });
    }
  }

  for (const contentCipher of ['aes256-gcm', 'aes128-cbc'] as const) {
    it(`legacy RSA-1_5 key transport with ${contentCipher}`, () => {
      const r = assertOk(decrypt(encrypt({ contentCipher, keyTransport: 'rsa-1_5' }), LEGACY));
      assert.equal(r.plaintext, ASSERTION);
      assert.equal(r.keyTransport, 'rsa-1_5');
    });
  }

  for (const wrapper of ['EncryptedID', 'EncryptedAttribute'] as const) {
    it(`a ${wrapper}`, () => {
      const nameID = `<saml:NameID xmlns:saml="${NS.assertion}" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">u-1</saml:NameID>`;
      const el = encrypt({ wrapper, keyPlacement: 'sibling' }, nameID);
      assert.equal(el.localName, wrapper);
      assert.equal(assertOk(decrypt(el)).element.localName, 'NameID');
    });
  }

  it('a plaintext with an XML declaration and surrounding whitespace', () => {
    const plaintext = `<?xml version="1.0" encoding="UTF-8"?>\n${ASSERTION}\n`;
    assert.equal(assertOk(decrypt(encrypt({}, plaintext))).plaintext, plaintext);
  });

  it('a signed assertion from the demo IdP still verifies after decryption', async () => {
    const idp = await signingIdentity('idp');
    const response = new DOMParser().parseFromString(makeResponseXml(idp, { signResponse: false }), 'text/xml').documentElement as Element;
    const assertion = childElement(response, NS.assertion, 'Assertion') as Element;
    const el = encrypt({ keyPlacement: 'sibling', keyTransport: 'rsa-oaep', digest: 'sha256' }, new XMLSerializer().serializeToString(assertion));
    const r = assertOk(decrypt(el));
    const check = verifyEnvelopedSignature(r.element, certificatesOf(idp), false);
    assert.equal(check.status, 'valid', JSON.stringify(check));
  });

  it('the second configured key opens it (key rotation), in either order', () => {
    const el = encrypt();
    assert.equal(assertOk(decrypt(el, STRICT, [old, current])).key, 'sha256:current');
    assert.equal(assertOk(decrypt(el, STRICT, [current, old])).key, 'sha256:current');
    assert.equal(assertOk(decrypt(encrypt({}, ASSERTION, () => spOld.certPem), STRICT, [current, old])).key, 'sha256:old');
  });

  it('keys of another size or type are skipped', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const r = decrypt(encrypt(), STRICT, [
      { privateKey: small, fingerprint: 'small' },
      { privateKey: ec, fingerprint: 'ec' },
      current,
    ]);
    assert.equal(assertOk(r).key, 'sha256:current');
  });
});

describe('algorithms refused (EncryptionAlgorithmNotAllowed)', () => {
  it('AES-CBC without allowLegacy', () => {
    for (const contentCipher of CBC) assertFailed(decrypt(encrypt({ contentCipher })), 'EncryptionAlgorithmNotAllowed', /legacy/);
  });

  it('RSA-1_5 without allowLegacy', () => {
    assertFailed(decrypt(encrypt({ keyTransport: 'rsa-1_5' })), 'EncryptionAlgorithmNotAllowed', /legacy/);
  });

  it('tripledes-cbc, an unknown content algorithm, and prototype names, even with allowLegacy', () => {
    for (const uri of [XENC.tripledesCbc, 'http://example.test/rot13', '', '__proto__', 'constructor']) {
      const el = encrypt();
      setAlgorithm(childElement(encryptedData(el), XENC_NS, 'EncryptionMethod') as Element, uri);
      assertFailed(decrypt(el, LEGACY), 'EncryptionAlgorithmNotAllowed', /content encryption algorithm/);
    }
  });

  it('an unknown key transport', () => {
    for (const uri of ['http://www.w3.org/2001/04/xmlenc#kw-aes256', 'toString']) {
      const el = encrypt();
      setAlgorithm(childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element, uri);
      assertFailed(decrypt(el, LEGACY), 'EncryptionAlgorithmNotAllowed', /key transport algorithm/);
    }
  });

  it('an unknown OAEP DigestMethod (also the non-standard xmldsig#sha256) or MGF', () => {
    const el = encrypt({ keyTransport: 'rsa-oaep', digest: 'sha256' });
    const method = childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element;
    setAlgorithm(childElement(method, DS, 'DigestMethod') as Element, 'http://www.w3.org/2000/09/xmldsig#sha256');
    assertFailed(decrypt(el), 'EncryptionAlgorithmNotAllowed', /DigestMethod/);
    const el2 = encrypt({ keyTransport: 'rsa-oaep', digest: 'sha256' });
    const method2 = childElement(encryptedKey(el2), XENC_NS, 'EncryptionMethod') as Element;
    setAlgorithm(childElement(method2, XENC11_NS, 'MGF') as Element, `${XENC11_NS}mgf1md5`);
    assertFailed(decrypt(el2), 'EncryptionAlgorithmNotAllowed', /MGF/);
  });

  it('xmlenc11#rsa-oaep whose MGF hash differs from the digest', () => {
    assertFailed(decrypt(encrypt({ keyTransport: 'rsa-oaep', digest: 'sha1', mgf: 'sha256' })), 'EncryptionAlgorithmNotAllowed', /MGF1-SHA256 and DigestMethod SHA1/);
    // SHA-256 digest with no MGF element: MGF1 with SHA-1 is the default.
    const el = encrypt({ keyTransport: 'rsa-oaep', digest: 'sha256', mgf: 'sha1' });
    assert.equal(childElements(childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element, XENC11_NS, 'MGF').length, 0);
    assertFailed(decrypt(el), 'EncryptionAlgorithmNotAllowed', /MGF1-SHA1 and DigestMethod SHA256/);
  });

  it('rsa-oaep-mgf1p with a SHA-256 digest (MGF1 stays SHA-1, which Node cannot combine)', () => {
    assertFailed(decrypt(encrypt({ keyTransport: 'rsa-oaep-mgf1p', digest: 'sha256' })), 'EncryptionAlgorithmNotAllowed', /MGF1-SHA1 and DigestMethod SHA256/);
  });

  it('rsa-oaep-mgf1p with an MGF element other than mgf1sha1', () => {
    const el = encrypt();
    const method = childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element;
    const mgf = method.ownerDocument!.createElementNS(XENC11_NS, 'xenc11:MGF');
    mgf.setAttribute('Algorithm', XENC.mgf1sha256);
    method.appendChild(mgf);
    assertFailed(decrypt(el), 'EncryptionAlgorithmNotAllowed', /fixes MGF1 to SHA-1/);
  });

  it('a non-empty OAEPparams label; an empty one is the default', () => {
    for (const [value, ok] of [['', true], ['AQID', false]] as const) {
      const el = encrypt();
      const method = childElement(encryptedKey(el), XENC_NS, 'EncryptionMethod') as Element;
      const params = method.ownerDocument!.createElementNS(XENC_NS, 'xenc:OAEPparams');
      params.textContent = value;
      method.appendChild(params);
      if (ok) assertOk(decrypt(el));
      else assertFailed(decrypt(el), 'EncryptionAlgorithmNotAllowed', /OAEPparams/);
    }
  });
});

describe('decryption failures (DecryptionFailed)', () => {
  it('encrypted to a key we do not hold', () => {
    assertFailed(decrypt(encrypt({}, ASSERTION, () => stranger.certPem), STRICT, [current, old]), 'DecryptionFailed', /sha256:current: rsa-oaep-mgf1p did not yield/);
  });

  it('one flipped bit in the GCM ciphertext, in the tag, in the IV', () => {
    const ciphertext = (n: number): number => 12 + Math.floor((n - 28) / 2);
    const tag = (n: number): number => n - 1;
    const iv = (): number => 0;
    for (const index of [ciphertext, tag, iv]) {
      const el = encrypt();
      editCipherValue(encryptedData(el), flip(index));
      assertFailed(decrypt(el), 'DecryptionFailed', /AES-GCM authentication failed/);
    }
  });

  it('one flipped bit in the encrypted key (OAEP and, with legacy, RSA-1_5)', () => {
    for (const [keyTransport, policy] of [['rsa-oaep-mgf1p', STRICT], ['rsa-oaep', STRICT], ['rsa-1_5', LEGACY]] as const) {
      const el = encrypt({ keyTransport });
      editCipherValue(encryptedKey(el), flip((n) => n - 1));
      assertFailed(decrypt(el, policy), 'DecryptionFailed', /did not yield|AES-GCM/);
    }
  });

  it('a bad CBC padding (pad length 0 or 17)', () => {
    for (const last of [0, 17]) {
      const plaintext = Buffer.concat([Buffer.from(ASSERTION), Buffer.alloc(32 - (Buffer.byteLength(ASSERTION) % 16) - 1), Buffer.from([last])]);
      assert.equal(plaintext.length % 16, 0);
      const el = encrypt({ contentCipher: 'aes256-cbc', cbcPadding: 'none' }, plaintext);
      assertFailed(decrypt(el, LEGACY), 'DecryptionFailed', /AES-CBC padding is invalid/);
    }
    // and a valid hand-made one with arbitrary pad bytes is accepted
    const n = 16 - (Buffer.byteLength(ASSERTION) % 16);
    const ok = Buffer.concat([Buffer.from(ASSERTION), Buffer.alloc(n - 1, 0xee), Buffer.from([n])]);
    assert.equal(assertOk(decrypt(encrypt({ contentCipher: 'aes256-cbc', cbcPadding: 'none' }, ok), LEGACY)).plaintext, ASSERTION);
  });

  it('a plaintext with a DOCTYPE', () => {
    const plaintext = `<!DOCTYPE a [<!ENTITY x "y">]><saml:Assertion xmlns:saml="${NS.assertion}">&x;</saml:Assertion>`;
    assertFailed(decrypt(encrypt({}, plaintext)), 'DecryptionFailed', /DOCTYPE/);
  });

  it('a plaintext that is not XML, not UTF-8, not one element, or uses an undeclared prefix', () => {
    const cases: Array<[string | Buffer, RegExp]> = [
      ['not xml at all', /not well-formed/],
      [Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e]), /not UTF-8/],
      [`${ASSERTION}${ASSERTION}`, /not well-formed/],
      [`${ASSERTION}<?pi x?>`, /not exactly one element/],
      [`<!-- c -->${ASSERTION}`, /not exactly one element/],
      ['<saml:Assertion ID="_a"/>', /not well-formed/],
      ['', /not well-formed|no element/],
    ];
    for (const [plaintext, detail] of cases) assertFailed(decrypt(encrypt({}, plaintext)), 'DecryptionFailed', detail);
  });

  it('two EncryptedKeys (KeyInfo and sibling, or two in KeyInfo), or none', () => {
    const el = encrypt({ keyPlacement: 'keyinfo' });
    el.appendChild(encryptedKey(el).cloneNode(true));
    assertFailed(decrypt(el), 'DecryptionFailed', /2 EncryptedKey elements/);

    const el2 = encrypt({ keyPlacement: 'keyinfo' });
    const key2 = encryptedKey(el2);
    key2.parentNode?.appendChild(key2.cloneNode(true));
    assertFailed(decrypt(el2), 'DecryptionFailed', /2 EncryptedKey elements/);

    const el3 = encrypt({ keyPlacement: 'sibling' });
    el3.removeChild(encryptedKey(el3));
    assertFailed(decrypt(el3), 'DecryptionFailed', /no EncryptedKey/);

    const el4 = encrypt({ keyPlacement: 'keyinfo' });
    const key4 = encryptedKey(el4);
    key4.parentNode?.removeChild(key4);
    assertFailed(decrypt(el4), 'DecryptionFailed', /no EncryptedKey/);
  });

  it('a RetrievalMethod that points elsewhere, or is of another Type', () => {
    const el = encrypt({ keyPlacement: 'sibling' });
    const retrieval = childElement(childElement(encryptedData(el), DS, 'KeyInfo') as Element, DS, 'RetrievalMethod') as Element;
    retrieval.setAttribute('URI', 'https://attacker.example.test/key.xml');
    assertFailed(decrypt(el), 'DecryptionFailed', /RetrievalMethod does not point/);
    const el2 = encrypt({ keyPlacement: 'sibling' });
    const retrieval2 = childElement(childElement(encryptedData(el2), DS, 'KeyInfo') as Element, DS, 'RetrievalMethod') as Element;
    retrieval2.setAttribute('Type', 'http://www.w3.org/2000/09/xmldsig#X509Data');
    assertFailed(decrypt(el2), 'DecryptionFailed', /RetrievalMethod Type/);
  });

  it('a CipherReference, in EncryptedData or EncryptedKey', () => {
    for (const parent of [encryptedData, encryptedKey]) {
      const el = encrypt();
      const cipherData = childElement(parent(el), XENC_NS, 'CipherData') as Element;
      const ref = cipherData.ownerDocument!.createElementNS(XENC_NS, 'xenc:CipherReference');
      ref.setAttribute('URI', 'http://169.254.169.254/latest/meta-data/');
      cipherData.removeChild(cipherValue(parent(el)));
      cipherData.appendChild(ref);
      assertFailed(decrypt(el), 'DecryptionFailed', /CipherReference/);
    }
  });

  it('an oversized or non-base64 CipherValue', () => {
    const el = encrypt();
    cipherValue(encryptedData(el)).textContent = 'A'.repeat(MAX_CIPHER_VALUE_BASE64 + 4);
    assertFailed(decrypt(el), 'DecryptionFailed', /exceeds/);
    const el2 = encrypt();
    cipherValue(encryptedData(el2)).textContent = 'AAAA*AAA';
    assertFailed(decrypt(el2), 'DecryptionFailed', /not valid base64/);
  });

  it('an encrypted key whose length is not the modulus size', () => {
    const el = encrypt();
    editCipherValue(encryptedKey(el), (b) => b.subarray(1));
    assertFailed(decrypt(el), 'DecryptionFailed', /255 bytes; no configured RSA key/);
  });

  it('a ciphertext too short for IV and tag, or not whole CBC blocks', () => {
    const el = encrypt();
    editCipherValue(encryptedData(el), (b) => b.subarray(0, 27));
    assertFailed(decrypt(el), 'DecryptionFailed', /shorter than IV and tag/);
    const el2 = encrypt({ contentCipher: 'aes128-cbc' });
    editCipherValue(encryptedData(el2), (b) => b.subarray(0, b.length - 1));
    assertFailed(decrypt(el2, LEGACY), 'DecryptionFailed', /whole AES blocks/);
  });

  it('a wrong EncryptedData Type', () => {
    const el = encrypt();
    encryptedData(el).setAttribute('Type', `${XENC_NS}Content`);
    assertFailed(decrypt(el), 'DecryptionFailed', /Type/);
  });

  it('a wrapper that is not a SAML encrypted element, or holds something else', () => {
    const response = wrapperOf(`<samlp:Response xmlns:samlp="${NS.protocol}"/>`);
    assertFailed(decrypt(response), 'DecryptionFailed', /not a SAML EncryptedAssertion/);
    const el = encrypt();
    el.appendChild(el.ownerDocument!.createElementNS(NS.assertion, 'saml:Assertion'));
    assertFailed(decrypt(el), 'DecryptionFailed', /unexpected Assertion/);
    const el2 = encrypt();
    el2.appendChild(encryptedData(el2).cloneNode(true));
    assertFailed(decrypt(el2), 'DecryptionFailed', /exactly one EncryptedData/);
  });

  it('no key, or no RSA key', () => {
    assertFailed(decrypt(encrypt(), STRICT, []), 'DecryptionFailed', /no decryption key configured/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assertFailed(decrypt(encrypt(), STRICT, [{ privateKey: ec, fingerprint: 'ec' }]), 'DecryptionFailed', /no configured RSA key/);
  });

  it('never throws, whatever it is given', () => {
    const inputs: Element[] = [
      wrapperOf(`<saml:EncryptedAssertion xmlns:saml="${NS.assertion}"/>`),
      wrapperOf(`<saml:EncryptedAssertion xmlns:saml="${NS.assertion}"><xenc:EncryptedData xmlns:xenc="${XENC_NS}"/></saml:EncryptedAssertion>`),
      wrapperOf(
        `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}"><xenc:EncryptedData xmlns:xenc="${XENC_NS}">` +
          `<xenc:EncryptionMethod Algorithm="${XENC.aes128gcm}"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>` +
          `</xenc:EncryptedData></saml:EncryptedAssertion>`,
      ),
    ];
    for (const el of inputs) assertFailed(decrypt(el), 'DecryptionFailed');
    const junkKeys = [{ privateKey: {} as never, fingerprint: 'junk' }, { privateKey: null as never, fingerprint: 'null' }];
    assertFailed(decryptEncryptedElement(parseXmlStrict(new XMLSerializer().serializeToString(encrypt())).documentElement!, junkKeys, STRICT), 'DecryptionFailed');
    assertFailed(decryptEncryptedElement(null as never, [current], STRICT), 'DecryptionFailed', /unexpected error/);
  });
});

describe('no decryption oracle', () => {
  it('wrong key, bad RSA padding, tampered ciphertext or tag, bad CBC padding and bad plaintext look the same but for detail', () => {
    const results: Array<[string, DecryptResult]> = [];
    results.push(['wrong key', decrypt(encrypt({}, ASSERTION, () => stranger.certPem))]);
    const badKey = encrypt();
    editCipherValue(encryptedKey(badKey), flip(() => 10));
    results.push(['flipped encrypted key', decrypt(badKey)]);
    const bad15 = encrypt({ keyTransport: 'rsa-1_5' });
    editCipherValue(encryptedKey(bad15), flip(() => 10));
    results.push(['flipped RSA-1_5 key', decrypt(bad15, LEGACY)]);
    const badBody = encrypt();
    editCipherValue(encryptedData(badBody), flip(() => 20));
    results.push(['tampered ciphertext', decrypt(badBody)]);
    const badTag = encrypt();
    editCipherValue(encryptedData(badTag), flip((n) => n - 1));
    results.push(['tampered tag', decrypt(badTag)]);
    const padded = Buffer.concat([Buffer.from(ASSERTION), Buffer.alloc(31 - (Buffer.byteLength(ASSERTION) % 16)), Buffer.from([0])]);
    results.push(['bad CBC padding', decrypt(encrypt({ contentCipher: 'aes128-cbc', cbcPadding: 'none' }, padded), LEGACY)]);
    results.push(['DOCTYPE plaintext', decrypt(encrypt({}, `<!DOCTYPE a><a/>`))]);
    results.push(['non-XML plaintext', decrypt(encrypt({}, 'hello'))]);

    const details = new Map<string, string>();
    for (const [what, r] of results) {
      assert.equal(r.ok, false, what);
      if (r.ok) continue;
      details.set(what, r.detail);
      assert.deepEqual({ ...r, detail: '' }, { ok: false, reason: 'DecryptionFailed', detail: '' }, what);
      assert.deepEqual(Object.keys(r).sort(), ['detail', 'ok', 'reason'], what);
    }
    // Only the admin's detail tells them apart.
    assert.match(details.get('wrong key') ?? '', /did not yield/);
    assert.match(details.get('tampered tag') ?? '', /AES-GCM authentication failed/);
    assert.match(details.get('bad CBC padding') ?? '', /padding/);
    assert.match(details.get('non-XML plaintext') ?? '', /not well-formed/);
  });

  it('Node 24 does implicit rejection for PKCS#1 v1.5: a wrong key or bad padding gives a (deterministic) random message, not an error', () => {
    const key = randomBytes(32);
    // A ciphertext that is, as a number, not below the other key's modulus is
    // a hard error (nothing secret: the modulus is public); pick one below it.
    const oldModulus = Buffer.from(String(old.privateKey.export({ format: 'jwk' }).n), 'base64url');
    let ct: Buffer;
    do ct = publicEncrypt({ key: createPublicKey(sp.certPem), padding: constants.RSA_PKCS1_PADDING }, key);
    while (Buffer.compare(ct, oldModulus) >= 0);
    assert.deepEqual(privateDecrypt({ key: current.privateKey, padding: constants.RSA_PKCS1_PADDING }, ct), key);
    const wrong = privateDecrypt({ key: old.privateKey, padding: constants.RSA_PKCS1_PADDING }, ct);
    assert.ok(Buffer.isBuffer(wrong));
    assert.notDeepEqual(wrong, key);
    assert.deepEqual(privateDecrypt({ key: old.privateKey, padding: constants.RSA_PKCS1_PADDING }, ct), wrong, 'same input, same synthetic message');
    const tampered = flip(() => 100)(ct);
    assert.ok(Buffer.isBuffer(privateDecrypt({ key: current.privateKey, padding: constants.RSA_PKCS1_PADDING }, tampered)));
  });

  it("Node's RSA-OAEP uses oaepHash for MGF1 too: it cannot read SHA-256 OAEP with MGF1-SHA-1", () => {
    const key = randomBytes(32);
    const pub = createPublicKey(sp.certPem);
    // The tests' hand-made OAEP encoder agrees with Node when the hashes are equal ...
    for (const hash of ['sha1', 'sha256', 'sha512'] as const) {
      const same = oaepEncryptByHand(pub, key, hash, hash);
      assert.deepEqual(privateDecrypt({ key: current.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, same), key);
    }
    // ... and with MGF1-SHA-1 under a SHA-256 digest Node fails with either hash.
    const mixed = oaepEncryptByHand(pub, key, 'sha256', 'sha1');
    for (const oaepHash of ['sha256', 'sha1']) {
      assert.throws(() => privateDecrypt({ key: current.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, mixed));
    }
    assert.equal(OAEP_DIGEST.sha256, 'http://www.w3.org/2001/04/xmlenc#sha256');
  });
});
