// Checks on the content of the assertion. Every function here receives the
// assertion element re-parsed from the canonical XML that a verified
// signature covers (never a node of the received document), so nothing an
// attacker adds around or inside the signed element can be read.
import type { Element } from './xml.ts';
import { parseSamlTime } from './time.ts';
import type { Trail } from './trail.ts';
import type { SamlConnectorConfig } from './types.ts';
import { matchesAcsURL } from './urls.ts';
import { NS, XMLNS_NS, attr, childElement, childElements, elementChildren, textOf } from './xml.ts';

export interface CheckContext {
  cfg: SamlConnectorConfig;
  nowMs: number;
  skewMs: number;
  trail: Trail;
}

const ENTITY_FORMAT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

function time(ctx: CheckContext, check: string, el: Element, name: string): number | undefined {
  const raw = attr(el, name);
  if (raw === undefined) return undefined;
  const ms = parseSamlTime(raw);
  if (ms === undefined) ctx.trail.fail(check, 'MalformedResponse', `${el.localName}/@${name} is not a UTC xs:dateTime`);
  return ms;
}

function issuerProblem(ctx: CheckContext, issuer: Element): string | undefined {
  const format = attr(issuer, 'Format');
  if (format !== undefined && format !== ENTITY_FORMAT) return `Issuer Format ${format} is not the entity format`;
  const value = textOf(issuer);
  if (value !== ctx.cfg.idp.entityID) return `Issuer '${value.slice(0, 200)}' is not the configured IdP '${ctx.cfg.idp.entityID}'`;
  return undefined;
}

/**
 * Version and IssueInstant of the Assertion (SAML core 2.3.3) and the
 * IssueInstant of the Response (core 3.2.2; its Version and ID are checked
 * on decoding).
 *
 * - Version must be 2.0: a relying party must reject an assertion of a major
 *   version it does not support (core 4.1.2); read with 2.0 rules, an
 *   assertion of another version could mean something else.
 * - IssueInstant is required, a zoned xs:dateTime, and not later than now
 *   plus the clock skew. A message dated in the future comes from an IdP
 *   whose clock runs ahead, so its NotOnOrAfter times run ahead as well and
 *   a stolen bearer assertion stays usable for longer than the IdP meant.
 *   There is no lower bound here: the time a response may take to arrive is
 *   bounded by the bearer NotOnOrAfter (checkSubjectConfirmation), as the
 *   profile intends, and IdPs date the Response and the Assertion when they
 *   build them, not when the browser posts them.
 */
export function checkHeaders(ctx: CheckContext, response: Element, assertion: Element): void {
  if (attr(assertion, 'Version') !== '2.0') ctx.trail.fail('header', 'MalformedResponse', 'Assertion Version must be 2.0');
  for (const el of [response, assertion]) {
    if (attr(el, 'IssueInstant') === undefined) ctx.trail.fail('header', 'MalformedResponse', `${el.localName} has no IssueInstant`);
    const issued = time(ctx, 'header', el, 'IssueInstant') as number;
    if (issued > ctx.nowMs + ctx.skewMs) {
      ctx.trail.fail('header', 'AssertionNotYetValid', `${el.localName} IssueInstant ${new Date(issued).toISOString()} is in the future`);
    }
  }
  ctx.trail.pass('header');
}

/**
 * Issuer of the Response (when present) and of the Assertion must be the
 * configured IdP. Defends against a response minted by another IdP (another
 * tenant, a second connector sharing certificates) being accepted here; as
 * both must equal the one configured entity ID, a Response whose Issuer
 * differs from its Assertion's is refused too (profile 4.1.4.2: one
 * responding IdP).
 *
 * A signed Response, or one that carries an encrypted assertion, must have
 * an Issuer (profile 4.1.4.2 as corrected by errata E17). The key already
 * ties the signature to the IdP, so this adds little against forgery; it
 * keeps to the profile, so that a message the IdP's key signed for some
 * other use, without an Issuer, is not taken as a login response.
 */
