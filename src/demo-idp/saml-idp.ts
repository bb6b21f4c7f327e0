// The IdP side, for the development demo IdP and for tests: reads an
// AuthnRequest and issues signed Responses. Every field of the Response can
// be changed on its own, so a test can build a response that fails exactly
// one check of the SP.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { C14N_EXC, DIGEST, SIG, TRANSFORM_ENVELOPED, signingAlgorithm } from '../saml/algorithms.ts';
import { formatSamlTime } from '../saml/time.ts';
import { NS, attr, childElement, escapeXml as x, hasDoctypeOrDeclarations, parseXmlStrict, textOf } from '../saml/xml.ts';

export const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const MAX_REQUEST_BYTES = 64 * 1024;

// --- AuthnRequest ------------------------------------------------------------

export interface ParsedAuthnRequest {
  id: string;
  issuer: string;
  issueInstant?: string;
  destination?: string;
  acsURL?: string;
  protocolBinding?: string;
  relayState?: string;
  forceAuthn: boolean;
  isPassive: boolean;
  nameIDPolicy?: { format?: string; allowCreate?: boolean };
  authnContext?: { comparison?: string; classRefs: string[] };
}

/**
 * Reads an AuthnRequest from the query (HTTP-Redirect: base64 of raw DEFLATE)
 * or the form (HTTP-POST: base64). Values are expected URL-decoded already.
 */
export function parseAuthnRequest(
  params: { SAMLRequest?: string; RelayState?: string },
  binding: 'HTTPRedirect' | 'HTTPPost',
): ParsedAuthnRequest {
  if (!params.SAMLRequest) throw new Error('SAMLRequest is missing');
  const raw = Buffer.from(params.SAMLRequest.replace(/\s+/g, ''), 'base64');
  const bytes = binding === 'HTTPRedirect' ? inflateRawSync(raw, { maxOutputLength: MAX_REQUEST_BYTES }) : raw;
  if (bytes.length > MAX_REQUEST_BYTES) throw new Error('SAMLRequest is too large');
  const xml = bytes.toString('utf8');
  if (hasDoctypeOrDeclarations(xml)) throw new Error('DOCTYPE is not allowed in a SAMLRequest');
  const root = parseXmlStrict(xml).documentElement;
  if (!root || root.localName !== 'AuthnRequest' || root.namespaceURI !== NS.protocol) throw new Error('not a samlp:AuthnRequest');
  const id = attr(root, 'ID');
  if (!id) throw new Error('AuthnRequest has no ID');
  const issuerEl = childElement(root, NS.assertion, 'Issuer');
  const out: ParsedAuthnRequest = {
    id,
    issuer: issuerEl ? textOf(issuerEl) : '',
    forceAuthn: attr(root, 'ForceAuthn') === 'true',
    isPassive: attr(root, 'IsPassive') === 'true',
  };
  const optional = { issueInstant: 'IssueInstant', destination: 'Destination', acsURL: 'AssertionConsumerServiceURL', protocolBinding: 'ProtocolBinding' } as const;
  for (const [key, name] of Object.entries(optional) as Array<[keyof typeof optional, string]>) {
    const v = attr(root, name);
    if (v !== undefined) out[key] = v;
  }
  if (params.RelayState !== undefined) out.relayState = params.RelayState;
  const policy = childElement(root, NS.protocol, 'NameIDPolicy');
  if (policy) {
    const p: { format?: string; allowCreate?: boolean } = {};
    const format = attr(policy, 'Format');
    if (format !== undefined) p.format = format;
    const allowCreate = attr(policy, 'AllowCreate');
    if (allowCreate !== undefined) p.allowCreate = allowCreate === 'true';
    out.nameIDPolicy = p;
  }
  const rac = childElement(root, NS.protocol, 'RequestedAuthnContext');
  if (rac) {
    const classRefs: string[] = [];
    for (let n = rac.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 1 && n.localName === 'AuthnContextClassRef' && n.namespaceURI === NS.assertion) classRefs.push(n.textContent ?? '');
    }
    const comparison = attr(rac, 'Comparison');
    out.authnContext = comparison === undefined ? { classRefs } : { comparison, classRefs };
  }
  return out;
}

// --- Single logout -------------------------------------------------------------

export interface ParsedLogoutRequest {
  id: string;
  issuer: string;
  nameID: string;
  sessionIndex?: string;
  relayState?: string;
}

