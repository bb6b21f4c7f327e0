// SAML 2.0 Single Logout, SP side: the LogoutRequest / LogoutResponse this SP
// sends to the IdP (HTTP-Redirect, signed when the SP has a signing key)
// and validation of the ones the IdP sends (HTTP-Redirect and HTTP-POST).
//
// Order of a validation: size and syntax of the transport, signature, then
// checks on signed content only, the replay cache last. Redirect: the query
// signature is verified over the raw octets before the payload is inflated or
// parsed. POST: the enveloped signature is verified on the parsed document and
// every field is then read from the canonical octets it covers.
import { KeyObject, verify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { Element } from './xml.ts';
import { isSha1Signature, publicKeyOf, signatureMethod } from './algorithms.ts';
import { newRequestId } from './authn-request.ts';
import { maxEncodedLength } from './response-decode.ts';
import { redirectBindingURL } from './sign.ts';
import { verifyEnvelopedSignature } from './signature.ts';
import { formatSamlTime, parseSamlTime } from './time.ts';
import { Rejection, Trail, statusFor } from './trail.ts';
import type { IdpCertificate, LogoutReason, ReplayCache, SamlConnectorConfig, TrailEntry } from './types.ts';
import { NS, XmlParseError, attr, childElements, descendants, escapeXml as x, hasDoctypeOrDeclarations, parseXmlStrict, textOf } from './xml.ts';

// --- public types ----------------------------------------------------------

export type { LogoutReason } from './types.ts';

/**
 * How the message arrived. Redirect: the request URL's raw query string
 * (after '?', still percent-encoded: the signature covers these raw octets).
 * POST: the parsed urlencoded form fields.
 */
export type LogoutMessageInput = { binding: 'HTTPRedirect'; rawQuery: string } | { binding: 'HTTPPost'; form: Record<string, unknown> };

export type LogoutRequestResult =
  | { ok: true; id: string; nameID: string; nameIDFormat?: string; sessionIndexes: string[]; relayState?: string; trail: TrailEntry[] }
  | {
      ok: false;
      reason: LogoutReason;
      status: 400 | 401 | 413;
      message: string;
      trail: TrailEntry[];
      /**
       * Set only when the request's signature verified and a later check
       * failed: the IdP did send it, so the SP answers with a LogoutResponse
       * carrying an error status instead of stopping the IdP's logout chain.
       */
      verified?: { id: string; relayState?: string };
    };

export type LogoutResponseResult =
  | { ok: true; inResponseTo: string; statusCode: string; success: boolean; relayState?: string; signed: boolean; trail: TrailEntry[] }
  | { ok: false; reason: LogoutReason; status: 400 | 401 | 413; message: string; trail: TrailEntry[] };

export const STATUS_PREFIX = 'urn:oasis:names:tc:SAML:2.0:status:';
export const STATUS_SUCCESS = `${STATUS_PREFIX}Success`;

/** How long after its IssueInstant (plus clock skew) a LogoutRequest is accepted. */
export const LOGOUT_REQUEST_MAX_AGE_SECONDS = 300;

/** 413 too large, 400 malformed, 401 any other failed validation (trail.ts statusFor). */
export const logoutStatusFor: (reason: LogoutReason) => 400 | 401 | 413 = statusFor;

class ReplayCacheError extends Error {
  constructor(cause: unknown) {
    super('replay cache failed', { cause });
  }
}

type Failure = { ok: false; reason: LogoutReason; status: 400 | 401 | 413; message: string; trail: TrailEntry[] };

function failureOf(err: unknown, trail: Trail<LogoutReason>): Failure {
  if (err instanceof Rejection) {
    // Only Trail<LogoutReason> throws in this module.
    const r = err as Rejection<LogoutReason>;
    return { ok: false, reason: r.reason, status: r.status, message: r.message, trail: trail.entries };
  }
  // Fail closed on anything unexpected.
  trail.entries.push({ check: 'internal', ok: false, detail: 'unexpected error during validation' });
  return { ok: false, reason: 'MalformedLogoutMessage', status: 400, message: 'logout message could not be processed', trail: trail.entries };
}

// --- transport: HTTP-Redirect ----------------------------------------------

type MessageParam = 'SAMLRequest' | 'SAMLResponse';
const REDIRECT_PARAMS = ['SAMLRequest', 'SAMLResponse', 'RelayState', 'SigAlg', 'Signature'] as const;
type RedirectParam = (typeof REDIRECT_PARAMS)[number];
const isRedirectParam = (k: string): k is RedirectParam => (REDIRECT_PARAMS as readonly string[]).includes(k);

/** application/x-www-form-urlencoded value decoding: '+' is a space, then %XX (UTF-8). Throws URIError. */
function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const isStrictBase64 = (s: string): boolean => s.length > 0 && s.length % 4 === 0 && STRICT_BASE64.test(s);

/** Room in a query, besides the message, for RelayState, SigAlg and Signature (percent-encoded). */
const QUERY_OVERHEAD = 16 * 1024;

/**
 * Splits the raw query into the SAML parameters, keeping each raw
 * (still-encoded) value for the signature octet string. Parameters with other
 * names are ignored (they are never signed, so never used).
 */
function parseRedirectQuery(rawQuery: string, maxBytes: number, trail: Trail<LogoutReason>): Map<RedirectParam, string> {
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  // Resource exhaustion: bound the whole query before splitting or decoding it.
  if (query.length > 3 * maxEncodedLength(maxBytes) + QUERY_OVERHEAD) {
    trail.fail('size', 'LogoutMessageTooLarge', `query string of ${query.length} characters exceeds the limit for ${maxBytes} bytes`);
  }
  const raw = new Map<RedirectParam, string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    let key: string;
    try {
      key = formDecode(rawKey);
    } catch {
      return trail.fail('query', 'MalformedLogoutMessage', 'query string holds a malformed percent-escape');
    }
    if (!isRedirectParam(key)) continue;
    // Parameter pollution: with two values, what the signature covers and
    // what a reader picks could differ.
    if (raw.has(key)) trail.fail('query', 'MalformedLogoutMessage', `${key} appears more than once`);
    raw.set(key, eq < 0 ? '' : pair.slice(eq + 1));
  }
  return raw;
}

