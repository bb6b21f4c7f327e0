// W3C XML Encryption (1.0 and 1.1) decryption of the one shape SAML uses:
// a saml:EncryptedAssertion, EncryptedID or EncryptedAttribute holding one
// xenc:EncryptedData (Type Element) whose content key is RSA-encrypted in one
// xenc:EncryptedKey, either inside EncryptedData/ds:KeyInfo (SimpleSAMLphp,
// xmlseclibs, ADFS) or next to EncryptedData in the wrapper (Shibboleth,
// OpenSAML: KeyInfo then holds a ds:RetrievalMethod pointing at it).
//
// Written on node:crypto and the already parsed DOM instead of xml-encryption:
// that library does not know the XML Encryption 1.1 rsa-oaep identifier (with
// its SHA-2 digests), reports each failing step with its own error, and lets
// every step throw. Here every failure that depends on secret material (which
// RSA key, whether a padding was valid, whether the plaintext parsed) comes
// back as one identical DecryptionFailed result and takes the same path;
// which step failed is only in `detail`, for the admin log.
import { constants, createDecipheriv, privateDecrypt, randomBytes } from 'node:crypto';
import type { CipherGCMTypes, KeyObject } from 'node:crypto';
import type { Element } from './xml.ts';
import { NS, attr, childElements, elementChildren, hasDoctypeOrDeclarations, parseXmlStrict, textOf } from './xml.ts';

export const XENC_NS = 'http://www.w3.org/2001/04/xmlenc#';
export const XENC11_NS = 'http://www.w3.org/2009/xmlenc11#';

/** XML Encryption identifiers this module knows (accepted or deliberately refused). */
export const XENC = {
  typeElement: `${XENC_NS}Element`,
  typeEncryptedKey: `${XENC_NS}EncryptedKey`,
  aes128gcm: `${XENC11_NS}aes128-gcm`,
  aes192gcm: `${XENC11_NS}aes192-gcm`,
  aes256gcm: `${XENC11_NS}aes256-gcm`,
  aes128cbc: `${XENC_NS}aes128-cbc`,
  aes192cbc: `${XENC_NS}aes192-cbc`,
  aes256cbc: `${XENC_NS}aes256-cbc`,
  tripledesCbc: `${XENC_NS}tripledes-cbc`,
  rsaOaepMgf1p: `${XENC_NS}rsa-oaep-mgf1p`,
  rsaOaep: `${XENC11_NS}rsa-oaep`,
  rsa15: `${XENC_NS}rsa-1_5`,
  mgf1sha1: `${XENC11_NS}mgf1sha1`,
  mgf1sha224: `${XENC11_NS}mgf1sha224`,
  mgf1sha256: `${XENC11_NS}mgf1sha256`,
  mgf1sha384: `${XENC11_NS}mgf1sha384`,
  mgf1sha512: `${XENC11_NS}mgf1sha512`,
} as const;

/** DigestMethod identifiers for RSA-OAEP (XML Encryption 1.1, section 5.2). */
export const OAEP_DIGEST = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
  sha512: 'http://www.w3.org/2001/04/xmlenc#sha512',
} as const;

export type KeyTransport = 'rsa-oaep-mgf1p' | 'rsa-oaep' | 'rsa-1_5';
export type ContentCipher = 'aes128-gcm' | 'aes192-gcm' | 'aes256-gcm' | 'aes128-cbc' | 'aes192-cbc' | 'aes256-cbc';
export type OaepHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** One SP decryption key; several are tried in turn (key rotation). */
export interface DecryptionKey {
  /** An RSA private key; other key types never match. */
  privateKey: KeyObject;
  /** For the log and for `key` in the result, e.g. the certificate's `sha256:` fingerprint. */
  fingerprint: string;
}

export interface DecryptPolicy {
  /**
   * Also accept AES-CBC content encryption and RSA PKCS#1 v1.5 key transport.
   * Both lack integrity (CBC) or are padding-oracle prone (v1.5); enabling
   * them for one IdP exposes the same SP key to the "backwards compatibility"
   * attack (an attacker relabels a GCM / OAEP message as CBC / v1.5 to use
   * the weaker algorithm as an oracle), which the uniform failure path below
   * only mitigates. Off unless an IdP cannot do better.
   */
  allowLegacy: boolean;
}

export type DecryptReason = 'EncryptionAlgorithmNotAllowed' | 'DecryptionFailed';

