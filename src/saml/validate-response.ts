// ACS validation of a SAML 2.0 Response (HTTP-POST binding). Built directly on
// xmldom + xml-crypto rather than samlify: see SAMLIFY-CHECKS.md for why.
// Order: cheap structural checks, signatures, then checks on the signed
// content only, and the replay cache last.
import type { Element } from '@xmldom/xmldom';
import {
  checkAudience,
  checkConditionsTime,
  checkDestination,
  checkIssuers,
  checkSubjectConfirmation,
  readIdentity,
  readSession,
} from './assertion-checks.ts';
import type { CheckContext } from './assertion-checks.ts';
import { decodeResponse } from './response-decode.ts';
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
    const assertion = await validate(cfg, input, trail);
    return { ok: true, assertion, trail: trail.entries };
  } catch (err) {
    if (err instanceof Rejection) {
      return { ok: false, reason: err.reason, status: err.status, message: err.message, trail: trail.entries };
    }
    // The replay store failing (e.g. Redis down) is an outage, not a bad response: the promise rejects.
    if (err instanceof ReplayCacheError) throw err.cause;
    // Fail closed on anything unexpected.
    trail.entries.push({ check: 'internal', ok: false, detail: 'unexpected error during validation' });
    return { ok: false, reason: 'MalformedResponse', status: 400, message: 'response could not be processed', trail: trail.entries };
  }
}

async function validate(cfg: SamlConnectorConfig, input: ValidateInput, trail: Trail): Promise<ValidatedAssertion> {
  const { root } = decodeResponse(input.samlResponse, cfg.security.maxResponseBytes, trail);

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

  const assertionEl = singleAssertion(root, trail);

  const { response, assertion } = verifySignatures(cfg, root, assertionEl, trail);

  const ctx: CheckContext = { cfg, nowMs: input.now.getTime(), skewMs: cfg.clockSkewSeconds * 1000, trail };
  checkIssuers(ctx, response, assertion);
  checkAudience(ctx, assertion);
  const conditionsNotOnOrAfter = checkConditionsTime(ctx, assertion);
  checkDestination(ctx, response);
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

function checkUniqueIds(root: Element, trail: Trail): void {
  const seen = new Set<string>();
  const walk = (el: Element): void => {
    const attrs = el.attributes;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs.item(i);
      if (!a || !ID_ATTRIBUTES.has(a.localName ?? a.name)) continue;
      if (seen.has(a.value)) trail.fail('uniqueIds', 'SignatureInvalid', 'duplicate ID attribute values (signature wrapping attempt)');
      seen.add(a.value);
    }
    for (let n = el.firstChild; n != null; n = n.nextSibling) if (isElement(n)) walk(n);
  };
  walk(root);
  trail.pass('uniqueIds');
}

/** Status must be Success (read from the Response even when unsigned: a forged failure only denies). */
function checkStatus(root: Element, trail: Trail): void {
  const status = childElement(root, NS.protocol, 'Status');
  const code = status ? childElement(status, NS.protocol, 'StatusCode') : undefined;
  if (!code) return trail.fail('status', 'MalformedResponse', 'Response has no Status/StatusCode');
  const top = attr(code, 'Value') ?? '';
  if (top !== SUCCESS) {
    const second = childElement(code, NS.protocol, 'StatusCode');
    const sub = second ? attr(second, 'Value') : undefined;
    trail.fail('status', 'StatusNotSuccess', `IdP returned status ${top}${sub ? ` / ${sub}` : ''}`);
  }
  trail.pass('status', 'Success');
}

/**
 * Exactly one plain Assertion in the whole document, directly under the
 * Response. Defends against wrapping attacks that add a second (forged or
 * relocated) assertion hoping a reader picks the other one.
 */
function singleAssertion(root: Element, trail: Trail): Element {
  if (descendants(root, NS.assertion, 'EncryptedAssertion').length > 0) {
    trail.fail('assertionCount', 'EncryptedAssertionUnsupported', 'encrypted assertions are not supported yet');
  }
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
): { response: Element; assertion: Element } {
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
    const inner = childElements(signedResponse, NS.assertion, 'Assertion');
    if (inner.length !== 1) trail.fail('signedContent', 'AssertionCountInvalid', 'signed Response does not hold exactly one Assertion');
    assertion = inner[0];
  }
  if (!assertion || attr(assertion, 'ID') !== assertionID) {
    return trail.fail('signedContent', 'SignatureMissing', 'no signed Assertion content');
  }
  trail.pass('signedContent', assertionSig.status === 'valid' ? 'assertion' : 'response');
  return { response: root, assertion };
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