function decodeParam(raw: Map<RedirectParam, string>, key: RedirectParam, trail: Trail<LogoutReason>): string | undefined {
  const value = raw.get(key);
  if (value === undefined) return undefined;
  try {
    return formDecode(value);
  } catch {
    return trail.fail('query', 'MalformedLogoutMessage', `${key} holds a malformed percent-escape`);
  }
}

/** Exactly one of SAMLRequest / SAMLResponse, the one this function expects. */
function checkMessageParam(present: (k: MessageParam) => boolean, want: MessageParam, check: 'query' | 'form', trail: Trail<LogoutReason>): void {
  const other: MessageParam = want === 'SAMLRequest' ? 'SAMLResponse' : 'SAMLRequest';
  // Message confusion: a request and a response at once has no single meaning.
  if (present(other)) trail.fail(check, 'MalformedLogoutMessage', `${other} is not expected here${present(want) ? ` next to ${want}` : ''}`);
  if (!present(want)) trail.fail(check, 'MalformedLogoutMessage', `${want} is missing`);
}

interface RedirectMessage {
  xml: string;
  relayState?: string;
  signature?: { algorithm: string; cert: IdpCertificate };
}

/**
 * HTTP-Redirect: query parameters, size, base64, query signature (when
 * present), DEFLATE. The payload is inflated only after the signature
 * verified, so an unauthenticated sender never reaches the inflater or the
 * XML parser with a message we require to be signed.
 */
function decodeRedirect(
  cfg: SamlConnectorConfig,
  rawQuery: string,
  want: MessageParam,
  signatureRequired: boolean,
  trail: Trail<LogoutReason>,
): RedirectMessage {
  const maxBytes = cfg.security.maxResponseBytes;
  const raw = parseRedirectQuery(rawQuery, maxBytes, trail);
  checkMessageParam((k) => raw.has(k), want, 'query', trail);
  const rawMessage = raw.get(want) as string;
  const maxEncoded = maxEncodedLength(maxBytes);
  // Resource exhaustion: refuse an oversized message before decoding it.
  if (rawMessage.length > 3 * maxEncoded) {
    trail.fail('size', 'LogoutMessageTooLarge', `encoded ${want} of ${rawMessage.length} characters exceeds the limit for ${maxBytes} bytes`);
  }
  const encoded = decodeParam(raw, want, trail) as string;
  if (encoded.length > maxEncoded) {
    trail.fail('size', 'LogoutMessageTooLarge', `encoded ${want} of ${encoded.length} characters exceeds the limit for ${maxBytes} bytes`);
  }
  const relayState = decodeParam(raw, 'RelayState', trail);
  const sigAlg = decodeParam(raw, 'SigAlg', trail);
  const signatureValue = decodeParam(raw, 'Signature', trail);
  trail.pass('query', `${want}${relayState !== undefined ? ', RelayState' : ''}${signatureValue !== undefined ? ', Signature' : ''}`);

  if (!isStrictBase64(encoded)) trail.fail('base64', 'MalformedLogoutMessage', `${want} is not valid base64`);
  const deflated = Buffer.from(encoded, 'base64');
  trail.pass('base64', `${deflated.length} bytes deflated`);

  const out: RedirectMessage = { xml: '' };
  if (relayState !== undefined) out.relayState = relayState;
  if (signatureValue !== undefined) {
    out.signature = verifyQuerySignature(cfg, raw, want, sigAlg, signatureValue, trail);
  } else if (signatureRequired) {
    // Forged logout: without a signature any site could end users' sessions
    // by linking to the SLO URL with a crafted LogoutRequest.
    trail.fail('signature', 'SignatureMissing', `${want} carries no Signature query parameter`);
  }

  let bytes: Buffer;
  try {
    // Deflate bomb: the output is capped at the message size limit.
    bytes = inflateRawSync(deflated, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      return trail.fail('size', 'LogoutMessageTooLarge', `inflated ${want} exceeds the limit of ${maxBytes} bytes`);
    }
    return trail.fail('inflate', 'MalformedLogoutMessage', `${want} is not valid raw DEFLATE data`);
  }
  trail.pass('size', `${bytes.length} bytes`);
  out.xml = utf8Text(bytes, want, trail);
  return out;
}