/**
 * `plaintext` is the decrypted XML text exactly as it was encrypted (UTF-8
 * decoded); `element` is its single root element, parsed strictly in a
 * document of its own (no DOCTYPE, nothing but whitespace and an XML
 * declaration beside it). Which element it must be (saml:Assertion for an
 * EncryptedAssertion ...) is for the caller to check.
 *
 * `detail` says which step failed; it is for the admin log only and must
 * never reach the sender (it would be a decryption oracle).
 */
export type DecryptResult =
  | { ok: true; plaintext: string; element: Element; keyTransport: KeyTransport; contentCipher: ContentCipher; key: string }
  | { ok: false; reason: DecryptReason; detail: string };

/** Largest base64 CipherValue accepted (characters, whitespace removed): bounds memory and CPU. */
export const MAX_CIPHER_VALUE_BASE64 = 4 * 1024 * 1024;

const WRAPPERS: ReadonlySet<string> = new Set(['EncryptedAssertion', 'EncryptedID', 'EncryptedAttribute']);

interface ContentCipherInfo {
  name: ContentCipher;
  nodeCipher: string;
  keyBytes: number;
  mode: 'gcm' | 'cbc';
}

const CONTENT_CIPHERS: Readonly<Record<string, ContentCipherInfo>> = {
  [XENC.aes128gcm]: { name: 'aes128-gcm', nodeCipher: 'aes-128-gcm', keyBytes: 16, mode: 'gcm' },
  [XENC.aes192gcm]: { name: 'aes192-gcm', nodeCipher: 'aes-192-gcm', keyBytes: 24, mode: 'gcm' },
  [XENC.aes256gcm]: { name: 'aes256-gcm', nodeCipher: 'aes-256-gcm', keyBytes: 32, mode: 'gcm' },
  [XENC.aes128cbc]: { name: 'aes128-cbc', nodeCipher: 'aes-128-cbc', keyBytes: 16, mode: 'cbc' },
  [XENC.aes192cbc]: { name: 'aes192-cbc', nodeCipher: 'aes-192-cbc', keyBytes: 24, mode: 'cbc' },
  [XENC.aes256cbc]: { name: 'aes256-cbc', nodeCipher: 'aes-256-cbc', keyBytes: 32, mode: 'cbc' },
};

const KEY_TRANSPORTS: Readonly<Record<string, KeyTransport>> = {
  [XENC.rsaOaepMgf1p]: 'rsa-oaep-mgf1p',
  [XENC.rsaOaep]: 'rsa-oaep',
  [XENC.rsa15]: 'rsa-1_5',
};

const DIGEST_HASHES: Readonly<Record<string, OaepHash>> = {
  [OAEP_DIGEST.sha1]: 'sha1',
  [OAEP_DIGEST.sha256]: 'sha256',
  [OAEP_DIGEST.sha384]: 'sha384',
  [OAEP_DIGEST.sha512]: 'sha512',
};

const MGF_HASHES: Readonly<Record<string, OaepHash | 'sha224'>> = {
  [XENC.mgf1sha1]: 'sha1',
  [XENC.mgf1sha224]: 'sha224',
  [XENC.mgf1sha256]: 'sha256',
  [XENC.mgf1sha384]: 'sha384',
  [XENC.mgf1sha512]: 'sha512',
};

const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const CBC_BLOCK_BYTES = 16;

/** Own-property lookup: an Algorithm of "constructor" or "__proto__" must find nothing. */
function lookup<T>(table: Readonly<Record<string, T>>, uri: string): T | undefined {
  return Object.hasOwn(table, uri) ? table[uri] : undefined;
}

/** A refusal found while reading the structure (before any secret is used). */
class Refused extends Error {
  readonly reason: DecryptReason;
  readonly detail: string;
  constructor(reason: DecryptReason, detail: string) {
    super(detail);
    this.reason = reason;
    this.detail = detail;
  }
}

const failed = (detail: string): Refused => new Refused('DecryptionFailed', detail);
const notAllowed = (detail: string): Refused => new Refused('EncryptionAlgorithmNotAllowed', detail);

/** Exactly one child `ns:localName` of `parent`, else a refusal naming `where`. */
function onlyChild(parent: Element, ns: string, localName: string, where: string): Element {
  const all = childElements(parent, ns, localName);
  if (all.length !== 1) throw failed(`${where} must hold exactly one ${localName}, found ${all.length}`);
  return all[0] as Element;
}

/** At most one child `ns:localName` of `parent`. */
function optionalChild(parent: Element, ns: string, localName: string, where: string): Element | undefined {
  const all = childElements(parent, ns, localName);
  if (all.length > 1) throw failed(`${where} holds ${all.length} ${localName} elements`);
  return all[0];
}

