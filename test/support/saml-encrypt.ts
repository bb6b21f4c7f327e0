// XML Encryption for tests: wraps an element (an Assertion, NameID or
// Attribute) in saml:EncryptedAssertion / EncryptedID / EncryptedAttribute,
// laid out as real IdPs do:
// - keyPlacement 'keyinfo' (SimpleSAMLphp / xmlseclibs, ADFS): the
//   EncryptedKey inside EncryptedData/ds:KeyInfo;
// - keyPlacement 'sibling' (Shibboleth / OpenSAML): the EncryptedKey next to
//   EncryptedData, with its recipient certificate and a ReferenceList, and a
//   ds:RetrievalMethod in EncryptedData/KeyInfo pointing at it.
// RSA-OAEP follows the specification even where Node's publicEncrypt cannot
// (it uses one hash for the OAEP digest and MGF1): a differing MGF1 hash is
// encoded by hand (RFC 8017 EME-OAEP) and sent with RSA_NO_PADDING, so tests
// can build the messages a conforming IdP sends for those combinations.
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import type { CipherGCMTypes, KeyObject } from 'node:crypto';
import { OAEP_DIGEST, XENC, XENC11_NS, XENC_NS } from '../../src/saml/xmlenc.ts';
import type { ContentCipher, KeyTransport, OaepHash } from '../../src/saml/xmlenc.ts';

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';

export interface EncryptOptions {
  /** Default aes256-gcm. */
  contentCipher?: ContentCipher;
  /** Default rsa-oaep-mgf1p. */
  keyTransport?: KeyTransport;
  /** RSA-OAEP DigestMethod (default sha1). */
  digest?: OaepHash;
  /**
   * MGF1 hash of xmlenc11#rsa-oaep (default: the digest); written as
   * xenc11:MGF unless it is the default SHA-1. rsa-oaep-mgf1p always uses SHA-1.
   */
  mgf?: OaepHash;
  /** Default 'keyinfo'. */
  keyPlacement?: 'keyinfo' | 'sibling';
  /** Default 'EncryptedAssertion'. */
  wrapper?: 'EncryptedAssertion' | 'EncryptedID' | 'EncryptedAttribute';
  /**
   * CBC only: 'xmlenc' (default) appends XML Encryption padding; 'none'
   * encrypts the plaintext bytes as they are (a multiple of 16 bytes), so a
   * test can supply its own, possibly invalid, padding.
   */
  cbcPadding?: 'xmlenc' | 'none';
  /** The content key to use instead of a random one (for tests that re-encrypt). */
  contentKey?: Buffer;
}

const CIPHERS: Record<ContentCipher, { uri: string; node: string; keyBytes: number; gcm: boolean }> = {
  'aes128-gcm': { uri: XENC.aes128gcm, node: 'aes-128-gcm', keyBytes: 16, gcm: true },
  'aes192-gcm': { uri: XENC.aes192gcm, node: 'aes-192-gcm', keyBytes: 24, gcm: true },
  'aes256-gcm': { uri: XENC.aes256gcm, node: 'aes-256-gcm', keyBytes: 32, gcm: true },
  'aes128-cbc': { uri: XENC.aes128cbc, node: 'aes-128-cbc', keyBytes: 16, gcm: false },
  'aes192-cbc': { uri: XENC.aes192cbc, node: 'aes-192-cbc', keyBytes: 24, gcm: false },
  'aes256-cbc': { uri: XENC.aes256cbc, node: 'aes-256-cbc', keyBytes: 32, gcm: false },
};

const TRANSPORT_URI: Record<KeyTransport, string> = {
  'rsa-oaep-mgf1p': XENC.rsaOaepMgf1p,
  'rsa-oaep': XENC.rsaOaep,
  'rsa-1_5': XENC.rsa15,
};

const MGF_URI: Record<OaepHash, string> = {
  sha1: XENC.mgf1sha1,
  sha256: XENC.mgf1sha256,
  sha384: XENC.mgf1sha384,
  sha512: XENC.mgf1sha512,
};

/** The AES ciphertext as XML Encryption lays it out: IV first, then (GCM) the 16-byte tag last. */
export function encryptContent(contentCipher: ContentCipher, key: Buffer, plaintext: Buffer, cbcPadding: 'xmlenc' | 'none' = 'xmlenc'): Buffer {
  const c = CIPHERS[contentCipher];
  if (c.gcm) {
    const iv = randomBytes(12);
    const cipher = createCipheriv(c.node as CipherGCMTypes, key, iv, { authTagLength: 16 });
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }
  const iv = randomBytes(16);
  let padded = plaintext;
  if (cbcPadding === 'xmlenc') {
    // XML Encryption padding: arbitrary bytes, the last one the pad length (1..16).
    const n = 16 - (plaintext.length % 16);
    padded = Buffer.concat([plaintext, randomBytes(n - 1), Buffer.from([n])]);
  }
  const cipher = createCipheriv(c.node, key, iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(padded), cipher.final()]);
}

