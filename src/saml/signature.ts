// Verification of one enveloped XML signature (on a Response or an Assertion)
// with the configured certificates only. Returns the canonical XML that was
// actually signed, so callers read nothing from outside the signed content.
//
// This is XML-DSig core validation for the one profile SAML uses, done on the
// already parsed document with the project's exclusive canonicaliser
// (c14n.ts, which produces xml-crypto's octets), instead of
// SignedXml.checkSignature(): that one re-parses the whole message with
// xmldom and resolves each Reference with several whole-document XPath
// scans, which made it the dominant cost of an ACS request. The guarantees
// are the same as SignedXml.getSignedReferences(): the references are read
// from the re-parsed canonical SignedInfo whose bytes the signature covers,
// and the returned XML is the exact canonical octet string whose digest was
// checked. test/unit/saml/xml-differential.test.ts holds this function to
// xml-crypto's checkSignature on thousands of generated valid and tampered
// documents.
import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalise } from './c14n.ts';
import type { Element } from './xml.ts';
import {
  C14N_EXC,
  DIGEST,
  DIGEST_METHODS,
  signatureMethod,
  TRANSFORM_ENVELOPED,
  isSha1Digest,
  isSha1Signature,
  multiKeyVerifier,
  publicKeyOf,
} from './algorithms.ts';
import type { KeyMatch } from './algorithms.ts';
import { derBase64Of } from './certificates.ts';
import type { IdpCertificate } from './types.ts';
import { NS, XmlParseError, attr, childElement, childElements, descendants, parseXmlStrict, textOf } from './xml.ts';

export type SignatureCheck =
  | { status: 'absent' }
  | { status: 'valid'; signedXml: string; cert: IdpCertificate; algorithm: string }
  | { status: 'invalid'; reason: 'SignatureInvalid' | 'WeakAlgorithm' | 'CertificateNotTrusted'; detail: string };

const EXPECTED_TRANSFORMS = [TRANSFORM_ENVELOPED, C14N_EXC] as const;
const EXC_C14N_NS = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const HASH_OF_DIGEST: Readonly<Record<string, string>> = { [DIGEST.sha1]: 'sha1', [DIGEST.sha256]: 'sha256', [DIGEST.sha512]: 'sha512' };

function invalid(reason: 'SignatureInvalid' | 'WeakAlgorithm' | 'CertificateNotTrusted', detail: string): SignatureCheck {
  return { status: 'invalid', reason, detail };
}

function algorithmOf(parent: Element, localName: string): string {
  const all = childElements(parent, NS.dsig, localName);
  return all.length === 1 ? (attr(all[0] as Element, 'Algorithm') ?? '') : '';
}

/** PrefixList of an ec:InclusiveNamespaces child, as xml-crypto reads it. */
function prefixListOf(parent: Element | undefined): string[] {
  const incl = parent ? childElement(parent, EXC_C14N_NS, 'InclusiveNamespaces') : undefined;
  const list = incl ? (attr(incl, 'PrefixList') ?? '') : '';
  return list.split(/\s+/).filter((p) => p !== '');
}

/** Base64 DER of every X509Certificate the signature's KeyInfo carries (diagnostics only). */
function keyInfoCertificates(signature: Element): string[] {
  const keyInfo = childElement(signature, NS.dsig, 'KeyInfo');
  if (!keyInfo) return [];
  return descendants(keyInfo, NS.dsig, 'X509Certificate').map((c) => textOf(c).replace(/\s+/g, ''));
}

function sameDigest(computed: Buffer, expectedBase64: string): boolean {
  const expected = Buffer.from(expectedBase64.replace(/\s+/g, ''), 'base64');
  return expected.length === computed.length && timingSafeEqual(expected, computed);
}

/**
 * Checks the signature that is a direct child of `element`.
 *
 * - Only an enveloped signature whose single Reference points at the ID of
 *   `element` itself, with exactly the transforms enveloped-signature +
 *   exc-c14n, is accepted: defends against signature wrapping (a signature
 *   that covers some other element than the one it sits in) and against
 *   transforms (XPath, XSLT, WithComments) that change what is covered.
 * - The key comes only from `certs`, each tried in turn; the message's
 *   KeyInfo is never used to pick or trust a key (defends against an attacker
 *   signing with their own key and shipping their certificate). KeyInfo is
 *   looked at only after a failure, to report CertificateNotTrusted when the
 *   digest is intact but the message names a certificate we do not trust.
 * - SHA-1 is refused unless allowed (defends against collision forgeries).
 */