/**
 * Strict base64 of a CipherValue (XML whitespace allowed between characters).
 * Bounded before decoding (defends against memory exhaustion); any character
 * outside the alphabet is refused rather than skipped, as Buffer.from would.
 */
function base64Of(el: Element, where: string): Buffer {
  const raw = textOf(el);
  if (raw.length > 2 * MAX_CIPHER_VALUE_BASE64) throw failed(`${where} CipherValue exceeds ${MAX_CIPHER_VALUE_BASE64} base64 characters`);
  const text = raw.replace(/[ \t\r\n]+/g, '');
  if (text.length > MAX_CIPHER_VALUE_BASE64) throw failed(`${where} CipherValue exceeds ${MAX_CIPHER_VALUE_BASE64} base64 characters`);
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw failed(`${where} CipherValue is not valid base64`);
  }
  return Buffer.from(text, 'base64');
}

/**
 * The CipherValue of an EncryptedData or EncryptedKey. CipherReference is
 * refused: it names a URI to fetch the ciphertext from (defends against SSRF
 * and against the message making us read anything beyond itself).
 */
function cipherValueOf(parent: Element, where: string): Buffer {
  const cipherData = onlyChild(parent, XENC_NS, 'CipherData', where);
  if (childElements(cipherData, XENC_NS, 'CipherReference').length > 0) {
    throw failed(`${where} uses CipherReference (refused: nothing is ever fetched)`);
  }
  const children = elementChildren(cipherData);
  if (children.length !== 1) throw failed(`${where} CipherData must hold exactly one CipherValue`);
  const value = onlyChild(cipherData, XENC_NS, 'CipherValue', `${where} CipherData`);
  return base64Of(value, where);
}

interface KeyTransportParams {
  name: KeyTransport;
  /** RSA-OAEP: the hash Node uses for both the label digest and MGF1. */
  oaepHash?: OaepHash;
}

/**
 * Reads the key transport algorithm and its parameters from
 * EncryptedKey/EncryptionMethod; refuses what we cannot or will not do.
 *
 * Node's privateDecrypt (and OpenSSL beneath it, as it calls it) uses the one
 * `oaepHash` for both the OAEP label digest and MGF1; it has no separate MGF1
 * hash. A message whose MGF1 hash differs from its DigestMethod therefore
 * cannot be decrypted correctly here and is refused as not allowed, rather
 * than failing later as if it had been tampered with. This covers:
 * - xmlenc11#rsa-oaep with an xenc11:MGF other than the DigestMethod's hash,
 *   including a SHA-2 DigestMethod with no MGF element (MGF1 with SHA-1 is
 *   the default);
 * - rsa-oaep-mgf1p with a SHA-2 DigestMethod: that identifier fixes MGF1 to
 *   SHA-1 whatever the DigestMethod. (xml-encryption, as used by Node IdPs,
 *   writes this combination but encrypts with MGF1-SHA-2, which conforming
 *   implementations such as Santuario or xmlsec cannot read either.)
 * .NET's EncryptedXml has the same restriction.
 */
function keyTransportOf(method: Element, policy: DecryptPolicy): KeyTransportParams {
  const uri = attr(method, 'Algorithm') ?? '';
  const name = lookup(KEY_TRANSPORTS, uri);
  if (!name) throw notAllowed(`key transport algorithm ${uri || '(none)'} is not supported`);
  if (name === 'rsa-1_5') {
    if (!policy.allowLegacy) throw notAllowed(`key transport ${uri} (RSA PKCS#1 v1.5) is allowed only with legacy algorithms enabled`);
    // DigestMethod, MGF and OAEPparams mean nothing for v1.5 and are ignored.
    return { name };
  }
  const digestEl = optionalChild(method, NS.dsig, 'DigestMethod', 'EncryptedKey EncryptionMethod');
  const digestUri = digestEl ? (attr(digestEl, 'Algorithm') ?? '') : OAEP_DIGEST.sha1;
  const digest = lookup(DIGEST_HASHES, digestUri);
  if (!digest) throw notAllowed(`RSA-OAEP DigestMethod ${digestUri || '(none)'} is not supported`);

  const mgfEl = optionalChild(method, XENC11_NS, 'MGF', 'EncryptedKey EncryptionMethod');
  const mgfUri = mgfEl ? (attr(mgfEl, 'Algorithm') ?? '') : XENC.mgf1sha1;
  const mgf = lookup(MGF_HASHES, mgfUri);
  if (!mgf) throw notAllowed(`RSA-OAEP MGF ${mgfUri || '(none)'} is not supported`);
  if (name === 'rsa-oaep-mgf1p' && mgf !== 'sha1') throw notAllowed(`${uri} fixes MGF1 to SHA-1; MGF ${mgfUri} contradicts it`);
  if (mgf !== digest) {
    throw notAllowed(
      `RSA-OAEP with MGF1-${mgf.toUpperCase()} and DigestMethod ${digest.toUpperCase()} is not supported ` +
        '(Node uses one hash for both; use equal hashes, e.g. xmlenc11#rsa-oaep with mgf1sha256 and sha256, or SHA-1 throughout)',
    );
  }

  // OAEPparams is the OAEP label; an empty one equals the default, anything
  // else is refused (no IdP in the wild sets one).
  const paramsEl = optionalChild(method, XENC_NS, 'OAEPparams', 'EncryptedKey EncryptionMethod');
  if (paramsEl && textOf(paramsEl).replace(/[ \t\r\n]+/g, '') !== '') throw notAllowed('RSA-OAEP with a non-empty OAEPparams label is not supported');
  return { name, oaepHash: digest };
}

