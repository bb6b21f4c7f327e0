// ACS validation of a SAML 2.0 Response (HTTP-POST binding). Built directly on
// the project's strict XML parser and canonicaliser rather than samlify: see SAMLIFY-CHECKS.md for why.
// Order: cheap structural checks, signatures, then checks on the signed
// content only, and the replay cache last.
import type { Element } from './xml.ts';
import {
  checkAudience,
  checkConditionsTime,
  checkConditionsUnderstood,
  checkDestination,
  checkHeaders,
  checkIssuers,
  checkSubjectConfirmation,
  readIdentity,
  readSession,
} from './assertion-checks.ts';
import type { CheckContext } from './assertion-checks.ts';
import { decodeResponse, decodeText } from './response-decode.ts';
import { XENC_NS, decryptEncryptedElement } from './xmlenc.ts';
import { verifyEnvelopedSignature } from './signature.ts';
import type { SignatureCheck } from './signature.ts';
import { Rejection, Trail } from './trail.ts';
import type { SamlConnectorConfig, ValidateInput, ValidatedAssertion, ValidationResult } from './types.ts';
import { NS, XmlParseError, attr, childElement, childElements, descendants, isElement, parseXmlStrict } from './xml.ts';

class ReplayCacheError extends Error {
  constructor(cause: unknown) {
    super('replay cache failed', { cause });
  }
}

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const ID_ATTRIBUTES = new Set(['ID', 'Id', 'id']);

export async function validateResponse(cfg: SamlConnectorConfig, input: ValidateInput): Promise<ValidationResult> {
  const trail = new Trail();
  try {
    // The first stage refuses most junk, and returns its refusal instead of throwing it (Trail.reject).
    const decoded = decodeResponse(input.samlResponse, cfg.security.maxResponseBytes, trail, refuseUnsignedBeforeParse(cfg, input));
    if (decoded instanceof Rejection) return refused(decoded, trail);
    const assertion = await validate(cfg, input, decoded.root, trail);
    return { ok: true, assertion, trail: trail.entries };
  } catch (err) {
    if (err instanceof Rejection) return refused(err, trail);
    // The replay store failing (e.g. Redis down) is an outage, not a bad response: the promise rejects.
    if (err instanceof ReplayCacheError) throw err.cause;
    // Fail closed on anything unexpected.
    trail.entries.push({ check: 'internal', ok: false, detail: 'unexpected error during validation' });
    return { ok: false, reason: 'MalformedResponse', status: 400, message: 'response could not be processed', trail: trail.entries };
  }
}

/**
 * What validateResponse gives `input` when its first stage refuses it
 * before the parse (decodeText: size, base64, UTF-8, DOCTYPE, an unsigned
 * Success, text that is no markup), with the same reason, status, message
 * and trail; undefined when the message gets as far as the parse. It is
 * synchronous and reads nothing but the text and the connector's
 * configuration: the ACS listener refuses most junk with it before fastify
 * sees the request (routes/saml.ts, acsEarlyRefusal). A test holds the two
 * equal on every kind of message.
 */
export function refuseBeforeParse(cfg: SamlConnectorConfig, input: Pick<ValidateInput, 'samlResponse' | 'expectedInResponseTo'>): Extract<ValidationResult, { ok: false }> | undefined {
  const trail = new Trail();
  let text: string | Rejection;
  try {
    text = decodeText(input.samlResponse, cfg.security.maxResponseBytes, trail, refuseUnsignedBeforeParse(cfg, input));
  } catch {
    // Unexpected: validateResponse decides (it fails closed).
    return undefined;
  }
  return text instanceof Rejection ? refused(text, trail) : undefined;
}

function refused(r: Rejection, trail: Trail): Extract<ValidationResult, { ok: false }> {
  return { ok: false, reason: r.reason, status: r.status, message: r.message, trail: trail.entries };
}