/** Reads a LogoutRequest sent by HTTP-Redirect (values URL-decoded already). */
export function parseLogoutRequest(params: { SAMLRequest?: string; RelayState?: string }): ParsedLogoutRequest {
  if (!params.SAMLRequest) throw new Error('SAMLRequest is missing');
  const bytes = inflateRawSync(Buffer.from(params.SAMLRequest.replace(/\s+/g, ''), 'base64'), { maxOutputLength: MAX_REQUEST_BYTES });
  const xml = bytes.toString('utf8');
  if (hasDoctypeOrDeclarations(xml)) throw new Error('DOCTYPE is not allowed in a SAMLRequest');
  const root = parseXmlStrict(xml).documentElement;
  if (!root || root.localName !== 'LogoutRequest' || root.namespaceURI !== NS.protocol) throw new Error('not a samlp:LogoutRequest');
  const id = attr(root, 'ID');
  if (!id) throw new Error('LogoutRequest has no ID');
  const issuerEl = childElement(root, NS.assertion, 'Issuer');
  const nameIDEl = childElement(root, NS.assertion, 'NameID');
  const indexEl = childElement(root, NS.protocol, 'SessionIndex');
  const out: ParsedLogoutRequest = { id, issuer: issuerEl ? textOf(issuerEl) : '', nameID: nameIDEl ? textOf(nameIDEl) : '' };
  if (indexEl) out.sessionIndex = textOf(indexEl);
  if (params.RelayState !== undefined) out.relayState = params.RelayState;
  return out;
}

/** A LogoutResponse (status Success) from `issuer` to the SP's SLO endpoint `destination`. */
export function logoutResponseXml(o: { issuer: string; destination: string; inResponseTo: string; now?: Date; status?: string }): string {
  const attrs = [
    `xmlns:samlp="${NS.protocol}"`,
    `xmlns:saml="${NS.assertion}"`,
    `ID="${newSamlId()}"`,
    'Version="2.0"',
    `IssueInstant="${ts(o.now ?? new Date())}"`,
    `Destination="${x(o.destination)}"`,
    `InResponseTo="${x(o.inResponseTo)}"`,
  ];
  return `<samlp:LogoutResponse ${attrs.join(' ')}><saml:Issuer>${x(o.issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="${x(o.status ?? STATUS_SUCCESS)}"/></samlp:Status></samlp:LogoutResponse>`;
}

// --- Response ----------------------------------------------------------------

export interface ResponseOptions {
  /** PEM private key (RSA or EC) and its certificate. */
  signingKeyPem: string;
  signingCertPem: string;
  /** IdP entity ID: the Issuer of the Response and the Assertion. */
  issuer: string;
  /** Override for the Response Issuer; null omits it. */
  responseIssuer?: string | null;
  /** Override for the Assertion Issuer. */
  assertionIssuer?: string;
  /** Audience(s) of the single AudienceRestriction; null omits AudienceRestriction. */
  audience: string | readonly string[] | null;
  /** Response Destination; null omits it. */
  destination: string | null;
  /** SubjectConfirmationData Recipient; null omits it. */
  recipient: string | null;
  /** InResponseTo on both Response and SubjectConfirmationData; null/undefined omits it. */
  inResponseTo?: string | null;
  /** Overrides for one side only (null omits that side). */
  responseInResponseTo?: string | null;
  confirmationInResponseTo?: string | null;
  nameID: string;
  nameIDFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  attributes?: Readonly<Record<string, string | readonly string[]>>;
  /** Issue time (default: now). Other times default relative to it. */
  now?: Date;
  /** Conditions NotBefore (default now - 30 s) / NotOnOrAfter (default now + 5 min); null omits. */
  notBefore?: Date | null;
  notOnOrAfter?: Date | null;
  /** Bearer SubjectConfirmationData NotOnOrAfter (default now + 5 min; null omits) and NotBefore (default absent). */
  confirmationNotOnOrAfter?: Date | null;
  confirmationNotBefore?: Date;
  /** SubjectConfirmation Method (default bearer). */
  confirmationMethod?: string;
  /** AuthnStatement SessionIndex (default: derived from the assertion ID; null omits it). */
  sessionIndex?: string | null;
  sessionNotOnOrAfter?: Date;
  /** Top-level status (default Success) and an optional second-level code. */
  status?: string;
  subStatus?: string;
  /** Which signatures to add (both default true). */
  signResponse?: boolean;
  signAssertion?: boolean;
  /** Hash of signature and digest (default sha256). */
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  /** Certificate put in KeyInfo: default the signing certificate; null: no KeyInfo. */
  keyInfoCertPem?: string | null;
  /** Number of Assertion elements (default 1; extra ones get their own IDs and are unsigned copies). */
  assertionCount?: number;
  assertionID?: string;
  responseID?: string;
  /**
   * Negative tests: rewrites the (first) Assertion XML before it is signed,
   * or the Response XML before the Response signature, so that a test can
   * change one thing the builder has no knob for and keep valid signatures.
   */
  editAssertion?: (xml: string) => string;
  editResponse?: (xml: string) => string;
}