/**
 * The HTTP-Redirect signature (SAML bindings 3.4.4.1): `Signature` over the
 * octets `SAMLRequest=<raw>[&RelayState=<raw>]&SigAlg=<raw>`, built from the
 * values exactly as they appear (still percent-encoded) in the query, in this
 * order whatever their order in the URL. Every signed parameter, RelayState
 * included, is therefore covered; the key comes only from the configured
 * certificates (never from the message).
 */
function verifyQuerySignature(
  cfg: SamlConnectorConfig,
  raw: Map<RedirectParam, string>,
  want: MessageParam,
  sigAlg: string | undefined,
  signatureValue: string,
  trail: Trail<LogoutReason>,
): { algorithm: string; cert: IdpCertificate } {
  if (sigAlg === undefined) trail.fail('signature', 'MalformedLogoutMessage', 'Signature given without SigAlg');
  // Algorithm downgrade: only the algorithms we implement, and SHA-1 (open to
  // collision forgeries) only when explicitly allowed. An unknown SigAlg is a
  // refused algorithm (WeakAlgorithm), not a malformed message. Own keys only:
  // SigAlg=constructor must not find Object.prototype's (node's verify would
  // then pick a default digest).
  const info = signatureMethod(sigAlg);
  if (!info) trail.fail('signature', 'WeakAlgorithm', 'unsupported SigAlg');
  if (isSha1Signature(sigAlg) && !cfg.security.allowSHA1) trail.fail('signature', 'WeakAlgorithm', `SHA-1 refused (SigAlg ${sigAlg})`);
  if (!isStrictBase64(signatureValue)) trail.fail('signature', 'MalformedLogoutMessage', 'Signature is not valid base64');
  const signature = Buffer.from(signatureValue, 'base64');

  const relay = raw.get('RelayState');
  const octets = Buffer.from(
    `${want}=${raw.get(want) ?? ''}${relay !== undefined ? `&RelayState=${relay}` : ''}&SigAlg=${raw.get('SigAlg') ?? ''}`,
    'utf8',
  );
  const keyType = info.ec ? 'ec' : 'rsa';
  const candidates = cfg.idp.certificates.filter((c) => publicKeyOf(c).asymmetricKeyType === keyType);
  if (candidates.length === 0) {
    trail.fail('signature', 'SignatureInvalid', `no configured certificate holds ${info.ec ? 'an EC' : 'an RSA'} key for SigAlg ${sigAlg}`);
  }
  for (const cert of candidates) {
    if (verifyOctets(info.hash, info.ec, octets, publicKeyOf(cert), signature)) {
      trail.pass('signature', `valid, ${cert.fingerprint} (${cert.source}), ${sigAlg}`);
      return { algorithm: sigAlg, cert };
    }
  }
  return trail.fail('signature', 'SignatureInvalid', 'query signature does not verify with any configured certificate');
}

function verifyOctets(hash: string, ec: boolean, data: Buffer, key: KeyObject, signature: Buffer): boolean {
  const attempt = (k: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' | 'der' }) => {
    try {
      return verify(hash, data, k, signature);
    } catch {
      return false;
    }
  };
  if (!ec) return attempt(key);
  // XML-DSig ECDSA signatures are the raw r||s concatenation; Java IdPs
  // (OpenSAML/Shibboleth, via JCA SHA256withECDSA) put DER in the query.
  // Either encodes the same (r, s) under the same key, so both are accepted.
  return attempt({ key, dsaEncoding: 'ieee-p1363' }) || attempt({ key, dsaEncoding: 'der' });
}