async function validate(cfg: SamlConnectorConfig, input: ValidateInput, root: Element, trail: Trail): Promise<ValidatedAssertion> {
  // Signature wrapping: ID-based Reference resolution (ours, and any other
  // XML-DSig library's, which match any attribute named ID/Id/id) is only
  // unambiguous when every such value is unique in the document.
  checkUniqueIds(root, trail);

  checkStatus(root, trail);

  // Login CSRF / injected logins: an unsolicited response is only taken when
  // the connector explicitly allows IdP-initiated login.
  if (input.expectedInResponseTo === null && !cfg.idpInitiated.enabled) {
    trail.fail('solicitation', 'UnsolicitedResponseRefused', 'no login is pending and IdP-initiated login is disabled');
  }
  trail.pass('solicitation', input.expectedInResponseTo === null ? 'unsolicited (allowed)' : 'solicited');

  const located = locateAssertion(cfg, root, trail);

  const { response, assertion, responseSigned } = located.encrypted
    ? uniformly(trail, () => verifySignatures(cfg, root, located.assertion, trail, located.encrypted))
    : verifySignatures(cfg, root, located.assertion, trail);
  refuseEncryptedParts(assertion, trail);

  // PROFILE-MUSTS.md maps each check below to the requirement it enforces.
  const ctx: CheckContext = { cfg, nowMs: input.now.getTime(), skewMs: cfg.clockSkewSeconds * 1000, trail };
  checkHeaders(ctx, response, assertion);
  checkIssuers(ctx, response, assertion, { responseSigned, encrypted: located.encrypted !== undefined });
  checkAudience(ctx, assertion);
  const conditionsNotOnOrAfter = checkConditionsTime(ctx, assertion);
  checkConditionsUnderstood(ctx, assertion);
  checkDestination(ctx, response, responseSigned);
  const confirmation = checkSubjectConfirmation(ctx, assertion);
  checkInResponseTo(input.expectedInResponseTo, attr(response, 'InResponseTo'), confirmation.inResponseTo, trail);
  const identity = readIdentity(ctx, assertion);
  const session = readSession(ctx, assertion);

  const notOnOrAfterMs = Math.min(confirmation.notOnOrAfterMs, conditionsNotOnOrAfter ?? Number.POSITIVE_INFINITY);
  const notOnOrAfter = Math.ceil(notOnOrAfterMs / 1000);
  const id = attr(assertion, 'ID') as string;

  // Replay: the same assertion posted twice (stolen from a log, history or a
  // proxy). Last, so junk never fills the cache; kept until NotOnOrAfter + skew.
  let fresh: boolean;
  try {
    fresh = await input.replay.remember(id, notOnOrAfter + cfg.clockSkewSeconds);
  } catch (err) {
    throw new ReplayCacheError(err);
  }
  if (!fresh) {
    trail.fail('replay', 'ReplayDetected', 'this assertion ID was already used');
  }
  trail.pass('replay');

  const out: ValidatedAssertion = {
    id,
    issuer: cfg.idp.entityID,
    nameID: identity.nameID,
    attributes: identity.attributes,
    identity: identity.identity,
    notOnOrAfter,
  };
  if (identity.nameIDFormat !== undefined) out.nameIDFormat = identity.nameIDFormat;
  if (identity.nameQualifier !== undefined) out.nameQualifier = identity.nameQualifier;
  if (identity.spNameQualifier !== undefined) out.spNameQualifier = identity.spNameQualifier;
  if (session.sessionIndex !== undefined) out.sessionIndex = session.sessionIndex;
  if (session.sessionNotOnOrAfterMs !== undefined) out.sessionNotOnOrAfter = Math.floor(session.sessionNotOnOrAfterMs / 1000);
  const inResponseTo = confirmation.inResponseTo ?? attr(response, 'InResponseTo');
  if (inResponseTo !== undefined) out.inResponseTo = inResponseTo;
  return out;
}

/**
 * Cheap refusal of the commonest junk at an ACS (an IdP set up without
 * signing, a scanner replaying a stripped response): a message claiming
 * Success that has no `SignatureValue` element and no `EncryptedAssertion`
 * anywhere can never be accepted, since every accepted response needs a
 * verified signature, outside or inside the encrypted assertion, and an
 * element's name can only appear literally (no DTD, so no entities; a
 * character reference is not markup). It is refused before a DOM is built:
 * the parse is about 40 µs of the 8 KB post's refusal (issue 10, target 3).
 * The reason is the one the full checks give a well-formed message of that
 * kind: UnsolicitedResponseRefused when nothing is pending and IdP-initiated
 * login is off, else AssertionNotSigned or SignatureMissing.
 * Not taken early: an answer without Success (an IdP's error, usually
 * unsigned) is parsed so that its StatusCode is reported; a text that only
 * mentions SignatureValue (in a comment, say) is parsed and refused by the
 * full checks.
 */