export function newSamlId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

function ts(d: Date): string {
  return formatSamlTime(d);
}

function signatureUri(keyPem: string, algorithm: 'sha1' | 'sha256' | 'sha512'): { sig: string; digest: string } {
  const ec = createPrivateKey(keyPem).asymmetricKeyType === 'ec';
  const sig = ec
    ? { sha1: SIG.ecdsaSha1, sha256: SIG.ecdsaSha256, sha512: SIG.ecdsaSha512 }[algorithm]
    : { sha1: SIG.rsaSha1, sha256: SIG.rsaSha256, sha512: SIG.rsaSha512 }[algorithm];
  return { sig, digest: DIGEST[algorithm] };
}

function assertionXml(o: ResponseOptions, id: string, now: Date): string {
  const plus = (s: number): Date => new Date(now.getTime() + s * 1000);
  const notBefore = o.notBefore === undefined ? plus(-30) : o.notBefore;
  const notOnOrAfter = o.notOnOrAfter === undefined ? plus(300) : o.notOnOrAfter;
  const scNotOnOrAfter = o.confirmationNotOnOrAfter === undefined ? plus(300) : o.confirmationNotOnOrAfter;
  const scInResponseTo = o.confirmationInResponseTo !== undefined ? o.confirmationInResponseTo : o.inResponseTo;

  const scd: string[] = [];
  if (scInResponseTo != null) scd.push(`InResponseTo="${x(scInResponseTo)}"`);
  if (o.confirmationNotBefore) scd.push(`NotBefore="${ts(o.confirmationNotBefore)}"`);
  if (scNotOnOrAfter) scd.push(`NotOnOrAfter="${ts(scNotOnOrAfter)}"`);
  if (o.recipient !== null) scd.push(`Recipient="${x(o.recipient)}"`);

  const cond: string[] = [];
  if (notBefore) cond.push(`NotBefore="${ts(notBefore)}"`);
  if (notOnOrAfter) cond.push(`NotOnOrAfter="${ts(notOnOrAfter)}"`);
  const audiences = o.audience === null ? null : typeof o.audience === 'string' ? [o.audience] : o.audience;
  const audienceXml = audiences === null ? '' : `<saml:AudienceRestriction>${audiences.map((a) => `<saml:Audience>${x(a)}</saml:Audience>`).join('')}</saml:AudienceRestriction>`;

  const authn: string[] = [`AuthnInstant="${ts(now)}"`];
  if (o.sessionIndex !== null) authn.push(`SessionIndex="${x(o.sessionIndex ?? `_s${id.slice(1, 17)}`)}"`);
  if (o.sessionNotOnOrAfter) authn.push(`SessionNotOnOrAfter="${ts(o.sessionNotOnOrAfter)}"`);

  const attrs = Object.entries(o.attributes ?? {});
  const attributeXml =
    attrs.length === 0
      ? ''
      : `<saml:AttributeStatement>${attrs
          .map(([name, v]) => {
            const values = typeof v === 'string' ? [v] : v;
            return `<saml:Attribute Name="${x(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
              .map((val) => `<saml:AttributeValue>${x(val)}</saml:AttributeValue>`)
              .join('')}</saml:Attribute>`;
          })
          .join('')}</saml:AttributeStatement>`;

  return (
    `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${x(id)}" Version="2.0" IssueInstant="${ts(now)}">` +
    `<saml:Issuer>${x(o.assertionIssuer ?? o.issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID${o.nameQualifier ? ` NameQualifier="${x(o.nameQualifier)}"` : ''}${o.spNameQualifier ? ` SPNameQualifier="${x(o.spNameQualifier)}"` : ''}${o.nameIDFormat ? ` Format="${x(o.nameIDFormat)}"` : ''}>${x(o.nameID)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="${x(o.confirmationMethod ?? BEARER)}"><saml:SubjectConfirmationData ${scd.join(' ')}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions ${cond.join(' ')}>${audienceXml}</saml:Conditions>` +
    `<saml:AuthnStatement ${authn.join(' ')}><saml:AuthnContext><saml:AuthnContextClassRef>${PASSWORD_PROTECTED}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    attributeXml +
    `</saml:Assertion>`
  );
}

/**
 * Adds an enveloped signature over the element with `ID=id`, placed right
 * after its Issuer, or as its first child with `first` (an element without
 * an Issuer, for negative tests).
 */
export function signElement(
  xml: string,
  id: string,
  opts: { keyPem: string; keyInfoCertPem: string | null; algorithm?: 'sha1' | 'sha256' | 'sha512'; first?: boolean },
): string {
  const { sig: sigUri, digest } = signatureUri(opts.keyPem, opts.algorithm ?? 'sha256');
  const signer = new SignedXml({
    privateKey: opts.keyPem,
    signatureAlgorithm: sigUri,
    canonicalizationAlgorithm: C14N_EXC,
    ...(opts.keyInfoCertPem ? { publicCert: opts.keyInfoCertPem, getKeyInfoContent: SignedXml.getKeyInfoContent } : {}),
  });
  signer.SignatureAlgorithms = { ...signer.SignatureAlgorithms, [sigUri]: signingAlgorithm(sigUri) };
  const target = `//*[@ID='${id.replace(/'/g, '')}']`;
  signer.addReference({ xpath: target, transforms: [TRANSFORM_ENVELOPED, C14N_EXC], digestAlgorithm: digest });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: opts.first
      ? { reference: target, action: 'prepend' }
      : { reference: `${target}/*[local-name(.)='Issuer' and namespace-uri(.)='${NS.assertion}']`, action: 'after' },
  });
  return signer.getSignedXml();
}