// --- transport: HTTP-POST --------------------------------------------------

interface PostMessage {
  xml: string;
  relayState?: string;
}

function singleField(form: Record<string, unknown>, key: string, trail: Trail<LogoutReason>): string | undefined {
  if (!Object.hasOwn(form, key)) return undefined;
  const v = form[key];
  if (v === undefined) return undefined;
  // Parameter pollution: a repeated field arrives as an array.
  if (typeof v !== 'string') return trail.fail('form', 'MalformedLogoutMessage', `${key} must be a single form field`);
  return v;
}

function decodePost(cfg: SamlConnectorConfig, form: Record<string, unknown>, want: MessageParam, trail: Trail<LogoutReason>): PostMessage {
  const maxBytes = cfg.security.maxResponseBytes;
  const present = (k: MessageParam): boolean => Object.hasOwn(form, k) && form[k] !== undefined;
  checkMessageParam(present, want, 'form', trail);
  const encoded = singleField(form, want, trail) as string;
  const relayState = singleField(form, 'RelayState', trail);
  trail.pass('form', `${want}${relayState !== undefined ? ', RelayState' : ''}`);
  // Resource exhaustion: refuse an oversized message before decoding it.
  if (encoded.length > maxEncodedLength(maxBytes)) {
    trail.fail('size', 'LogoutMessageTooLarge', `encoded ${want} of ${encoded.length} characters exceeds the limit of ${maxBytes} bytes`);
  }
  // Line breaks some IdPs insert are tolerated; nothing else.
  const compact = encoded.replace(/[\r\n\t ]+/g, '');
  if (!isStrictBase64(compact)) trail.fail('base64', 'MalformedLogoutMessage', `${want} is not valid base64`);
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length > maxBytes) trail.fail('size', 'LogoutMessageTooLarge', `${want} of ${bytes.length} bytes exceeds the limit of ${maxBytes} bytes`);
  trail.pass('size', `${bytes.length} bytes`);
  const out: PostMessage = { xml: utf8Text(bytes, want, trail) };
  if (relayState !== undefined) out.relayState = relayState;
  return out;
}

// --- XML -------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

function utf8Text(bytes: Buffer, want: MessageParam, trail: Trail<LogoutReason>): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return trail.fail('xml', 'MalformedLogoutMessage', `${want} is not UTF-8 text`);
  }
}

/** DOCTYPE refusal, strict parse, and the root: samlp:<localName>, Version 2.0, non-empty ID. */
function parseRoot(xml: string, localName: 'LogoutRequest' | 'LogoutResponse', trail: Trail<LogoutReason>): Element {
  // XXE, entity expansion and DTD attribute defaults: no DOCTYPE or markup
  // declaration at all (parseXmlStrict alone would accept a DOCTYPE).
  if (hasDoctypeOrDeclarations(xml)) trail.fail('doctype', 'DoctypeForbidden', 'a DOCTYPE or markup declaration is not allowed in a logout message');
  trail.pass('doctype');
  let root: Element;
  try {
    root = parseXmlStrict(xml).documentElement as Element;
  } catch (err) {
    const msg = err instanceof XmlParseError ? (err.message.split('\n')[0] ?? '').slice(0, 120) : 'parse error';
    return trail.fail('xml', 'MalformedLogoutMessage', `not well-formed XML (${msg})`);
  }
  trail.pass('xml');
  // Message confusion: only the expected SAML 2.0 protocol message is read
  // (an AuthnRequest, Response or a look-alike in another namespace is not).
  if (root.localName !== localName || root.namespaceURI !== NS.protocol) {
    trail.fail('root', 'MalformedLogoutMessage', `root element is not samlp:${localName}`);
  }
  if (attr(root, 'Version') !== '2.0') trail.fail('root', 'MalformedLogoutMessage', `${localName} Version must be 2.0`);
  if (!attr(root, 'ID')) trail.fail('root', 'MalformedLogoutMessage', `${localName} has no ID`);
  trail.pass('root');
  return root;
}

/**
 * HTTP-POST: the enveloped signature on the root (verifyEnvelopedSignature:
 * configured certificates only, exactly one Reference to the root itself,
 * no SHA-1 unless allowed). Returns the element to read from: the root
 * re-parsed from the canonical octets the verified digest covers, so nothing
 * outside the signature (added around, inside the Signature element, or by a
 * second parse of the received text) is ever read. Undefined when unsigned.
 */