function refuseUnsignedBeforeParse(cfg: SamlConnectorConfig, input: Pick<ValidateInput, 'expectedInResponseTo'>): (xml: string, trail: Trail) => Rejection | undefined {
  return (xml, trail) => {
    if (xml.includes('SignatureValue') || xml.includes('EncryptedAssertion') || !xml.includes(SUCCESS)) return undefined;
    if (input.expectedInResponseTo === null && !cfg.idpInitiated.enabled) {
      return trail.reject('solicitation', 'UnsolicitedResponseRefused', 'no login is pending and IdP-initiated login is disabled (an unsigned message, refused before parsing)');
    }
    if (cfg.security.requireSignedAssertions) {
      return trail.reject('signature', 'AssertionNotSigned', 'the Assertion carries no signature and signed assertions are required (nothing in the message is signed; refused before parsing)');
    }
    return trail.reject('signature', 'SignatureMissing', 'neither the Response nor the Assertion is signed (refused before parsing)');
  };
}

function checkUniqueIds(root: Element, trail: Trail): void {
  const seen = new Set<string>();
  const walk = (el: Element): void => {
    for (const a of el.attributes) {
      if (!ID_ATTRIBUTES.has(a.localName ?? a.name)) continue;
      if (seen.has(a.value)) trail.fail('uniqueIds', 'SignatureInvalid', 'duplicate ID attribute values (signature wrapping attempt)');
      seen.add(a.value);
    }
    for (let n = el.firstChild; n != null; n = n.nextSibling) if (isElement(n)) walk(n);
  };
  walk(root);
  trail.pass('uniqueIds');
}

/**
 * The top-level StatusCode must be Success (SAML core 3.2.2.2), read from
 * the Response even when unsigned: a forged failure only denies. It is
 * checked before any assertion is looked at, so an assertion in an error
 * response (which profile 4.1.4.2 forbids the IdP to send) is never used.
 * Exactly one Status and one top-level StatusCode: with two, which one
 * counts would depend on the reader. The second-level code, when there is
 * one, only explains a failure (AuthnFailed, NoPassive, RequestDenied...):
 * it goes in the message, cut short, as the values are unauthenticated.
 * A Success with a second-level code is still a Success (core 3.2.2.2
 * defines the subordinate code only as detail of an error).
 */
function checkStatus(root: Element, trail: Trail): void {
  const statuses = childElements(root, NS.protocol, 'Status');
  const codes = statuses.length === 1 ? childElements(statuses[0] as Element, NS.protocol, 'StatusCode') : [];
  if (codes.length !== 1) return trail.fail('status', 'MalformedResponse', 'Response must carry exactly one Status with one StatusCode');
  const code = codes[0] as Element;
  const top = attr(code, 'Value') ?? '';
  if (top !== SUCCESS) {
    const second = childElement(code, NS.protocol, 'StatusCode');
    const sub = second ? attr(second, 'Value') : undefined;
    trail.fail('status', 'StatusNotSuccess', `IdP returned status ${top.slice(0, 200)}${sub ? ` / ${sub.slice(0, 200)}` : ''}`);
  }
  trail.pass('status', 'Success');
}

/** What the client learns of any failure of the encrypted path (locateAssertion). */
const UNIFORM_MESSAGE = 'the encrypted assertion could not be decrypted and verified';

/** An EncryptedAssertion as received, and what it decrypted to. */
interface Encrypted {
  element: Element;
  plaintext: string;
}