export function checkIssuers(ctx: CheckContext, response: Element, assertion: Element, how: { responseSigned: boolean; encrypted: boolean }): void {
  const responseIssuers = childElements(response, NS.assertion, 'Issuer');
  if (responseIssuers.length > 1) ctx.trail.fail('issuer', 'IssuerMismatch', 'Response carries several Issuer elements');
  const ri = responseIssuers[0];
  if (!ri && (how.responseSigned || how.encrypted)) {
    ctx.trail.fail('issuer', 'IssuerMismatch', `the Response ${how.responseSigned ? 'is signed' : 'carries an encrypted assertion'} but has no Issuer`);
  }
  const rProblem = ri ? issuerProblem(ctx, ri) : undefined;
  if (rProblem) ctx.trail.fail('issuer', 'IssuerMismatch', `Response ${rProblem}`);
  const assertionIssuers = childElements(assertion, NS.assertion, 'Issuer');
  if (assertionIssuers.length !== 1) ctx.trail.fail('issuer', 'IssuerMismatch', 'Assertion must carry exactly one Issuer');
  const aProblem = issuerProblem(ctx, assertionIssuers[0] as Element);
  if (aProblem) ctx.trail.fail('issuer', 'IssuerMismatch', `Assertion ${aProblem}`);
  ctx.trail.pass('issuer', ctx.cfg.idp.entityID);
}

function conditionsOf(ctx: CheckContext, assertion: Element): Element | undefined {
  const all = childElements(assertion, NS.assertion, 'Conditions');
  if (all.length > 1) ctx.trail.fail('conditions', 'MalformedResponse', 'Assertion carries several Conditions elements');
  return all[0];
}

/**
 * Every AudienceRestriction must name this SP (they are ANDed), and at least
 * one must exist. Defends against replaying an assertion issued for another
 * SP of the same IdP (a malicious or compromised SP forwarding its logins).
 */
export function checkAudience(ctx: CheckContext, assertion: Element): void {
  const conditions = conditionsOf(ctx, assertion);
  const restrictions = conditions ? childElements(conditions, NS.assertion, 'AudienceRestriction') : [];
  if (restrictions.length === 0) ctx.trail.fail('audience', 'AudienceMismatch', 'Assertion has no AudienceRestriction');
  for (const r of restrictions) {
    const audiences = childElements(r, NS.assertion, 'Audience').map(textOf);
    if (!audiences.includes(ctx.cfg.spEntityID)) {
      ctx.trail.fail('audience', 'AudienceMismatch', `AudienceRestriction does not include '${ctx.cfg.spEntityID}'`);
    }
  }
  ctx.trail.pass('audience', ctx.cfg.spEntityID);
}

/**
 * Conditions validity window with clock skew. Defends against the use of
 * stale (captured long ago) or not-yet-valid assertions. Returns the
 * Conditions NotOnOrAfter in ms when present.
 */
export function checkConditionsTime(ctx: CheckContext, assertion: Element): number | undefined {
  const conditions = conditionsOf(ctx, assertion);
  if (!conditions) return undefined;
  const notBefore = time(ctx, 'conditions', conditions, 'NotBefore');
  const notOnOrAfter = time(ctx, 'conditions', conditions, 'NotOnOrAfter');
  if (notBefore !== undefined && ctx.nowMs + ctx.skewMs < notBefore) {
    ctx.trail.fail('conditions', 'AssertionNotYetValid', `Conditions NotBefore ${new Date(notBefore).toISOString()} is in the future`);
  }
  if (notOnOrAfter !== undefined && ctx.nowMs - ctx.skewMs >= notOnOrAfter) {
    ctx.trail.fail('conditions', 'AssertionExpired', `Conditions NotOnOrAfter ${new Date(notOnOrAfter).toISOString()} has passed`);
  }
  // Core 2.5.1.2: NotBefore must be earlier than NotOnOrAfter. An empty or
  // inverted window would otherwise pass inside the clock skew.
  if (notBefore !== undefined && notOnOrAfter !== undefined && notBefore >= notOnOrAfter) {
    ctx.trail.fail('conditions', 'MalformedResponse', 'Conditions NotBefore is not earlier than NotOnOrAfter');
  }
  ctx.trail.pass('conditions');
  return notOnOrAfter;
}

const UNDERSTOOD_CONDITIONS = new Set(['AudienceRestriction', 'OneTimeUse', 'ProxyRestriction']);
const CONDITIONS_ATTRIBUTES = new Set(['NotBefore', 'NotOnOrAfter']);

