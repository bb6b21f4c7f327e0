// SP-side signing: the key pair of a kubernetes.io/tls Secret, loaded and
// checked once, and the two ways the SP signs what it sends to the IdP: the
// HTTP-Redirect query signature (SAML bindings 3.4.4.1) and an enveloped
// XML signature over the root element (HTTP-POST).
//
// The private key lives only in a KeyObject held in a private field: it is
// never a string after loading, never an own property, and the object prints
// (JSON.stringify, util.inspect, pino) as fingerprint / notAfter / algorithm.
import { X509Certificate, createPrivateKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { InspectOptions } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { C14N_EXC, DIGEST, SIG, TRANSFORM_ENVELOPED, signatureMethod, signingAlgorithm } from './algorithms.ts';
import { MAX_PEM_BLOCKS, parseCertificates, pemBlocks } from './certificates.ts';
import { NS, XmlParseError, attr, childElements, hasDoctypeOrDeclarations, isElement, parseXmlStrict } from './xml.ts';

/** A validated SP signing key pair, ready to sign. Never logged: toJSON/inspect must not reveal the private key. */
export interface SpSigningKey {
  /** PEM of the (first) certificate, published in SP metadata. */
  certPem: string;
  /** sha256:<64 hex> of the certificate DER. */
  fingerprint: string;
  notAfter: string; // ISO-8601
  /** Signature algorithm URI chosen from the key: RSA -> rsa-sha256; EC P-256 -> ecdsa-sha256, P-384 -> ecdsa-sha384, P-521 -> ecdsa-sha512. */
  algorithm: string;
  /** The private key (a KeyObject, never a string). */
  readonly key: KeyObject;
}

export type SpSigningKeyResult = { ok: true; signing: SpSigningKey } | { ok: false; reason: 'SigningKeyInvalid'; message: string };

/** Smallest RSA modulus accepted (NIST SP 800-131A). */
const MIN_RSA_BITS = 2048;

/** EC curves accepted (OpenSSL names, as KeyObject reports them) and the matching XML-DSig method. */
const EC_ALGORITHMS: Readonly<Record<string, { name: string; uri: string }>> = {
  prime256v1: { name: 'P-256', uri: SIG.ecdsaSha256 },
  secp384r1: { name: 'P-384', uri: SIG.ecdsaSha384 },
  secp521r1: { name: 'P-521', uri: SIG.ecdsaSha512 },
};

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

class LoadedSigningKey implements SpSigningKey {
  readonly certPem: string;
  readonly fingerprint: string;
  readonly notAfter: string;
  readonly algorithm: string;
  readonly #key: KeyObject;

  constructor(key: KeyObject, certPem: string, fingerprint: string, notAfter: string, algorithm: string) {
    this.#key = key;
    this.certPem = certPem;
    this.fingerprint = fingerprint;
    this.notAfter = notAfter;
    this.algorithm = algorithm;
    Object.freeze(this);
  }

  /** A prototype getter: not an own property, so spreads and Object.entries never copy it. */
  get key(): KeyObject {
    return this.#key;
  }

  /** What logs see (pino and JSON.stringify call this). */
  toJSON(): { fingerprint: string; notAfter: string; algorithm: string } {
    return { fingerprint: this.fingerprint, notAfter: this.notAfter, algorithm: this.algorithm };
  }

  [INSPECT](_depth: number, options: InspectOptions, inspect: (v: unknown, o?: InspectOptions) => string): string {
    return `SpSigningKey ${inspect(this.toJSON(), options)}`;
  }
}

// --- loading -----------------------------------------------------------------

type Refusal = { ok: false; reason: 'SigningKeyInvalid'; message: string };
const refuse = (message: string): Refusal => ({ ok: false, reason: 'SigningKeyInvalid', message });

/**
 * The single private-key PEM block of tls.key (PKCS#8 `PRIVATE KEY`, PKCS#1
 * `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`; other blocks such as the
 * `EC PARAMETERS` openssl ecparam writes are ignored), or a refusal.
 */
function privateKeyBlock(keyPem: string): string | Refusal {
  const all = pemBlocks(keyPem);
  if (!all) return refuse(`tls.key holds more than ${MAX_PEM_BLOCKS} PEM blocks`);
  const blocks = all.filter((m) => (m[1] ?? '').endsWith('PRIVATE KEY'));
  if (blocks.length === 0) return refuse('tls.key holds no PEM private key');
  if (blocks.length > 1) return refuse(`tls.key holds ${blocks.length} private keys; expected exactly one`);
  const block = blocks[0] as RegExpMatchArray;
  // Node would ask for a passphrase and fail with an obscure OpenSSL error.
  if (block[1] === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type:\s*4,\s*ENCRYPTED/m.test(block[2] ?? '')) {
    return refuse('tls.key is encrypted; an unencrypted private key is required');
  }
  return block[0];
}

/** The signature algorithm for a key, or a refusal naming the (unsupported) key type. */
function algorithmFor(key: KeyObject): string | Refusal {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return refuse(`RSA key of ${bits} bits is too small; at least ${MIN_RSA_BITS} bits are required`);
    return SIG.rsaSha256;
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    const known = Object.hasOwn(EC_ALGORITHMS, curve) ? EC_ALGORITHMS[curve] : undefined;
    if (!known) return refuse(`EC curve ${curve || '(unknown)'} is not supported; use P-256, P-384 or P-521`);
    return known.uri;
  }
  return refuse(`${type ?? 'unknown'} keys are not supported; use RSA (at least ${MIN_RSA_BITS} bits) or EC P-256/P-384/P-521`);
}