/** The one EncryptedKey of the wrapper, from KeyInfo or as a sibling of EncryptedData. */
function encryptedKeyOf(wrapper: Element, encryptedData: Element): Element {
  const keyInfo = optionalChild(encryptedData, NS.dsig, 'KeyInfo', 'EncryptedData');
  const inner = keyInfo ? childElements(keyInfo, XENC_NS, 'EncryptedKey') : [];
  const siblings = childElements(wrapper, XENC_NS, 'EncryptedKey');
  const all = [...inner, ...siblings];
  if (all.length === 0) throw failed('no EncryptedKey (in EncryptedData/KeyInfo or beside EncryptedData)');
  if (all.length > 1) throw failed(`${all.length} EncryptedKey elements; exactly one is accepted`);
  const encryptedKey = all[0] as Element;

  // A RetrievalMethod may only point at that one EncryptedKey, by same-document
  // fragment: no other URI is ever resolved (defends against fetching and
  // against a reference that silently names some other key).
  const retrievals = keyInfo ? childElements(keyInfo, NS.dsig, 'RetrievalMethod') : [];
  if (retrievals.length > 1) throw failed(`${retrievals.length} RetrievalMethod elements in EncryptedData/KeyInfo`);
  const retrieval = retrievals[0];
  if (retrieval) {
    const type = attr(retrieval, 'Type');
    if (type !== undefined && type !== XENC.typeEncryptedKey) throw failed(`RetrievalMethod Type ${type} is not EncryptedKey`);
    const id = attr(encryptedKey, 'Id');
    if (id === undefined || id === '' || attr(retrieval, 'URI') !== `#${id}`) {
      throw failed('RetrievalMethod does not point at the EncryptedKey of this element');
    }
    if (elementChildren(retrieval).length > 0) throw failed('RetrievalMethod with Transforms is refused');
  }
  return encryptedKey;
}

/** Modulus size in bytes of an RSA private key, or undefined for any other key. */
function rsaModulusBytes(key: KeyObject): number | undefined {
  try {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') return undefined;
    const bits = key.asymmetricKeyDetails?.modulusLength;
    return bits ? Math.ceil(bits / 8) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The content key, or a fresh random key of the expected length when RSA
 * decryption fails or yields a key of the wrong length; `ok` says which, for
 * the detail only. Defends against Bleichenbacher (PKCS#1 v1.5) and Manger
 * (OAEP) oracles: the caller goes on to AES decryption either way, so a bad
 * padding is indistinguishable, in result and in path, from a wrong key.
 *
 * PKCS#1 v1.5: Node 24 with OpenSSL 3.x does implicit rejection (RFC draft
 * "Implicit Rejection for RSA PKCS#1 v1.5"): a wrong key or bad padding
 * returns a deterministic pseudo-random message instead of throwing. That
 * usually has the wrong length and becomes a random key here; if its length
 * happens to fit, AES decryption fails on it just the same. Should a Node
 * build refuse PKCS#1 v1.5 decryption outright (it throws), the key is
 * random too.
 */
function unwrapContentKey(key: KeyObject, params: KeyTransportParams, wrapped: Buffer, keyBytes: number): { cek: Buffer; ok: boolean } {
  let cek: Buffer | undefined;
  try {
    cek =
      params.name === 'rsa-1_5'
        ? privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, wrapped)
        : privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: params.oaepHash ?? 'sha1' }, wrapped);
  } catch {
    cek = undefined;
  }
  const random = randomBytes(keyBytes);
  if (cek !== undefined && cek.length === keyBytes) return { cek, ok: true };
  return { cek: random, ok: false };
}

