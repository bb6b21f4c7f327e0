// Checks on the content of the assertion. Every function here receives the
// assertion element re-parsed from the canonical XML that a verified
// signature covers (never a node of the received document), so nothing an
// attacker adds around or inside the signed element can be read.
import type { Element } from '@xmldom/xmldom';
import { parseSamlTime } from './time.ts';
import type { Trail } from './trail.ts';
import type { SamlConnectorConfig } from './types.ts';
import { matchesAcsURL } from './urls.ts';
import { NS, attr, childElement, childElements, textOf } from './xml.ts';

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
 * Issuer of the Response (when present) and of the Assertion must be the
 * configured IdP. Defends against a response minted by another IdP (another
 * tenant, a second connector sharing certificates) being accepted here.
 */
export function checkIssuers(ctx: CheckContext, response: Element, assertion: Element): void {
  const responseIssuers = childElements(response, NS.assertion, 'Issuer');
  if (responseIssuers.length > 1) ctx.trail.fail('issuer', 'IssuerMismatch', 'Response carries several Issuer elements');
  const ri = responseIssuers[0];
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
  ctx.trail.pass('conditions');
  return notOnOrAfter;
}

/**
 * Response Destination, when present, must be this ACS. Defends against a
 * response addressed to another SP endpoint being posted here.
 */
export function checkDestination(ctx: CheckContext, response: Element): void {
  const destination = attr(response, 'Destination');
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
        if (attr(v, 'xsi:nil') === 'true' || v.getAttributeNS(NS.xsi, 'nil') === 'true') continue;
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
 * AuthnStatement session facts. A SessionNotOnOrAfter that has already
 * passed means the IdP session this login stands for is over: refused.
 */
export function readSession(ctx: CheckContext, assertion: Element): SessionInfo {
  const statement = childElement(assertion, NS.assertion, 'AuthnStatement');
  if (!statement) return {};
  const out: SessionInfo = {};
  const index = attr(statement, 'SessionIndex');
  if (index !== undefined) out.sessionIndex = index;
  const until = time(ctx, 'session', statement, 'SessionNotOnOrAfter');
  if (until !== undefined) {
    if (ctx.nowMs - ctx.skewMs >= until) ctx.trail.fail('session', 'AssertionExpired', `SessionNotOnOrAfter ${new Date(until).toISOString()} has passed`);
    out.sessionNotOnOrAfterMs = until;
  }
  ctx.trail.pass('session');
  return out;
}