/**
 * The one assertion of the Response: the plain one, or the decrypted content
 * of the one EncryptedAssertion (saml.encryption Optional or Required).
 *
 * Encrypted assertions, what this defends against:
 * - a decryption oracle (Bleichenbacher on RSA-1_5, Manger on RSA-OAEP, the
 *   CBC padding oracle of Jager and Somorovsky): a failed decryption, a
 *   malformed plaintext and a signature that does not verify all answer the
 *   client with one reason, EncryptedAssertionInvalid (401), and take the
 *   same path (xmlenc.ts continues with a random key when the key transport
 *   fails); the step that failed is only in the trail, for the admin's log;
 * - downgrade: AES-CBC and RSA-1_5 are refused (EncryptionAlgorithmNotAllowed)
 *   unless saml.security.allowLegacyEncryption is set;
 * - an attacker who encrypts a forged assertion to our public key: the
 *   decrypted assertion goes through exactly the checks of a plain one, its
 *   own signature first (the key that encrypted proves nothing);
 * - wrapping: exactly one EncryptedAssertion, directly under the Response,
 *   and then no plain Assertion anywhere; the plaintext must be exactly one
 *   saml:Assertion (no DOCTYPE, no nested assertion);
 * - a plain assertion where encryption is Required (AssertionNotEncrypted).
 */
function locateAssertion(cfg: SamlConnectorConfig, root: Element, trail: Trail): { assertion: Element; encrypted?: Encrypted } {
  const encrypted = descendants(root, NS.assertion, 'EncryptedAssertion');
  if (encrypted.length === 0) {
    if (cfg.encryption.mode === 'Required') trail.fail('encryption', 'AssertionNotEncrypted', 'the assertion is not encrypted and saml.encryption is Required');
    return { assertion: singleAssertion(root, trail) };
  }
  if (cfg.encryption.mode === 'None') {
    trail.fail('encryption', 'EncryptedAssertionUnsupported', 'the assertion is encrypted and saml.encryption is None (give sp.encryptionKeySecretRef and set encryption to Optional or Required)');
  }
  const direct = childElements(root, NS.assertion, 'EncryptedAssertion');
  const plain = descendants(root, NS.assertion, 'Assertion');
  if (encrypted.length !== 1 || direct.length !== 1 || plain.length !== 0) {
    trail.fail('assertionCount', 'AssertionCountInvalid', `expected exactly one EncryptedAssertion directly in the Response and no plain Assertion, found ${encrypted.length} and ${plain.length}`);
  }
  const element = direct[0] as Element;
  const keys = cfg.encryption.keys.map((k) => ({ privateKey: k.key, fingerprint: k.fingerprint }));
  const result = decryptEncryptedElement(element, keys, { allowLegacy: cfg.encryption.allowLegacy });
  if (!result.ok) {
    if (result.reason === 'EncryptionAlgorithmNotAllowed') trail.fail('decryption', 'EncryptionAlgorithmNotAllowed', result.detail);
    // The step that failed goes to the trail (the admin's log) only.
    trail.entries.push({ check: 'decryption', ok: false, detail: `DecryptionFailed: ${result.detail}` });
    throw new Rejection('EncryptedAssertionInvalid', UNIFORM_MESSAGE);
  }
  const assertion = uniformly(trail, () => {
    const el = decryptedAssertion(result.plaintext, trail);
    // The decrypted assertion is a document of its own: its IDs are checked as the Response's were.
    checkUniqueIds(el, trail);
    return el;
  });
  trail.pass('decryption', `${result.contentCipher}, ${result.keyTransport}, key ${result.key}`);
  trail.pass('assertionCount', '1 (encrypted)');
  return { assertion, encrypted: { element, plaintext: result.plaintext } };
}

/** The plaintext of an EncryptedAssertion as an Assertion element: exactly one saml:Assertion with an ID, nothing nested. */
function decryptedAssertion(plaintext: string, trail: Trail): Element {
  let el: Element | undefined;
  try {
    el = parseXmlStrict(plaintext).documentElement ?? undefined;
  } catch (err) {
    if (!(err instanceof XmlParseError)) throw err;
  }
  if (!el || el.localName !== 'Assertion' || el.namespaceURI !== NS.assertion || !attr(el, 'ID')) {
    return trail.fail('decryption', 'MalformedResponse', 'the decrypted content is not one saml:Assertion with an ID');
  }
  if (descendants(el, NS.assertion, 'Assertion').length > 0 || descendants(el, NS.assertion, 'EncryptedAssertion').length > 0) {
    return trail.fail('decryption', 'AssertionCountInvalid', 'the decrypted assertion holds another assertion');
  }
  return el;
}