function verifyPostSignature(cfg: SamlConnectorConfig, root: Element, trail: Trail<LogoutReason>): { signed: Element } | undefined {
  const result = verifyEnvelopedSignature(root, cfg.idp.certificates, cfg.security.allowSHA1);
  if (result.status === 'absent') return undefined;
  if (result.status === 'invalid') trail.fail('signature', result.reason, result.detail);
  trail.pass('signature', `valid, ${result.cert.fingerprint} (${result.cert.source}), ${result.algorithm}`);
  let signed: Element | undefined;
  try {
    signed = parseXmlStrict(result.signedXml).documentElement ?? undefined;
  } catch (err) {
    if (!(err instanceof XmlParseError)) throw err;
  }
  if (!signed || signed.localName !== root.localName || signed.namespaceURI !== NS.protocol || attr(signed, 'ID') !== attr(root, 'ID')) {
    trail.fail('signedContent', 'SignatureInvalid', `signed content is not the expected ${root.localName}`);
  }
  trail.pass('signedContent');
  return { signed };
}

// --- content checks --------------------------------------------------------

const ENTITY_FORMAT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';

/**
 * Exactly one saml:Issuer, the configured IdP (entity format if any). Defends
 * against a message minted by another IdP whose certificate we also happen to
 * trust, or meant for another federation.
 */
function checkIssuer(cfg: SamlConnectorConfig, msg: Element, trail: Trail<LogoutReason>): void {
  const issuers = childElements(msg, NS.assertion, 'Issuer');
  if (issuers.length !== 1) trail.fail('issuer', 'IssuerMismatch', `${msg.localName} must carry exactly one Issuer, found ${issuers.length}`);
  const issuer = issuers[0] as Element;
  const format = attr(issuer, 'Format');
  if (format !== undefined && format !== ENTITY_FORMAT) trail.fail('issuer', 'IssuerMismatch', 'Issuer Format is not the entity format');
  if (textOf(issuer) !== cfg.idp.entityID) trail.fail('issuer', 'IssuerMismatch', 'Issuer is not the configured IdP');
  trail.pass('issuer');
}

/**
 * Destination names this SP's SLO endpoint. Defends against forwarding: a
 * message the IdP signed for another SP (or another connector of this one)
 * replayed here. Required on a LogoutRequest (SAML core requires it on
 * signed messages); on a LogoutResponse checked when present.
 */
function checkDestination(cfg: SamlConnectorConfig, msg: Element, required: boolean, trail: Trail<LogoutReason>): void {
  const destination = attr(msg, 'Destination');
  if (destination === undefined) {
    if (required) trail.fail('destination', 'DestinationMismatch', `${msg.localName} carries no Destination`);
    trail.pass('destination', 'absent');
    return;
  }
  if (cfg.sloURL === undefined || destination !== cfg.sloURL) {
    trail.fail('destination', 'DestinationMismatch', 'Destination is not this SLO endpoint');
  }
  trail.pass('destination', 'matches');
}

/**
 * Freshness of a LogoutRequest: issued within the last 300 s (plus skew), not
 * in the future, NotOnOrAfter (if any) not passed. Bounds how long a captured
 * request can be replayed and how long the replay cache must remember it.
 * Returns IssueInstant in epoch milliseconds.
 */
function checkRequestTime(cfg: SamlConnectorConfig, msg: Element, now: Date, trail: Trail<LogoutReason>): number {
  const nowMs = now.getTime();
  const skewMs = cfg.clockSkewSeconds * 1000;
  const rawInstant = attr(msg, 'IssueInstant');
  if (rawInstant === undefined) trail.fail('issueInstant', 'MalformedLogoutMessage', 'LogoutRequest has no IssueInstant');
  const issued = parseSamlTime(rawInstant);
  if (issued === undefined) return trail.fail('issueInstant', 'MalformedLogoutMessage', 'IssueInstant is not a UTC xs:dateTime');
  if (issued > nowMs + skewMs) trail.fail('issueInstant', 'LogoutRequestNotYetValid', 'IssueInstant is in the future');
  if (issued < nowMs - skewMs - LOGOUT_REQUEST_MAX_AGE_SECONDS * 1000) {
    trail.fail('issueInstant', 'LogoutRequestExpired', `LogoutRequest was issued more than ${LOGOUT_REQUEST_MAX_AGE_SECONDS} s ago`);
  }
  trail.pass('issueInstant');
  const rawNotOnOrAfter = attr(msg, 'NotOnOrAfter');
  if (rawNotOnOrAfter !== undefined) {
    const notOnOrAfter = parseSamlTime(rawNotOnOrAfter);
    if (notOnOrAfter === undefined) trail.fail('notOnOrAfter', 'MalformedLogoutMessage', 'NotOnOrAfter is not a UTC xs:dateTime');
    if (notOnOrAfter <= nowMs - skewMs) trail.fail('notOnOrAfter', 'LogoutRequestExpired', 'LogoutRequest NotOnOrAfter has passed');
    trail.pass('notOnOrAfter');
  }
  return issued;
}