/**
 * From the `tls.key` and `tls.crt` values of a Secret: PEM private key (PKCS#1, PKCS#8 or SEC1; encrypted keys refused), certificate chain whose FIRST certificate must carry the public key of that private key (mismatch refused), RSA of at least 2048 bits or EC P-256/384/521 (others refused, e.g. RSA-1024, Ed25519, DSA). Messages are short and must never include key material. `now` for an "expired certificate" refusal (notAfter < now refused; not-yet-valid accepted).
 */
export function loadSpSigningKey(keyPem: string, certPem: string, now: Date = new Date()): SpSigningKeyResult {
  if (typeof keyPem !== 'string' || keyPem.trim() === '') return refuse('tls.key is empty');
  if (typeof certPem !== 'string' || certPem.trim() === '') return refuse('tls.crt is empty');

  const block = privateKeyBlock(keyPem);
  if (typeof block !== 'string') return block;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block, format: 'pem' });
  } catch {
    // OpenSSL's message says nothing useful here and is not repeated.
    return refuse('tls.key is not a valid PEM private key');
  }
  const algorithm = algorithmFor(key);
  if (typeof algorithm !== 'string') return algorithm;

  // The chain: only CERTIFICATE blocks; the first one is ours.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(certPem)) return refuse('tls.crt holds a private key; expected certificates only');
  let first;
  try {
    first = parseCertificates(certPem, 'tls.crt')[0];
  } catch (err) {
    return refuse((err as Error).message);
  }
  if (!first) return refuse('tls.crt holds no certificate');
  let matches = false;
  try {
    matches = new X509Certificate(first.pem).checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) return refuse(`the first certificate of tls.crt (${first.fingerprint}) does not match the private key of tls.key`);
  const notAfter = Date.parse(first.notAfter);
  if (!(notAfter >= now.getTime())) return refuse(`the certificate ${first.fingerprint} expired at ${first.notAfter}`);

  return { ok: true, signing: new LoadedSigningKey(key, first.pem, first.fingerprint, first.notAfter, algorithm) };
}

// --- HTTP-Redirect -------------------------------------------------------------

/**
 * HTTP-Redirect binding: returns the URL `endpoint` + `param`=<base64(DEFLATE(xml))>[&RelayState=..]&SigAlg=..&Signature=.. where the signature covers exactly the octets `param=<enc>[&RelayState=<enc>]&SigAlg=<enc>` as they appear in the URL (percent-encoding of everything but RFC 3986 unreserved characters). `endpoint` may already carry a query (e.g. ?idptoken=x): append with '&' then; those extra parameters are not signed. Without `signing`, the same URL without SigAlg/Signature.
 */