/**
 * Runs a step of the encrypted path: any refusal in it becomes
 * EncryptedAssertionInvalid (401) for the client, its own reason kept in the
 * trail's detail. See locateAssertion for why.
 */
function uniformly<T>(trail: Trail, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (!(err instanceof Rejection) || err.reason === 'EncryptedAssertionInvalid') throw err;
    // The trail's failed entry keeps the step's own reason (`SignatureInvalid: ...`).
    throw new Rejection('EncryptedAssertionInvalid', UNIFORM_MESSAGE);
  }
}

/**
 * EncryptedID (a NameID encrypted on its own) and EncryptedAttribute are
 * refused by name rather than read past: a login must not be decided on an
 * assertion whose identity or attributes were not read.
 */
function refuseEncryptedParts(assertion: Element, trail: Trail): void {
  if (descendants(assertion, NS.assertion, 'EncryptedID').length > 0) trail.fail('encryption', 'EncryptedIDUnsupported', 'the Subject carries an EncryptedID; configure the IdP to encrypt the whole assertion instead');
  if (descendants(assertion, NS.assertion, 'EncryptedAttribute').length > 0) trail.fail('encryption', 'EncryptedAttributeUnsupported', 'the assertion carries EncryptedAttribute elements; configure the IdP to encrypt the whole assertion instead');
}

/**
 * Exactly one plain Assertion in the whole document, directly under the
 * Response. Defends against wrapping attacks that add a second (forged or
 * relocated) assertion hoping a reader picks the other one.
 */
function singleAssertion(root: Element, trail: Trail): Element {
  const all = descendants(root, NS.assertion, 'Assertion');
  const direct = childElements(root, NS.assertion, 'Assertion');
  if (all.length !== 1 || direct.length !== 1) {
    trail.fail('assertionCount', 'AssertionCountInvalid', `expected exactly one Assertion directly in the Response, found ${all.length} in the document`);
  }
  const assertion = direct[0] as Element;
  if (!attr(assertion, 'ID')) trail.fail('assertionCount', 'MalformedResponse', 'Assertion has no ID');
  trail.pass('assertionCount', '1');
  return assertion;
}

function record(trail: Trail, check: string, result: SignatureCheck): void {
  if (result.status === 'invalid') trail.fail(check, result.reason, result.detail);
  if (result.status === 'valid') trail.pass(check, `valid, ${result.cert.fingerprint} (${result.cert.source}), ${result.algorithm}`);
  else trail.pass(check, 'absent');
}

function reparse(signedXml: string, ns: string, localName: string, id: string, trail: Trail): Element {
  let el: Element | undefined;
  try {
    el = parseXmlStrict(signedXml).documentElement ?? undefined;
  } catch (err) {
    if (!(err instanceof XmlParseError)) throw err;
  }
  if (!el || el.localName !== localName || el.namespaceURI !== ns || attr(el, 'ID') !== id) {
    return trail.fail('signedContent', 'SignatureInvalid', `signed content is not the expected ${localName}`);
  }
  return el;
}

/**
 * Verifies the signatures present and returns the Response and Assertion to
 * read from.
 *
 * The Assertion always comes from re-parsing the canonical octets whose
 * digest a verified signature covers: its own signature's, or, when only the
 * Response is signed, the Response's (then the one Assertion in it).
 *
 * The Response element (Issuer, Destination, InResponseTo) is the received
 * one. When the Response signature verified, that is the very DOM node that
 * was canonicalised and digested (verification and reading share one parse,
 * so there is no second copy to wrap). When the Response is unsigned those
 * fields are unauthenticated, which is acceptable because the signed
 * assertion's bearer SubjectConfirmationData must carry the binding facts
 * (Recipient always, InResponseTo when solicited) and its Issuer must match.
 */