/**
 * The principal whose sessions end: exactly one plain NameID with text.
 * EncryptedID cannot be read (no SP decryption key) and is refused rather
 * than treated as "no one"; two NameIDs would leave the choice to the reader.
 */
function readNameID(msg: Element, trail: Trail<LogoutReason>): { nameID: string; nameIDFormat?: string } {
  if (childElements(msg, NS.assertion, 'EncryptedID').length > 0) {
    trail.fail('nameID', 'EncryptedIDUnsupported', 'encrypted NameIDs are not supported');
  }
  const nameIDs = childElements(msg, NS.assertion, 'NameID');
  if (nameIDs.length > 1) trail.fail('nameID', 'MalformedLogoutMessage', 'LogoutRequest carries several NameID elements');
  const el = nameIDs[0];
  if (!el) return trail.fail('nameID', 'NameIDMissing', 'LogoutRequest carries no NameID');
  const nameID = textOf(el);
  if (nameID.trim() === '') trail.fail('nameID', 'NameIDMissing', 'NameID is empty');
  const format = attr(el, 'Format');
  trail.pass('nameID', format);
  return format === undefined ? { nameID } : { nameID, nameIDFormat: format };
}

// --- validation ------------------------------------------------------------

/**
 * Validates a LogoutRequest sent by the IdP. It must be signed (query
 * signature on Redirect, enveloped on POST) by a configured certificate.
 * The replay cache is consulted last, so junk never fills it. When the
 * replay cache throws, the returned promise rejects with that error (the
 * caller answers 503). On POST, RelayState is outside the signature; on
 * Redirect it is covered by it.
 */
export async function validateLogoutRequest(
  cfg: SamlConnectorConfig,
  input: LogoutMessageInput,
  opts: { now: Date; replay: ReplayCache },
): Promise<LogoutRequestResult> {
  const trail: Trail<LogoutReason> = new Trail<LogoutReason>();
  let verified: { id: string; relayState?: string } | undefined;
  try {
    let msg: Element;
    let relayState: string | undefined;
    if (input.binding === 'HTTPRedirect') {
      const m = decodeRedirect(cfg, input.rawQuery, 'SAMLRequest', true, trail);
      relayState = m.relayState;
      // The whole payload is covered by the query signature verified above.
      msg = parseRoot(m.xml, 'LogoutRequest', trail);
    } else {
      const m = decodePost(cfg, input.form, 'SAMLRequest', trail);
      relayState = m.relayState;
      const root = parseRoot(m.xml, 'LogoutRequest', trail);
      const verified = verifyPostSignature(cfg, root, trail);
      // Forged logout: see decodeRedirect.
      if (!verified) return trail.fail('signature', 'SignatureMissing', 'LogoutRequest carries no enveloped signature');
      msg = verified.signed;
    }
    const id = attr(msg, 'ID') as string;
    verified = relayState === undefined ? { id } : { id, relayState };
    checkIssuer(cfg, msg, trail);
    checkDestination(cfg, msg, true, trail);
    const issuedMs = checkRequestTime(cfg, msg, opts.now, trail);
    const name = readNameID(msg, trail);
    const sessionIndexes = childElements(msg, NS.protocol, 'SessionIndex').map(textOf);
    trail.pass('sessionIndex', `${sessionIndexes.length}`);

    // Replay: the same signed LogoutRequest sent again (from a log, history or
    // a proxy) to end a later session. Kept as long as it could be accepted.
    const expiresAt = Math.ceil(issuedMs / 1000) + LOGOUT_REQUEST_MAX_AGE_SECONDS + 2 * cfg.clockSkewSeconds;
    let fresh: boolean;
    try {
      fresh = await opts.replay.remember(`logout:${id}`, expiresAt);
    } catch (err) {
      throw new ReplayCacheError(err);
    }
    if (!fresh) trail.fail('replay', 'ReplayDetected', 'this LogoutRequest ID was already used');
    trail.pass('replay');

    const out: LogoutRequestResult = { ok: true, id, nameID: name.nameID, sessionIndexes, trail: trail.entries };
    if (name.nameIDFormat !== undefined) out.nameIDFormat = name.nameIDFormat;
    if (relayState !== undefined) out.relayState = relayState;
    return out;
  } catch (err) {
    // The replay store failing (e.g. Redis down) is an outage, not a bad message.
    if (err instanceof ReplayCacheError) throw err.cause;
    const failure: LogoutRequestResult = failureOf(err, trail);
    if (verified) failure.verified = verified;
    return failure;
  }
}

