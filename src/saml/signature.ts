// Verification of one enveloped XML signature (on a Response or an Assertion)
// with the configured certificates only. Returns the canonical XML that was
// actually signed, so callers read nothing from outside the signed content.
import { SignedXml } from 'xml-crypto';
import type { Element } from '@xmldom/xmldom';
import {
  C14N_EXC,
  DIGEST_METHODS,
  SIGNATURE_METHODS,
  TRANSFORM_ENVELOPED,
  isSha1Digest,
  isSha1Signature,
  multiKeyVerifier,
  publicKeyOf,
} from './algorithms.ts';
import type { KeyMatch } from './algorithms.ts';
import { derBase64Of } from './certificates.ts';
import type { IdpCertificate } from './types.ts';
import { NS, attr, childElement, childElements, descendants, textOf } from './xml.ts';

export type SignatureCheck =
  | { status: 'absent' }
  | { status: 'valid'; signedXml: string; cert: IdpCertificate; algorithm: string }
  | { status: 'invalid'; reason: 'SignatureInvalid' | 'WeakAlgorithm' | 'CertificateNotTrusted'; detail: string };

const EXPECTED_TRANSFORMS = [TRANSFORM_ENVELOPED, C14N_EXC] as const;

function invalid(reason: 'SignatureInvalid' | 'WeakAlgorithm' | 'CertificateNotTrusted', detail: string): SignatureCheck {
  return { status: 'invalid', reason, detail };
}

function algorithmOf(parent: Element, localName: string): string {
  const el = childElement(parent, NS.dsig, localName);
  return el ? (attr(el, 'Algorithm') ?? '') : '';
}

/** Base64 DER of every X509Certificate the signature's KeyInfo carries (diagnostics only). */
function keyInfoCertificates(signature: Element): string[] {
  const keyInfo = childElement(signature, NS.dsig, 'KeyInfo');
  if (!keyInfo) return [];
  return descendants(keyInfo, NS.dsig, 'X509Certificate').map((c) => textOf(c).replace(/\s+/g, ''));
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
 *   digests are intact but the message names a certificate we do not trust.
 * - SHA-1 is refused unless allowed (defends against collision forgeries).
 */
export function verifyEnvelopedSignature(
  xml: string,
  element: Element,
  certs: readonly IdpCertificate[],
  allowSHA1: boolean,
): SignatureCheck {
  const signatures = childElements(element, NS.dsig, 'Signature');
  if (signatures.length === 0) return { status: 'absent' };
  if (signatures.length > 1) return invalid('SignatureInvalid', `${signatures.length} Signature elements on ${element.localName}`);
  const signature = signatures[0] as Element;

  const signedInfos = childElements(signature, NS.dsig, 'SignedInfo');
  if (signedInfos.length !== 1) return invalid('SignatureInvalid', 'Signature must hold exactly one SignedInfo');
  const signedInfo = signedInfos[0] as Element;
  const c14n = algorithmOf(signedInfo, 'CanonicalizationMethod');
  const method = algorithmOf(signedInfo, 'SignatureMethod');
  const references = childElements(signedInfo, NS.dsig, 'Reference');
  if (references.length !== 1) return invalid('SignatureInvalid', `SignedInfo must hold exactly one Reference, found ${references.length}`);
  const reference = references[0] as Element;
  const digest = algorithmOf(reference, 'DigestMethod');

  if (!allowSHA1 && (isSha1Signature(method) || isSha1Digest(digest))) {
    return invalid('WeakAlgorithm', `SHA-1 refused (SignatureMethod ${method}, DigestMethod ${digest})`);
  }
  if (!SIGNATURE_METHODS[method]) return invalid('SignatureInvalid', `unsupported SignatureMethod ${method || '(none)'}`);
  if (!DIGEST_METHODS.has(digest)) return invalid('SignatureInvalid', `unsupported DigestMethod ${digest || '(none)'}`);
  if (c14n !== C14N_EXC) return invalid('SignatureInvalid', `CanonicalizationMethod must be exc-c14n, got ${c14n || '(none)'}`);

  const id = attr(element, 'ID') ?? '';
  const uri = attr(reference, 'URI');
  if (id === '' || uri !== `#${id}`) {
    return invalid('SignatureInvalid', `Reference URI does not point to the ${element.localName} that contains the signature`);
  }
  const transformsEl = childElement(reference, NS.dsig, 'Transforms');
  const transforms = transformsEl ? childElements(transformsEl, NS.dsig, 'Transform').map((t) => attr(t, 'Algorithm') ?? '') : [];
  if (transforms.length !== EXPECTED_TRANSFORMS.length || transforms.some((t, i) => t !== EXPECTED_TRANSFORMS[i])) {
    return invalid('SignatureInvalid', 'Reference transforms must be exactly enveloped-signature + exc-c14n');
  }
  if (certs.length === 0) return invalid('SignatureInvalid', 'no IdP certificate configured');

  const match: KeyMatch = { index: -1 };
  const verifier = new SignedXml({ publicCert: (certs[0] as IdpCertificate).pem, getCertFromKeyInfo: () => null });
  verifier.SignatureAlgorithms = { [method]: multiKeyVerifier(method, certs.map(publicKeyOf), match) };
  let ok = false;
  let valueRejected = false;
  try {
    verifier.loadSignature(signature);
    ok = verifier.checkSignature(xml) === true;
  } catch (err) {
    valueRejected = /signature value/i.test((err as Error).message);
  }
  if (!ok) {
    if (valueRejected) {
      const configured = new Set(certs.map(derBase64Of));
      const named = keyInfoCertificates(signature);
      if (named.length > 0 && !named.some((c) => configured.has(c))) {
        return invalid('CertificateNotTrusted', 'signature does not verify with any configured certificate; KeyInfo names an untrusted certificate');
      }
      return invalid('SignatureInvalid', 'signature value does not verify with any configured certificate');
    }
    return invalid('SignatureInvalid', 'digest of the signed content does not match (content altered after signing)');
  }

  // Re-check the structure on the references xml-crypto itself trusted (parsed
  // from the canonical SignedInfo that the signature covers).
  const trusted = verifier.getReferences();
  const signed = verifier.getSignedReferences();
  const ref = trusted[0];
  if (
    trusted.length !== 1 ||
    signed.length !== 1 ||
    ref?.uri !== `#${id}` ||
    ref.transforms.length !== EXPECTED_TRANSFORMS.length ||
    ref.transforms.some((t, i) => t !== EXPECTED_TRANSFORMS[i])
  ) {
    return invalid('SignatureInvalid', 'signed references differ from the expected single enveloped reference');
  }
  const cert = certs[match.index];
  if (!cert) return invalid('SignatureInvalid', 'no configured certificate matched');
  return { status: 'valid', signedXml: signed[0] as string, cert, algorithm: method };
}