function verifySignatures(
  cfg: SamlConnectorConfig,
  root: Element,
  assertionEl: Element,
  trail: Trail,
  encrypted?: Encrypted,
): { response: Element; assertion: Element; responseSigned: boolean } {
  const assertionSigned = childElements(assertionEl, NS.dsig, 'Signature').length > 0;
  const responseSigned = childElements(root, NS.dsig, 'Signature').length > 0;
  // Unsigned content would let anyone assert any identity.
  if (cfg.security.requireSignedAssertions && !assertionSigned) {
    trail.fail('signature', 'AssertionNotSigned', 'the Assertion carries no signature and signed assertions are required');
  }
  if (!assertionSigned && !responseSigned) trail.fail('signature', 'SignatureMissing', 'neither the Response nor the Assertion is signed');

  // Every signature present must verify, even when the other one alone would do.
  const { certificates } = cfg.idp;
  const { allowSHA1 } = cfg.security;
  const responseSig = responseSigned ? verifyEnvelopedSignature(root, certificates, allowSHA1) : ({ status: 'absent' } as const);
  record(trail, 'signature.response', responseSig);
  const assertionSig = assertionSigned ? verifyEnvelopedSignature(assertionEl, certificates, allowSHA1) : ({ status: 'absent' } as const);
  record(trail, 'signature.assertion', assertionSig);

  const assertionID = attr(assertionEl, 'ID') as string;
  let assertion: Element | undefined;
  if (assertionSig.status === 'valid') {
    assertion = reparse(assertionSig.signedXml, NS.assertion, 'Assertion', assertionID, trail);
  } else if (responseSig.status === 'valid') {
    const signedResponse = reparse(responseSig.signedXml, NS.protocol, 'Response', attr(root, 'ID') ?? '', trail);
    if (encrypted) {
      // The signature covers the ciphertext: the assertion is what the signed
      // EncryptedAssertion decrypts to, which is the one decrypted already
      // when both carry the same encrypted key and data.
      const inner = childElements(signedResponse, NS.assertion, 'EncryptedAssertion');
      if (inner.length !== 1 || cipherValues(inner[0]!) !== cipherValues(encrypted.element)) {
        trail.fail('signedContent', 'SignatureInvalid', 'the signed Response does not hold the EncryptedAssertion that was decrypted');
      }
      assertion = assertionEl;
    } else {
      const inner = childElements(signedResponse, NS.assertion, 'Assertion');
      if (inner.length !== 1) trail.fail('signedContent', 'AssertionCountInvalid', 'signed Response does not hold exactly one Assertion');
      assertion = inner[0];
    }
  }
  if (!assertion || attr(assertion, 'ID') !== assertionID) {
    return trail.fail('signedContent', 'SignatureMissing', 'no signed Assertion content');
  }
  trail.pass('signedContent', assertionSig.status === 'valid' ? 'assertion' : 'response');
  // A Signature present on the Response has verified by now (or refused).
  return { response: root, assertion, responseSigned: responseSig.status === 'valid' };
}

/** The CipherValue texts of an encrypted element (its key and its data), in document order. */
function cipherValues(el: Element): string {
  return descendants(el, XENC_NS, 'CipherValue')
    .map((c) => (c.textContent ?? '').replace(/\s+/g, ''))
    .join('|');
}

/**
 * InResponseTo binds the response to the login this browser started.
 * Solicited: the Response and the signed SubjectConfirmationData must both
 * name the pending request (defends against login CSRF / session fixation
 * with an assertion obtained for another request). Unsolicited (allowed):
 * neither may name a request (a response to some other browser's login).
 */
function checkInResponseTo(expected: string | null, onResponse: string | undefined, onConfirmation: string | undefined, trail: Trail): void {
  if (expected === null) {
    if (onResponse !== undefined || onConfirmation !== undefined) {
      trail.fail('inResponseTo', 'InResponseToMismatch', 'response answers a request, but no login is pending');
    }
    trail.pass('inResponseTo', 'unsolicited');
    return;
  }
  if (onResponse !== expected) trail.fail('inResponseTo', 'InResponseToMismatch', 'Response InResponseTo does not match the pending request');
  if (onConfirmation !== expected) {
    trail.fail('inResponseTo', 'InResponseToMismatch', 'SubjectConfirmationData InResponseTo does not match the pending request');
  }
  trail.pass('inResponseTo', 'matches');
}