/**
 * Validates the IdP's LogoutResponse to our LogoutRequest `expectedInResponseTo`.
 * A signature is optional (the only outcome is a redirect to a target the SP
 * chose itself, bound to its own pending logout by InResponseTo) but when
 * present it must verify; `signed` tells which. A non-success status is a
 * valid result with `success: false`.
 */
export function validateLogoutResponse(
  cfg: SamlConnectorConfig,
  input: LogoutMessageInput,
  opts: { now: Date; expectedInResponseTo: string },
): LogoutResponseResult {
  const trail: Trail<LogoutReason> = new Trail<LogoutReason>();
  try {
    let msg: Element;
    let relayState: string | undefined;
    let signed: boolean;
    if (input.binding === 'HTTPRedirect') {
      const m = decodeRedirect(cfg, input.rawQuery, 'SAMLResponse', false, trail);
      relayState = m.relayState;
      msg = parseRoot(m.xml, 'LogoutResponse', trail);
      signed = m.signature !== undefined;
      if (!signed) {
        // The Redirect binding carries its signature in the query; an XML
        // signature left in the payload is never trusted there, and a sender
        // that thinks it signed must not be reported as signed.
        if (descendants(msg, NS.dsig, 'Signature').length > 0) {
          trail.fail('signature', 'SignatureMissing', 'an XML signature inside a Redirect payload is not accepted; the query carries no Signature');
        }
        trail.pass('signature', 'absent');
      }
    } else {
      const m = decodePost(cfg, input.form, 'SAMLResponse', trail);
      relayState = m.relayState;
      const root = parseRoot(m.xml, 'LogoutResponse', trail);
      const verified = verifyPostSignature(cfg, root, trail);
      signed = verified !== undefined;
      if (!verified) trail.pass('signature', 'absent');
      msg = verified ? verified.signed : root;
    }
    // No freshness rule (opts.now unused): InResponseTo binds a response to our own pending logout.
    checkIssuer(cfg, msg, trail);
    checkDestination(cfg, msg, false, trail);

    // Binds the answer to the logout this browser started (defends against a
    // response for someone else's logout, or an old one, being fed here).
    const inResponseTo = attr(msg, 'InResponseTo');
    if (opts.expectedInResponseTo === '' || inResponseTo !== opts.expectedInResponseTo) {
      trail.fail('inResponseTo', 'InResponseToMismatch', inResponseTo === undefined ? 'LogoutResponse has no InResponseTo' : 'InResponseTo does not match the pending logout');
    }
    trail.pass('inResponseTo', 'matches');

    const statuses = childElements(msg, NS.protocol, 'Status');
    const codes = statuses.length === 1 ? childElements(statuses[0] as Element, NS.protocol, 'StatusCode') : [];
    const statusCode = codes.length === 1 ? attr(codes[0] as Element, 'Value') : undefined;
    if (!statusCode) return trail.fail('status', 'MalformedLogoutMessage', 'LogoutResponse has no Status/StatusCode/@Value');
    const success = statusCode === STATUS_SUCCESS;
    trail.pass('status', statusCode.startsWith(STATUS_PREFIX) ? statusCode.slice(STATUS_PREFIX.length) : 'other');

    const out: LogoutResponseResult = { ok: true, inResponseTo: opts.expectedInResponseTo, statusCode, success, signed, trail: trail.entries };
    if (relayState !== undefined) out.relayState = relayState;
    return out;
  } catch (err) {
    return failureOf(err, trail);
  }
}

/** Which message parameter a request carries, without validating anything (for routing GET/POST /slo). */
export function logoutMessageKind(input: LogoutMessageInput): 'request' | 'response' | 'none' | 'ambiguous' {
  let hasRequest = false;
  let hasResponse = false;
  if (input.binding === 'HTTPRedirect') {
    const query = input.rawQuery.startsWith('?') ? input.rawQuery.slice(1) : input.rawQuery;
    for (const pair of query.split('&')) {
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      let key = rawKey;
      try {
        key = formDecode(rawKey);
      } catch {
        // Left to the validator, which refuses it.
      }
      if (key === 'SAMLRequest') hasRequest = true;
      else if (key === 'SAMLResponse') hasResponse = true;
    }
  } else {
    hasRequest = Object.hasOwn(input.form, 'SAMLRequest') && input.form.SAMLRequest !== undefined;
    hasResponse = Object.hasOwn(input.form, 'SAMLResponse') && input.form.SAMLResponse !== undefined;
  }
  if (hasRequest && hasResponse) return 'ambiguous';
  return hasRequest ? 'request' : hasResponse ? 'response' : 'none';
}