function mgf1(seed: Buffer, length: number, hash: OaepHash): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  for (let counter = 0; total < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/**
 * RSAES-OAEP encryption done by hand (RFC 8017 7.1.1, empty label) with
 * separate digest and MGF1 hashes, which Node's publicEncrypt cannot do.
 */
export function oaepEncryptByHand(publicKey: KeyObject, message: Buffer, digest: OaepHash, mgfHash: OaepHash): Buffer {
  const k = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  const lHash = createHash(digest).digest();
  const hLen = lHash.length;
  const ps = Buffer.alloc(k - message.length - 2 * hLen - 2);
  const db = Buffer.concat([lHash, ps, Buffer.from([1]), message]);
  const seed = randomBytes(hLen);
  const maskedDB = xor(db, mgf1(seed, k - hLen - 1, mgfHash));
  const maskedSeed = xor(seed, mgf1(maskedDB, hLen, mgfHash));
  const em = Buffer.concat([Buffer.from([0]), maskedSeed, maskedDB]);
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
}

/** The content key encrypted for the recipient with the given key transport. */
export function wrapKey(publicKey: KeyObject, contentKey: Buffer, keyTransport: KeyTransport, digest: OaepHash = 'sha1', mgf?: OaepHash): Buffer {
  // Node 24 still allows PKCS#1 v1.5 *encryption* (only its decryption was
  // restricted, and is allowed again with OpenSSL's implicit rejection).
  if (keyTransport === 'rsa-1_5') return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, contentKey);
  const mgfHash = keyTransport === 'rsa-oaep-mgf1p' ? 'sha1' : (mgf ?? digest);
  if (digest === mgfHash) return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: digest }, contentKey);
  return oaepEncryptByHand(publicKey, contentKey, digest, mgfHash);
}

function certBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function id(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

/** Encrypts `plaintextXml` for the holder of `recipientCertPem`'s key and returns the wrapper element's XML. */
export function encryptElementXml(plaintextXml: string | Buffer, recipientCertPem: string, opts: EncryptOptions = {}): string {
  const contentCipher = opts.contentCipher ?? 'aes256-gcm';
  const keyTransport = opts.keyTransport ?? 'rsa-oaep-mgf1p';
  const digest = opts.digest ?? 'sha1';
  const placement = opts.keyPlacement ?? 'keyinfo';
  const wrapper = opts.wrapper ?? 'EncryptedAssertion';
  const cipher = CIPHERS[contentCipher];
  const publicKey = createPublicKey(recipientCertPem);

  const contentKey = opts.contentKey ?? randomBytes(cipher.keyBytes);
  const plaintext = typeof plaintextXml === 'string' ? Buffer.from(plaintextXml, 'utf8') : plaintextXml;
  const encryptedContent = encryptContent(contentCipher, contentKey, plaintext, opts.cbcPadding).toString('base64');
  const encryptedKey = wrapKey(publicKey, contentKey, keyTransport, digest, opts.mgf).toString('base64');

  const mgf = keyTransport === 'rsa-oaep' ? (opts.mgf ?? digest) : 'sha1';
  /** EncryptedKey/EncryptionMethod; `ds` is the prefix under which the dsig namespace is in scope. */
  const keyMethod = (ds: string): string => {
    // xmlseclibs writes no DigestMethod for the SHA-1 default; OpenSAML always writes it.
    const digestEl =
      keyTransport !== 'rsa-1_5' && (digest !== 'sha1' || placement === 'sibling') ? `<${ds}:DigestMethod Algorithm="${OAEP_DIGEST[digest]}"/>` : '';
    const mgfEl = keyTransport !== 'rsa-1_5' && mgf !== 'sha1' ? `<xenc11:MGF xmlns:xenc11="${XENC11_NS}" Algorithm="${MGF_URI[mgf]}"/>` : '';
    return `<xenc:EncryptionMethod Algorithm="${TRANSPORT_URI[keyTransport]}">${digestEl}${mgfEl}</xenc:EncryptionMethod>`;
  };
  const keyCipherData = `<xenc:CipherData><xenc:CipherValue>${encryptedKey}</xenc:CipherValue></xenc:CipherData>`;
  const dataMethod = `<xenc:EncryptionMethod Algorithm="${cipher.uri}"/>`;
  const dataCipherData = `<xenc:CipherData><xenc:CipherValue>${encryptedContent}</xenc:CipherValue></xenc:CipherData>`;

  let body: string;
  if (placement === 'keyinfo') {
    // xmlseclibs (SimpleSAMLphp): xenc:EncryptedData > dsig:KeyInfo > xenc:EncryptedKey.
    body =
      `<xenc:EncryptedData xmlns:xenc="${XENC_NS}" xmlns:dsig="${DS_NS}" Type="${XENC.typeElement}">` +
      dataMethod +
      `<dsig:KeyInfo xmlns:dsig="${DS_NS}"><xenc:EncryptedKey>${keyMethod('dsig')}${keyCipherData}</xenc:EncryptedKey></dsig:KeyInfo>` +
      dataCipherData +
      `</xenc:EncryptedData>`;
  } else {
    // OpenSAML (Shibboleth IdP): EncryptedKey as a peer, referenced by RetrievalMethod.
    const dataId = id();
    const keyId = id();
    body =
      `<xenc:EncryptedData xmlns:xenc="${XENC_NS}" Id="${dataId}" Type="${XENC.typeElement}">` +
      dataMethod +
      `<ds:KeyInfo xmlns:ds="${DS_NS}"><ds:RetrievalMethod Type="${XENC.typeEncryptedKey}" URI="#${keyId}"/></ds:KeyInfo>` +
      dataCipherData +
      `</xenc:EncryptedData>` +
      `<xenc:EncryptedKey xmlns:xenc="${XENC_NS}" xmlns:ds="${DS_NS}" Id="${keyId}">` +
      keyMethod('ds') +
      `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBase64(recipientCertPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
      keyCipherData +
      `<xenc:ReferenceList><xenc:DataReference URI="#${dataId}"/></xenc:ReferenceList>` +
      `</xenc:EncryptedKey>`;
  }
  return `<saml:${wrapper} xmlns:saml="${SAML_NS}">${body}</saml:${wrapper}>`;
}