/**
 * Every condition must be understood (SAML core 2.5.1.1): one that cannot
 * be evaluated makes the assertion indeterminate, and an indeterminate
 * assertion must be rejected as an invalid one is; the SSO profile (4.1.4.2)
 * adds that every condition must be understood and accepted by the SP.
 * Defends against an IdP restricting an assertion in a way this SP would
 * silently ignore (a custom saml:Condition, e.g. a delegation restriction),
 * so that an assertion meant to be usable only in narrower circumstances is
 * used here anyway. Runs after the audience and time checks: an invalid
 * assertion is reported as such before an indeterminate one (2.5.1.1).
 *
 * Understood: NotBefore / NotOnOrAfter (checkConditionsTime),
 * AudienceRestriction (checkAudience), OneTimeUse (always valid per 2.5.1.5;
 * the replay cache refuses a second use of any assertion, and the SP keeps
 * no assertion for later use) and ProxyRestriction (always valid per
 * 2.5.1.6; it limits assertions a relying party issues on the basis of this
 * one, and this SP issues no SAML assertions). At most one OneTimeUse and
 * one ProxyRestriction (2.5.1).
 */
export function checkConditionsUnderstood(ctx: CheckContext, assertion: Element): void {
  const conditions = conditionsOf(ctx, assertion);
  if (!conditions) return ctx.trail.pass('conditionsUnderstood', 'no Conditions');
  for (const a of conditions.attributes) {
    if (a.namespaceURI === XMLNS_NS || (!a.namespaceURI && CONDITIONS_ATTRIBUTES.has(a.localName ?? a.name))) continue;
    ctx.trail.fail('conditionsUnderstood', 'ConditionNotUnderstood', `Conditions carries the attribute ${a.name.slice(0, 100)}`);
  }
  const seen: Record<string, number> = {};
  for (const el of elementChildren(conditions)) {
    const name = el.localName ?? '';
    if (el.namespaceURI !== NS.assertion || !UNDERSTOOD_CONDITIONS.has(name)) {
      const type = el.getAttributeNS(NS.xsi, 'type');
      ctx.trail.fail('conditionsUnderstood', 'ConditionNotUnderstood', `condition {${(el.namespaceURI ?? '').slice(0, 100)}}${name.slice(0, 100)}${type ? ` of type ${type.slice(0, 100)}` : ''} is not understood`);
    }
    seen[name] = (seen[name] ?? 0) + 1;
  }
  if ((seen.OneTimeUse ?? 0) > 1 || (seen.ProxyRestriction ?? 0) > 1) {
    ctx.trail.fail('conditionsUnderstood', 'MalformedResponse', 'Conditions carries more than one OneTimeUse or ProxyRestriction');
  }
  const extra = ['OneTimeUse', 'ProxyRestriction'].filter((n) => (seen[n] ?? 0) > 0);
  ctx.trail.pass('conditionsUnderstood', extra.length > 0 ? extra.join(', ') : undefined);
}

/**
 * Response Destination, when present, must be this ACS (SAML core 3.2.2).
 * Defends against a response addressed to another SP endpoint being posted
 * here. A signed Response must carry one (HTTP-POST binding 3.5.5.2): the
 * signature then binds the message to the endpoint it was sent to, so a
 * signed Response taken from another SP's traffic cannot be posted here.
 * An unsigned Response may omit it (core 3.2.2 makes it optional; the signed
 * assertion's Recipient is checked in any case).
 */
export function checkDestination(ctx: CheckContext, response: Element, responseSigned: boolean): void {
  const destination = attr(response, 'Destination');
  if (destination === undefined && responseSigned) {
    ctx.trail.fail('destination', 'DestinationMismatch', 'the Response is signed but carries no Destination');
  }
  if (destination !== undefined && !matchesAcsURL(ctx.cfg, destination)) {
    ctx.trail.fail('destination', 'DestinationMismatch', `Destination '${destination.slice(0, 300)}' is not this ACS`);
  }
  ctx.trail.pass('destination', destination === undefined ? 'absent' : 'matches');
}

export interface Confirmation {
  notOnOrAfterMs: number;
  inResponseTo?: string;
}

/**
 * Bearer SubjectConfirmation per the Web Browser SSO profile: Recipient is
 * this ACS (defends against forwarding an assertion meant for another SP
 * endpoint), NotOnOrAfter present and in the future (bounds the window in
 * which a stolen bearer assertion can be used, and the replay cache size),
 * NotBefore absent (forbidden for bearer confirmation). The first bearer
 * confirmation that satisfies everything is used; if none does, the first
 * one's problem is reported.
 */