// --- building --------------------------------------------------------------

export interface LogoutRequestParams {
  requestId: string;
  nameID: string;
  nameIDFormat?: string;
  /** Echoed as the IdP gave them in the assertion's NameID. */
  nameQualifier?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
  relayState: string;
  now: Date;
}

export interface LogoutResponseParams {
  inResponseTo: string;
  statusCode?: 'Success' | 'Requester' | 'Responder';
  relayState?: string;
  now: Date;
  /** The response's ID; a fresh newRequestId() when omitted. */
  id?: string;
}

function idpSloURL(cfg: SamlConnectorConfig): string {
  const url = cfg.idp.sloURL;
  if (url === undefined) throw new Error(`connector ${cfg.key}: the IdP has no single-logout URL`);
  return url;
}

export function buildLogoutRequestXml(cfg: SamlConnectorConfig, p: Omit<LogoutRequestParams, 'relayState'>): string {
  const attrs = [
    `xmlns:samlp="${NS.protocol}"`,
    `xmlns:saml="${NS.assertion}"`,
    `ID="${x(p.requestId)}"`,
    'Version="2.0"',
    `IssueInstant="${formatSamlTime(p.now)}"`,
    `Destination="${x(idpSloURL(cfg))}"`,
  ];
  let body = `<saml:Issuer>${x(cfg.spEntityID)}</saml:Issuer>`;
  const nameIDAttrs =
    (p.nameQualifier !== undefined ? ` NameQualifier="${x(p.nameQualifier)}"` : '') +
    (p.spNameQualifier !== undefined ? ` SPNameQualifier="${x(p.spNameQualifier)}"` : '') +
    (p.nameIDFormat !== undefined ? ` Format="${x(p.nameIDFormat)}"` : '');
  body += `<saml:NameID${nameIDAttrs}>${x(p.nameID)}</saml:NameID>`;
  if (p.sessionIndex !== undefined) body += `<samlp:SessionIndex>${x(p.sessionIndex)}</samlp:SessionIndex>`;
  return `<samlp:LogoutRequest ${attrs.join(' ')}>${body}</samlp:LogoutRequest>`;
}

export function buildLogoutResponseXml(cfg: SamlConnectorConfig, p: Omit<LogoutResponseParams, 'relayState'> & { id: string }): string {
  const attrs = [
    `xmlns:samlp="${NS.protocol}"`,
    `xmlns:saml="${NS.assertion}"`,
    `ID="${x(p.id)}"`,
    'Version="2.0"',
    `IssueInstant="${formatSamlTime(p.now)}"`,
    `Destination="${x(idpSloURL(cfg))}"`,
    `InResponseTo="${x(p.inResponseTo)}"`,
  ];
  const body =
    `<saml:Issuer>${x(cfg.spEntityID)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS_PREFIX}${p.statusCode ?? 'Success'}"/></samlp:Status>`;
  return `<samlp:LogoutResponse ${attrs.join(' ')}>${body}</samlp:LogoutResponse>`;
}

/**
 * SP-initiated: the LogoutRequest sent to cfg.idp.sloURL by HTTP-Redirect
 * (DEFLATE + base64 `SAMLRequest`, `RelayState`). Throws if cfg.idp.sloURL is
 * unset. Signed over the query with the SP signing key when one is configured
 * (SAML profiles 4.4.4.1 want logout messages signed; IdPs such as ADFS,
 * Okta and Keycloak refuse unsigned ones).
 */
export function buildLogoutRequest(cfg: SamlConnectorConfig, p: LogoutRequestParams): { url: string; xml: string } {
  const xml = buildLogoutRequestXml(cfg, p);
  return { url: redirectBindingURL(idpSloURL(cfg), 'SAMLRequest', xml, p.relayState, cfg.spSigning), xml };
}

/**
 * Answer to an IdP LogoutRequest, by HTTP-Redirect to cfg.idp.sloURL
 * (`SAMLResponse`, RelayState echoed when given). Throws if cfg.idp.sloURL is
 * unset. statusCode defaults to Success. `id` is the response's own ID.
 * Signed like buildLogoutRequest.
 */
export function buildLogoutResponse(cfg: SamlConnectorConfig, p: LogoutResponseParams): { url: string; xml: string; id: string } {
  const id = p.id ?? newRequestId();
  const xml = buildLogoutResponseXml(cfg, { ...p, id });
  return { url: redirectBindingURL(idpSloURL(cfg), 'SAMLResponse', xml, p.relayState, cfg.spSigning), xml, id };
}