export function redirectBindingURL(
  endpoint: string,
  param: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  relayState: string | undefined,
  signing: SpSigningKey | undefined,
): string {
  // encodeURIComponent leaves !'()* as they are, and browsers re-encode ' as
  // %27 in a query they send: the IdP would then rebuild other octets than we
  // signed. Every character outside unreserved is escaped (RFC 3986).
  const enc = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  let query = `${param}=${enc(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`;
  if (relayState !== undefined) query += `&RelayState=${enc(relayState)}`;
  if (signing) {
    const info = signatureMethod(signing.algorithm);
    if (!info) throw new Error(`unsupported signature algorithm ${signing.algorithm}`);
    query += `&SigAlg=${enc(signing.algorithm)}`;
    // The signed octets are exactly the query text so far.
    const key = signing.key;
    const signature = sign(info.hash, Buffer.from(query, 'utf8'), info.ec ? { key, dsaEncoding: 'ieee-p1363' } : key);
    query += `&Signature=${enc(signature.toString('base64'))}`;
  }
  // Same joining rule as urls.ts appendQuery: before any #fragment, '?' or '&' as needed.
  const hash = endpoint.indexOf('#');
  const base = hash >= 0 ? endpoint.slice(0, hash) : endpoint;
  const fragment = hash >= 0 ? endpoint.slice(hash) : '';
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${query}${fragment}`;
}

// --- HTTP-POST -----------------------------------------------------------------

/** HTTP-POST binding: the XML with an enveloped signature (exc-c14n, SHA-256 digest, key's algorithm) over the root element (Reference URI = #<root ID>), placed right after the root's saml:Issuer child, with the certificate in KeyInfo. Throws if the root has no ID or no Issuer. */
export function signRootElement(xml: string, signing: SpSigningKey): string {
  if (hasDoctypeOrDeclarations(xml)) throw new Error('cannot sign: the XML carries a DOCTYPE or markup declaration');
  let root;
  try {
    root = parseXmlStrict(xml).documentElement;
  } catch (err) {
    if (err instanceof XmlParseError) throw new Error(`cannot sign: the XML is not well-formed (${err.message})`);
    throw err;
  }
  if (!root) throw new Error('cannot sign: no root element');
  const id = attr(root, 'ID');
  if (!id) throw new Error(`cannot sign: ${root.localName} has no ID attribute`);
  let firstChild = root.firstChild;
  while (firstChild && !isElement(firstChild)) firstChild = firstChild.nextSibling;
  // SAML schema order: Issuer first, then Signature.
  if (!firstChild || !isElement(firstChild) || firstChild.localName !== 'Issuer' || firstChild.namespaceURI !== NS.assertion) {
    throw new Error(`cannot sign: ${root.localName} has no saml:Issuer as its first child element`);
  }
  if (childElements(root, NS.dsig, 'Signature').length > 0) throw new Error(`cannot sign: ${root.localName} is already signed`);
  if (!signatureMethod(signing.algorithm)) throw new Error(`unsupported signature algorithm ${signing.algorithm}`);

  const signer = new SignedXml({
    privateKey: signing.key,
    publicCert: signing.certPem,
    getKeyInfoContent: SignedXml.getKeyInfoContent,
    signatureAlgorithm: signing.algorithm,
    canonicalizationAlgorithm: C14N_EXC,
    // The Reference URI is #<ID>, even if the element also had an Id or id.
    idAttribute: 'ID',
  });
  signer.SignatureAlgorithms = { ...signer.SignatureAlgorithms, [signing.algorithm]: signingAlgorithm(signing.algorithm) };
  signer.addReference({ xpath: '/*', transforms: [TRANSFORM_ENVELOPED, C14N_EXC], digestAlgorithm: DIGEST.sha256 });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `/*/*[local-name(.)='Issuer' and namespace-uri(.)='${NS.assertion}']`, action: 'after' },
  });
  return signer.getSignedXml();
}