/**
 * AES decryption of `data` (IV first). GCM: the tag is the last 16 bytes and
 * is checked before any plaintext is used. CBC (legacy): XML Encryption
 * padding, whose last byte is the pad length 1..16 and whose other pad bytes
 * are arbitrary, removed by hand (OpenSSL's PKCS#7 check would refuse valid
 * XML Encryption padding). Returns the failing step instead of throwing.
 */
function decryptContent(cipher: ContentCipherInfo, cek: Buffer, data: Buffer): Buffer | string {
  try {
    if (cipher.mode === 'gcm') {
      const iv = data.subarray(0, GCM_IV_BYTES);
      const tag = data.subarray(data.length - GCM_TAG_BYTES);
      const body = data.subarray(GCM_IV_BYTES, data.length - GCM_TAG_BYTES);
      const decipher = createDecipheriv(cipher.nodeCipher as CipherGCMTypes, cek, iv, { authTagLength: GCM_TAG_BYTES });
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    }
    const iv = data.subarray(0, CBC_BLOCK_BYTES);
    const body = data.subarray(CBC_BLOCK_BYTES);
    const decipher = createDecipheriv(cipher.nodeCipher, cek, iv);
    decipher.setAutoPadding(false);
    const padded = Buffer.concat([decipher.update(body), decipher.final()]);
    const pad = padded[padded.length - 1] ?? 0;
    if (pad < 1 || pad > CBC_BLOCK_BYTES) return 'AES-CBC padding is invalid';
    return padded.subarray(0, padded.length - pad);
  } catch {
    return cipher.mode === 'gcm' ? 'AES-GCM authentication failed' : 'AES-CBC decryption failed';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The plaintext as text and its single element, or the failing step. Parsed
 * with the strict parser, refusing DOCTYPE and markup declarations (defends
 * against entity expansion and XXE in content the signature check has not
 * seen yet); top level may hold only whitespace and an XML declaration
 * besides the one element (the plaintext of Type Element is one element).
 * A prefix declared only by an ancestor of the encrypted element is not
 * visible here, so such a plaintext fails to parse; every IdP we know (and
 * node-saml's reader) encrypts a self-contained element.
 */
function readPlaintext(bytes: Buffer): { plaintext: string; element: Element } | string {
  let plaintext: string;
  try {
    plaintext = utf8.decode(bytes);
  } catch {
    return 'plaintext is not UTF-8';
  }
  if (hasDoctypeOrDeclarations(plaintext)) return 'plaintext has a DOCTYPE or markup declarations';
  let element: Element | null;
  try {
    const doc = parseXmlStrict(plaintext);
    element = doc.documentElement;
    for (let n = doc.firstChild; n != null; n = n.nextSibling) {
      if (n === element) continue;
      const whitespace = n.nodeType === 3 && /^[ \t\r\n]*$/.test(n.nodeValue ?? '');
      const declaration = n.nodeType === 7 && n.nodeName === 'xml' && n === doc.firstChild;
      if (!whitespace && !declaration) return 'plaintext is not exactly one element';
    }
  } catch (err) {
    return `plaintext is not well-formed XML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  if (!element) return 'plaintext has no element';
  return { plaintext, element };
}

function decrypt(wrapper: Element, keys: readonly DecryptionKey[], policy: DecryptPolicy): DecryptResult {
  if (wrapper.namespaceURI !== NS.assertion || !WRAPPERS.has(wrapper.localName ?? '')) {
    throw failed(`${wrapper.localName ?? '(unnamed)'} is not a SAML EncryptedAssertion, EncryptedID or EncryptedAttribute`);
  }
  const where = wrapper.localName ?? '';
  // SAML EncryptedElementType: one EncryptedData, then EncryptedKey elements; nothing else.
  const encryptedData = onlyChild(wrapper, XENC_NS, 'EncryptedData', where);
  for (const child of elementChildren(wrapper)) {
    if (child.namespaceURI !== XENC_NS || (child.localName !== 'EncryptedData' && child.localName !== 'EncryptedKey')) {
      throw failed(`unexpected ${child.localName} in ${where}`);
    }
  }
  const type = attr(encryptedData, 'Type');
  if (type !== undefined && type !== XENC.typeElement) throw failed(`EncryptedData Type ${type} is not ${XENC.typeElement}`);

  // Algorithms first: a refused algorithm is reported as such before any key is used.
  const dataMethod = onlyChild(encryptedData, XENC_NS, 'EncryptionMethod', 'EncryptedData');
  const dataUri = attr(dataMethod, 'Algorithm') ?? '';
  const cipher = lookup(CONTENT_CIPHERS, dataUri);
  if (!cipher) throw notAllowed(`content encryption algorithm ${dataUri || '(none)'} is not supported`);
  if (cipher.mode === 'cbc' && !policy.allowLegacy) {
    throw notAllowed(`content encryption ${dataUri} (AES-CBC, no integrity) is allowed only with legacy algorithms enabled`);
  }
  const encryptedKey = encryptedKeyOf(wrapper, encryptedData);
  const transport = keyTransportOf(onlyChild(encryptedKey, XENC_NS, 'EncryptionMethod', 'EncryptedKey'), policy);

  const wrappedKey = cipherValueOf(encryptedKey, 'EncryptedKey');
  const data = cipherValueOf(encryptedData, 'EncryptedData');
  if (cipher.mode === 'gcm' && data.length < GCM_IV_BYTES + GCM_TAG_BYTES) throw failed('EncryptedData is shorter than IV and tag');
  if (cipher.mode === 'cbc' && (data.length < 2 * CBC_BLOCK_BYTES || data.length % CBC_BLOCK_BYTES !== 0)) {
    throw failed('EncryptedData is not IV plus whole AES blocks');
  }

  // Only RSA keys whose modulus size equals the encrypted key's length can
  // have produced it (the sizes of our keys are public: no oracle here).
  if (keys.length === 0) throw failed('no decryption key configured');
  const candidates = keys.filter((k) => rsaModulusBytes(k.privateKey) === wrappedKey.length);
  if (candidates.length === 0) {
    throw failed(`encrypted key is ${wrappedKey.length} bytes; no configured RSA key has a modulus of that size`);
  }

  // Key rotation: each key in turn, every one through RSA, AES and the
  // plaintext check, whatever failed before; the first that gets through wins.
  const steps: string[] = [];
  for (const key of candidates) {
    const { cek, ok } = unwrapContentKey(key.privateKey, transport, wrappedKey, cipher.keyBytes);
    const content = decryptContent(cipher, cek, data);
    const read = typeof content === 'string' ? content : readPlaintext(content);
    if (ok && typeof read !== 'string') {
      return { ok: true, ...read, keyTransport: transport.name, contentCipher: cipher.name, key: key.fingerprint };
    }
    const step = !ok ? `${transport.name} did not yield a ${cipher.keyBytes}-byte content key` : (read as string);
    steps.push(`${key.fingerprint}: ${step}`);
  }
  throw failed(`no configured key decrypts it (${steps.join('; ')})`);
}

/**
 * Decrypts a saml:EncryptedAssertion, EncryptedID or EncryptedAttribute with
 * the first of `keys` that opens it. Never throws.
 *
 * - EncryptionAlgorithmNotAllowed: the content or key transport algorithm (or
 *   its parameters) is unknown, cannot be done correctly here, or is legacy
 *   (AES-CBC, RSA PKCS#1 v1.5) while `policy.allowLegacy` is false. Decided
 *   from the message alone, before any key is used.
 * - DecryptionFailed: everything else, malformed structure as well as every
 *   failure that involves a key. A wrong key, a bad RSA padding, a tampered
 *   ciphertext or tag, a bad CBC padding and a plaintext that is not one
 *   well-formed element all give the same result apart from `detail` (no
 *   decryption oracle); log `detail`, never send it.
 *
 * Decryption authenticates nothing: anyone with the SP's public certificate
 * can encrypt to it (and AES-CBC does not even protect the ciphertext). The
 * caller must still verify the IdP's signature, on the decrypted element or
 * on the enclosing Response, before trusting a word of `plaintext`.
 */
export function decryptEncryptedElement(encrypted: Element, keys: readonly DecryptionKey[], policy: DecryptPolicy): DecryptResult {
  try {
    return decrypt(encrypted, keys, policy);
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: err.reason, detail: err.detail };
    return { ok: false, reason: 'DecryptionFailed', detail: `unexpected error: ${err instanceof Error ? err.message : String(err)}` };
  }
}