export function verifyEnvelopedSignature(element: Element, certs: readonly IdpCertificate[], allowSHA1: boolean): SignatureCheck {
  const signatures = childElements(element, NS.dsig, 'Signature');
  if (signatures.length === 0) return { status: 'absent' };
  if (signatures.length > 1) return invalid('SignatureInvalid', `${signatures.length} Signature elements on ${element.localName}`);
  const signature = signatures[0] as Element;
  const signedInfos = childElements(signature, NS.dsig, 'SignedInfo');
  const signatureValues = childElements(signature, NS.dsig, 'SignatureValue');
  if (signedInfos.length !== 1 || signatureValues.length !== 1) {
    return invalid('SignatureInvalid', 'Signature must hold exactly one SignedInfo and one SignatureValue');
  }
  const received = signedInfos[0] as Element;
  if (algorithmOf(received, 'CanonicalizationMethod') !== C14N_EXC) {
    return invalid('SignatureInvalid', 'SignedInfo CanonicalizationMethod must be exc-c14n');
  }

  // The octets the SignatureValue covers; everything below is read from them.
  const signedInfoOctets = canonicalise(received, { prefixList: prefixListOf(childElement(received, NS.dsig, 'CanonicalizationMethod')) });
  let signedInfo: Element;
  try {
    signedInfo = parseXmlStrict(signedInfoOctets).documentElement as Element;
  } catch (err) {
    if (!(err instanceof XmlParseError)) throw err;
    return invalid('SignatureInvalid', 'canonical SignedInfo is not well-formed');
  }
  const method = algorithmOf(signedInfo, 'SignatureMethod');
  const references = childElements(signedInfo, NS.dsig, 'Reference');
  if (references.length !== 1) return invalid('SignatureInvalid', `SignedInfo must hold exactly one Reference, found ${references.length}`);
  const reference = references[0] as Element;
  const digestMethod = algorithmOf(reference, 'DigestMethod');

  if (!allowSHA1 && (isSha1Signature(method) || isSha1Digest(digestMethod))) {
    return invalid('WeakAlgorithm', `SHA-1 refused (SignatureMethod ${method}, DigestMethod ${digestMethod})`);
  }
  if (!signatureMethod(method)) return invalid('SignatureInvalid', `unsupported SignatureMethod ${method || '(none)'}`);
  const hash = Object.hasOwn(HASH_OF_DIGEST, digestMethod) ? HASH_OF_DIGEST[digestMethod] : undefined;
  if (!hash || !DIGEST_METHODS.has(digestMethod)) return invalid('SignatureInvalid', `unsupported DigestMethod ${digestMethod || '(none)'}`);

  const id = attr(element, 'ID') ?? '';
  if (id === '' || attr(reference, 'URI') !== `#${id}`) {
    return invalid('SignatureInvalid', `Reference URI does not point to the ${element.localName} that contains the signature`);
  }
  const transformsEl = childElements(reference, NS.dsig, 'Transforms');
  const transforms = transformsEl.length === 1 ? childElements(transformsEl[0] as Element, NS.dsig, 'Transform') : [];
  const transformAlgs = transforms.map((t) => attr(t, 'Algorithm') ?? '');
  if (transformAlgs.length !== EXPECTED_TRANSFORMS.length || transformAlgs.some((t, i) => t !== EXPECTED_TRANSFORMS[i])) {
    return invalid('SignatureInvalid', 'Reference transforms must be exactly enveloped-signature + exc-c14n');
  }
  const digestValues = childElements(reference, NS.dsig, 'DigestValue');
  if (digestValues.length !== 1) return invalid('SignatureInvalid', 'Reference must hold exactly one DigestValue');
  if (certs.length === 0) return invalid('SignatureInvalid', 'no IdP certificate configured');

  // Reference: the element itself, without this signature, exc-c14n.
  // (exc-c14n of the element with this Signature left out: the enveloped-signature transform.)
  const signedXml = canonicalise(element, { prefixList: prefixListOf(transforms[1]), omit: signature });
  if (!sameDigest(createHash(hash).update(signedXml, 'utf8').digest(), textOf(digestValues[0] as Element))) {
    return invalid('SignatureInvalid', 'digest of the signed content does not match (content altered after signing)');
  }

  // SignatureValue over the canonical SignedInfo, with each configured key in turn.
  const match: KeyMatch = { index: -1 };
  const Verifier = multiKeyVerifier(method, certs.map(publicKeyOf), match);
  const value = textOf(signatureValues[0] as Element).replace(/\s+/g, '');
  const cert = new Verifier().verifySignature(signedInfoOctets, '', value) ? certs[match.index] : undefined;
  if (!cert) {
    const configured = new Set(certs.map(derBase64Of));
    const named = keyInfoCertificates(signature);
    if (named.length > 0 && !named.some((c) => configured.has(c))) {
      return invalid('CertificateNotTrusted', 'signature does not verify with any configured certificate; KeyInfo names an untrusted certificate');
    }
    return invalid('SignatureInvalid', 'signature value does not verify with any configured certificate');
  }
  return { status: 'valid', signedXml, cert, algorithm: method };
}