export function checkSubjectConfirmation(ctx: CheckContext, assertion: Element): Confirmation {
  const subjects = childElements(assertion, NS.assertion, 'Subject');
  if (subjects.length !== 1) ctx.trail.fail('subjectConfirmation', 'SubjectConfirmationInvalid', 'Assertion must carry exactly one Subject');
  const bearers = childElements(subjects[0] as Element, NS.assertion, 'SubjectConfirmation').filter((sc) => attr(sc, 'Method') === BEARER);
  if (bearers.length === 0) ctx.trail.fail('subjectConfirmation', 'SubjectConfirmationInvalid', 'no bearer SubjectConfirmation');
  let first: { reason: 'RecipientMismatch' | 'SubjectConfirmationInvalid' | 'MalformedResponse'; message: string } | undefined;
  for (const sc of bearers) {
    const problem = bearerProblem(ctx, sc);
    if ('notOnOrAfterMs' in problem) {
      ctx.trail.pass('subjectConfirmation', 'bearer');
      return problem;
    }
    first ??= problem;
  }
  return ctx.trail.fail(first?.reason === 'RecipientMismatch' ? 'recipient' : 'subjectConfirmation', first?.reason ?? 'SubjectConfirmationInvalid', first?.message ?? 'no valid bearer SubjectConfirmation');
}

function bearerProblem(
  ctx: CheckContext,
  sc: Element,
): Confirmation | { reason: 'RecipientMismatch' | 'SubjectConfirmationInvalid' | 'MalformedResponse'; message: string } {
  const datas = childElements(sc, NS.assertion, 'SubjectConfirmationData');
  if (datas.length !== 1) return { reason: 'SubjectConfirmationInvalid', message: 'bearer SubjectConfirmation needs exactly one SubjectConfirmationData' };
  const data = datas[0] as Element;
  const recipient = attr(data, 'Recipient');
  if (recipient === undefined || !matchesAcsURL(ctx.cfg, recipient)) {
    return { reason: 'RecipientMismatch', message: recipient === undefined ? 'SubjectConfirmationData has no Recipient' : `Recipient '${recipient.slice(0, 300)}' is not this ACS` };
  }
  if (attr(data, 'NotBefore') !== undefined) {
    return { reason: 'SubjectConfirmationInvalid', message: 'bearer SubjectConfirmationData must not carry NotBefore' };
  }
  const raw = attr(data, 'NotOnOrAfter');
  if (raw === undefined) return { reason: 'SubjectConfirmationInvalid', message: 'bearer SubjectConfirmationData has no NotOnOrAfter' };
  const notOnOrAfterMs = parseSamlTime(raw);
  if (notOnOrAfterMs === undefined) return { reason: 'MalformedResponse', message: 'SubjectConfirmationData/@NotOnOrAfter is not a UTC xs:dateTime' };
  if (ctx.nowMs - ctx.skewMs >= notOnOrAfterMs) {
    return { reason: 'SubjectConfirmationInvalid', message: `bearer SubjectConfirmationData expired at ${new Date(notOnOrAfterMs).toISOString()}` };
  }
  const inResponseTo = attr(data, 'InResponseTo');
  return inResponseTo === undefined ? { notOnOrAfterMs } : { notOnOrAfterMs, inResponseTo };
}

export interface Identity {
  nameID: string;
  nameIDFormat?: string;
  /** NameQualifier / SPNameQualifier of the NameID: echoed in our LogoutRequest (Shibboleth and ADFS match on them). */
  nameQualifier?: string;
  spNameQualifier?: string;
  attributes: Record<string, string[]>;
  identity: string;
}

/**
 * Reads NameID and attributes (full text content: a comment an attacker
 * slips into a signed value can neither truncate nor split it, and exc-c14n
 * has removed comments from the signed copy anyway) and picks the identity.
 */