/** The signed Response XML. */
export function buildSignedResponseXml(o: ResponseOptions): string {
  const now = o.now ?? new Date();
  const responseID = o.responseID ?? newSamlId();
  const assertionID = o.assertionID ?? newSamlId();
  const keyInfoCertPem = o.keyInfoCertPem === undefined ? o.signingCertPem : o.keyInfoCertPem;
  const signing = { keyPem: o.signingKeyPem, keyInfoCertPem, algorithm: o.algorithm ?? 'sha256' } as const;
  const count = o.assertionCount ?? 1;

  const assertions: string[] = [];
  if (count > 0) {
    let first = assertionXml(o, assertionID, now);
    if (o.editAssertion) first = o.editAssertion(first);
    if (o.signAssertion !== false) first = signElement(first, assertionID, signing);
    assertions.push(first);
    for (let i = 1; i < count; i++) assertions.push(assertionXml(o, newSamlId(), now));
  }

  const responseIssuer = o.responseIssuer === undefined ? o.issuer : o.responseIssuer;
  const rInResponseTo = o.responseInResponseTo !== undefined ? o.responseInResponseTo : o.inResponseTo;
  const rAttrs = [`xmlns:samlp="${NS.protocol}"`, `xmlns:saml="${NS.assertion}"`, `ID="${x(responseID)}"`, 'Version="2.0"', `IssueInstant="${ts(now)}"`];
  if (o.destination !== null) rAttrs.push(`Destination="${x(o.destination)}"`);
  if (rInResponseTo != null) rAttrs.push(`InResponseTo="${x(rInResponseTo)}"`);
  const status = o.status ?? STATUS_SUCCESS;
  const statusXml = o.subStatus
    ? `<samlp:StatusCode Value="${x(status)}"><samlp:StatusCode Value="${x(o.subStatus)}"/></samlp:StatusCode>`
    : `<samlp:StatusCode Value="${x(status)}"/>`;
  let xml =
    `<samlp:Response ${rAttrs.join(' ')}>` +
    (responseIssuer === null ? '' : `<saml:Issuer>${x(responseIssuer)}</saml:Issuer>`) +
    `<samlp:Status>${statusXml}</samlp:Status>` +
    assertions.join('') +
    `</samlp:Response>`;
  if (o.editResponse) xml = o.editResponse(xml);
  // Without an Issuer (a negative test) the signature goes first.
  if (o.signResponse !== false) xml = signElement(xml, responseID, { ...signing, first: responseIssuer === null });
  return xml;
}

/** The signed Response, base64-encoded as the SAMLResponse form field carries it. */
export function buildSignedResponse(o: ResponseOptions): string {
  return Buffer.from(buildSignedResponseXml(o), 'utf8').toString('base64');
}

/** An auto-submitting HTML form that posts the response to the SP (demo IdP). */
export function postFormHtml(acsURL: string, samlResponse: string, relayState?: string): string {
  const relay = relayState === undefined ? '' : `<input type="hidden" name="RelayState" value="${x(relayState)}"/>`;
  return (
    `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${x(acsURL)}">` +
    `<input type="hidden" name="SAMLResponse" value="${x(samlResponse)}"/>${relay}` +
    `<noscript><button type="submit">Continue</button></noscript></form></body></html>`
  );
}