export function readIdentity(ctx: CheckContext, assertion: Element): Identity {
  const subject = childElement(assertion, NS.assertion, 'Subject') as Element;
  const nameIDs = childElements(subject, NS.assertion, 'NameID');
  if (nameIDs.length > 1) ctx.trail.fail('identity', 'IdentityMissing', 'Subject carries several NameID elements');
  const nameIDEl = nameIDs[0];
  const nameID = nameIDEl ? textOf(nameIDEl) : '';
  const nameIDFormat = nameIDEl ? attr(nameIDEl, 'Format') : undefined;

  const attributes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const statement of childElements(assertion, NS.assertion, 'AttributeStatement')) {
    for (const a of childElements(statement, NS.assertion, 'Attribute')) {
      const name = attr(a, 'Name');
      if (name === undefined || name === '') continue;
      const values = (attributes[name] ??= []);
      for (const v of childElements(a, NS.assertion, 'AttributeValue')) {
        // A null value (core 2.7.3.1.1: xsi:nil "true" or "1") is no value at all, not ''.
        if (v.hasAttributeNS(NS.xsi, 'nil') && ['true', '1'].includes((v.getAttributeNS(NS.xsi, 'nil') ?? '').trim())) continue;
        values.push(textOf(v));
      }
    }
  }

  const wanted = ctx.cfg.userIdentityAttribute;
  const identity = wanted === undefined ? nameID : (attributes[wanted]?.[0] ?? '');
  const source = wanted === undefined ? 'NameID' : `attribute ${wanted}`;
  if (identity.trim() === '') ctx.trail.fail('identity', 'IdentityMissing', `no identity in ${source}`);
  // Several values (aliases a user may add at the IdP) would let value order
  // decide which binding matches: exactly one is required.
  if (wanted !== undefined && (attributes[wanted]?.length ?? 0) > 1) {
    ctx.trail.fail('identity', 'IdentityAmbiguous', `attribute ${wanted} has ${attributes[wanted]!.length} values; exactly one is required`);
  }
  ctx.trail.pass('identity', `from ${source}`);
  const out: Identity = { nameID, attributes, identity };
  if (nameIDFormat !== undefined) out.nameIDFormat = nameIDFormat;
  const nameQualifier = nameIDEl ? attr(nameIDEl, 'NameQualifier') : undefined;
  const spNameQualifier = nameIDEl ? attr(nameIDEl, 'SPNameQualifier') : undefined;
  if (nameQualifier !== undefined) out.nameQualifier = nameQualifier;
  if (spNameQualifier !== undefined) out.spNameQualifier = spNameQualifier;
  return out;
}

export interface SessionInfo {
  sessionIndex?: string;
  sessionNotOnOrAfterMs?: number;
}

/**
 * AuthnStatement session facts.
 *
 * At least one AuthnStatement is required (profile 4.1.4.2; core 3.4.1.4):
 * an assertion without one does not say that the user authenticated to the
 * IdP (an attribute assertion, say, obtained by a query or issued for some
 * other purpose), so it must not open a session. Each one must carry what
 * SAML core 2.7.2 requires of it, an AuthnInstant (a zoned xs:dateTime) and
 * one AuthnContext: without them it describes no authentication. The SP
 * reads neither further. SessionIndex is not required (only IdPs that
 * support single logout must send it); the first one given is kept.
 *
 * SessionNotOnOrAfter: the session must be considered ended then (core
 * 2.7.2). With several AuthnStatements the earliest is honoured (profile
 * 4.1.4.3: the one closest to the present); one that has already passed
 * means the IdP session this login stands for is over: refused. Otherwise
 * it caps the local session (completeSignIn).
 */
export function readSession(ctx: CheckContext, assertion: Element): SessionInfo {
  const statements = childElements(assertion, NS.assertion, 'AuthnStatement');
  if (statements.length === 0) ctx.trail.fail('session', 'AuthnStatementMissing', 'the assertion carries no AuthnStatement');
  const out: SessionInfo = {};
  for (const statement of statements) {
    if (attr(statement, 'AuthnInstant') === undefined) ctx.trail.fail('session', 'MalformedResponse', 'AuthnStatement has no AuthnInstant');
    time(ctx, 'session', statement, 'AuthnInstant');
    if (childElements(statement, NS.assertion, 'AuthnContext').length !== 1) ctx.trail.fail('session', 'MalformedResponse', 'AuthnStatement must carry exactly one AuthnContext');
    const index = attr(statement, 'SessionIndex');
    if (index !== undefined && out.sessionIndex === undefined) out.sessionIndex = index;
    const until = time(ctx, 'session', statement, 'SessionNotOnOrAfter');
    if (until !== undefined && (out.sessionNotOnOrAfterMs === undefined || until < out.sessionNotOnOrAfterMs)) out.sessionNotOnOrAfterMs = until;
  }
  const until = out.sessionNotOnOrAfterMs;
  if (until !== undefined && ctx.nowMs - ctx.skewMs >= until) {
    ctx.trail.fail('session', 'AssertionExpired', `SessionNotOnOrAfter ${new Date(until).toISOString()} has passed`);
  }
  ctx.trail.pass('session', statements.length > 1 ? `${statements.length} AuthnStatements` : undefined);
  return out;
}
