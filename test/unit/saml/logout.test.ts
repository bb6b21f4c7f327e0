// SAML 2.0 Single Logout, SP side: building LogoutRequest / LogoutResponse,
// and validating the ones the IdP sends over HTTP-Redirect and HTTP-POST.
// Every security check has a test that fails exactly that check (one failed
// trail entry, the last one).
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { beforeAll, describe, it } from '@jest/globals';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Element } from '../../../src/saml/xml.ts';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { signElement } from '../../../src/demo-idp/saml-idp.ts';
import { SIG, SIGNATURE_METHODS } from '../../../src/saml/algorithms.ts';
import {
  buildLogoutRequest,
  buildLogoutRequestXml,
  buildLogoutResponse,
  logoutMessageKind,
  logoutStatusFor,
  validateLogoutRequest,
  validateLogoutResponse,
} from '../../../src/saml/logout.ts';
import type { LogoutMessageInput, LogoutReason, LogoutRequestResult, LogoutResponseResult } from '../../../src/saml/logout.ts';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';
import { formatSamlTime } from '../../../src/saml/time.ts';
import type { ReplayCache, SamlConnectorConfig } from '../../../src/saml/types.ts';
import { NS, childElement, childElements, parseXmlStrict } from '../../../src/saml/xml.ts';
import { IDP_ENTITY_ID, SP_ENTITY_ID, certificatesOf, makeConfig, signingIdentity } from '../../support/saml-fixtures.ts';

const SP_SLO_URL = 'https://sp.example.test/saml/default/demo/slo';
const IDP_SLO_URL = 'https://idp.example.test/slo';
const NAME_ID = 'alice@example.com';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const PENDING = '_pending0123456789abcdef01234567';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

let idp: SigningIdentity;
let idpEc: SigningIdentity;
let attacker: SigningIdentity;
let cfg: SamlConnectorConfig;

type ConfigOverrides = Parameters<typeof makeConfig>[1] & {};

/** This SP's connector: SLO endpoint SP_SLO_URL, the IdP's at IDP_SLO_URL, trusting `certs`. */
function spConfig(certs = certificatesOf(idp), overrides: ConfigOverrides = {}): SamlConnectorConfig {
  return makeConfig(certs, { sloURL: SP_SLO_URL, ...overrides, idp: { sloURL: IDP_SLO_URL, ...overrides.idp } });
}

/** The IdP's point of view, to build IdP-sent messages with the SP's own builders (roles swapped). */
function idpSide(): SamlConnectorConfig {
  return makeConfig([], { spEntityID: IDP_ENTITY_ID, idp: { entityID: SP_ENTITY_ID, sloURL: SP_SLO_URL } });
}

beforeAll(async () => {
  idp = await signingIdentity();
  idpEc = await signingIdentity('idp-ec', 'EC');
  attacker = await signingIdentity('attacker');
  cfg = spConfig();
});

// --- message builders (as the IdP would send them) ---------------------------

let counter = 0;
const freshId = (): string => `_logout${String(++counter).padStart(25, '0')}`;
const seconds = (now: Date, s: number): Date => new Date(now.getTime() + s * 1000);

interface RequestXmlOptions {
  id?: string;
  root?: string;
  ns?: string;
  version?: string | null;
  issueInstant?: Date | string | null;
  notOnOrAfter?: Date | string;
  destination?: string | null;
  /** Replaces the Issuer element(s); '' for none. */
  issuerXml?: string;
  /** Replaces the NameID element(s); '' for none. */
  nameIDXml?: string;
  sessionIndexes?: string[];
  now?: Date;
}

function time(v: Date | string): string {
  return typeof v === 'string' ? v : formatSamlTime(v);
}

/** A LogoutRequest from the IdP that passes every check against spConfig(); each part can be changed. */
function requestXml(o: RequestXmlOptions = {}): string {
  const now = o.now ?? new Date();
  const a = [`xmlns:samlp="${o.ns ?? NS.protocol}"`, `xmlns:saml="${NS.assertion}"`, `ID="${o.id ?? freshId()}"`];
  if (o.version !== null) a.push(`Version="${o.version ?? '2.0'}"`);
  if (o.issueInstant !== null) a.push(`IssueInstant="${time(o.issueInstant ?? now)}"`);
  if (o.notOnOrAfter !== undefined) a.push(`NotOnOrAfter="${time(o.notOnOrAfter)}"`);
  if (o.destination !== null) a.push(`Destination="${o.destination ?? SP_SLO_URL}"`);
  const issuer = o.issuerXml ?? `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer>`;
  const nameID = o.nameIDXml ?? `<saml:NameID Format="${EMAIL_FORMAT}">${NAME_ID}</saml:NameID>`;
  const indexes = (o.sessionIndexes ?? ['_session1']).map((s) => `<samlp:SessionIndex>${s}</samlp:SessionIndex>`).join('');
  const root = o.root ?? 'LogoutRequest';
  return `<samlp:${root} ${a.join(' ')}>${issuer}${nameID}${indexes}</samlp:${root}>`;
}

interface ResponseXmlOptions {
  id?: string;
  inResponseTo?: string | null;
  destination?: string | null;
  issuerXml?: string;
  statusXml?: string;
}

/** A LogoutResponse from the IdP answering PENDING. */
function responseXml(o: ResponseXmlOptions = {}): string {
  const a = [`xmlns:samlp="${NS.protocol}"`, `xmlns:saml="${NS.assertion}"`, `ID="${o.id ?? freshId()}"`, 'Version="2.0"', `IssueInstant="${formatSamlTime(new Date())}"`];
  if (o.destination !== null) a.push(`Destination="${o.destination ?? SP_SLO_URL}"`);
  if (o.inResponseTo !== null) a.push(`InResponseTo="${o.inResponseTo ?? PENDING}"`);
  const issuer = o.issuerXml ?? `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer>`;
  const status = o.statusXml ?? `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status>`;
  return `<samlp:LogoutResponse ${a.join(' ')}>${issuer}${status}</samlp:LogoutResponse>`;
}

const enc = encodeURIComponent;
const deflate64 = (xml: string | Buffer): string => deflateRawSync(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml).toString('base64');
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const idOf = (xml: string): string => /\sID="([^"]*)"/.exec(xml)?.[1] ?? '';

const HASH_NAMES = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' } as const;

/** Appends SigAlg and Signature to a query as an IdP does: the signature covers `query&SigAlg=<enc>` exactly. */
function signQuery(query: string, key: SigningIdentity, o: { sigAlg?: string; der?: boolean } = {}): string {
  const pk = createPrivateKey(key.keyPem);
  const ec = pk.asymmetricKeyType === 'ec';
  const alg = o.sigAlg ?? (ec ? SIG.ecdsaSha256 : SIG.rsaSha256);
  const signed = `${query}&SigAlg=${enc(alg)}`;
  const hash = HASH_NAMES[(Object.hasOwn(SIGNATURE_METHODS, alg) ? SIGNATURE_METHODS[alg]?.hash : undefined) ?? 'sha256'];
  const value = sign(hash, Buffer.from(signed, 'utf8'), ec && !o.der ? { key: pk, dsaEncoding: 'ieee-p1363' } : pk).toString('base64');
  return `${signed}&Signature=${enc(value)}`;
}

interface RedirectOptions {
  /** Signing identity; null for an unsigned message (default: the IdP). */
  key?: SigningIdentity | null;
  sigAlg?: string;
  der?: boolean;
  relayState?: string;
  param?: 'SAMLRequest' | 'SAMLResponse';
  /** The base64 value of the message parameter instead of DEFLATE(xml). */
  payload?: string;
}

function redirectQuery(xml: string, o: RedirectOptions = {}): string {
  const parts = [`${o.param ?? 'SAMLRequest'}=${enc(o.payload ?? deflate64(xml))}`];
  if (o.relayState !== undefined) parts.push(`RelayState=${enc(o.relayState)}`);
  const key = o.key === undefined ? idp : o.key;
  const query = parts.join('&');
  if (key === null) return query;
  return signQuery(query, key, { ...(o.sigAlg !== undefined ? { sigAlg: o.sigAlg } : {}), ...(o.der ? { der: true } : {}) });
}

function redirect(xml: string, o: RedirectOptions = {}): LogoutMessageInput {
  return { binding: 'HTTPRedirect', rawQuery: redirectQuery(xml, o) };
}

interface PostOptions {
  key?: SigningIdentity | null;
  /** Certificate PEM put in KeyInfo (default: the signer's); null for none. */
  keyInfo?: string | null;
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  relayState?: string;
  param?: 'SAMLRequest' | 'SAMLResponse';
}

function signedXml(xml: string, o: PostOptions = {}): string {
  const key = o.key === undefined ? idp : o.key;
  if (key === null) return xml;
  const keyInfoCertPem = o.keyInfo === undefined ? key.certPem : o.keyInfo;
  return signElement(xml, idOf(xml), { keyPem: key.keyPem, keyInfoCertPem, algorithm: o.algorithm ?? 'sha256' });
}

function postForm(xmlOrSigned: string, o: PostOptions = {}): LogoutMessageInput {
  const form: Record<string, unknown> = { [o.param ?? 'SAMLRequest']: b64(xmlOrSigned) };
  if (o.relayState !== undefined) form.RelayState = o.relayState;
  return { binding: 'HTTPPost', form };
}

function post(xml: string, o: PostOptions = {}): LogoutMessageInput {
  return postForm(signedXml(xml, o), o);
}

// --- validation helpers ------------------------------------------------------

function validateRequest(input: LogoutMessageInput, o: { cfg?: SamlConnectorConfig; now?: Date; replay?: ReplayCache } = {}): Promise<LogoutRequestResult> {
  return validateLogoutRequest(o.cfg ?? cfg, input, { now: o.now ?? new Date(), replay: o.replay ?? new MemoryReplayCache() });
}

function validateResponse(input: LogoutMessageInput, o: { cfg?: SamlConnectorConfig; expected?: string } = {}): LogoutResponseResult {
  return validateLogoutResponse(o.cfg ?? cfg, input, { now: new Date(), expectedInResponseTo: o.expected ?? PENDING });
}

type AnyResult = LogoutRequestResult | LogoutResponseResult;

/** A failed validation with exactly `reason` and its status, failing one check only (the last trail entry). */
function assertRejected(result: AnyResult, reason: LogoutReason, check?: string): void {
  if (result.ok) assert.fail(`expected ${reason}, but the message was accepted`);
  assert.equal(result.reason, reason, `expected ${reason}, got ${result.reason}: ${result.message}`);
  assert.equal(result.status, logoutStatusFor(reason));
  const failures = result.trail.filter((e) => !e.ok);
  assert.equal(failures.length, 1, 'exactly one failed check');
  assert.equal(result.trail.at(-1)?.ok, false, 'the failed check ends the trail');
  if (check !== undefined) assert.equal(result.trail.at(-1)?.check, check);
  assert.doesNotMatch(result.message, /<|MII/);
}

function accepted<T extends AnyResult>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) assert.fail(`expected acceptance, got ${result.reason}: ${result.message} ${JSON.stringify(result.trail)}`);
  assert.ok(result.trail.every((e) => e.ok));
  return result as Extract<T, { ok: true }>;
}

class RecordingCache implements ReplayCache {
  readonly calls: Array<[string, number]> = [];
  private readonly inner = new MemoryReplayCache();
  async remember(id: string, expiresAt: number): Promise<boolean> {
    this.calls.push([id, expiresAt]);
    return this.inner.remember(id, expiresAt);
  }
}

// --- tests ---------------------------------------------------------------------

describe('logoutStatusFor', () => {
  it('413 for too large, 400 for malformed and DOCTYPE, 401 for every other reason', () => {
    const all: LogoutReason[] = [
      'LogoutMessageTooLarge', 'MalformedLogoutMessage', 'DoctypeForbidden', 'SignatureMissing', 'SignatureInvalid',
      'CertificateNotTrusted', 'WeakAlgorithm', 'IssuerMismatch', 'DestinationMismatch', 'LogoutRequestExpired',
      'LogoutRequestNotYetValid', 'NameIDMissing', 'EncryptedIDUnsupported', 'InResponseToMismatch', 'ReplayDetected',
    ];
    for (const r of all) {
      const want = r === 'LogoutMessageTooLarge' ? 413 : r === 'MalformedLogoutMessage' || r === 'DoctypeForbidden' ? 400 : 401;
      assert.equal(logoutStatusFor(r), want, r);
    }
  });
});

describe('logoutMessageKind', () => {
  it('tells request, response, none and ambiguous apart on both bindings', () => {
    const r = (rawQuery: string): LogoutMessageInput => ({ binding: 'HTTPRedirect', rawQuery });
    const p = (form: Record<string, unknown>): LogoutMessageInput => ({ binding: 'HTTPPost', form });
    assert.equal(logoutMessageKind(r('SAMLRequest=abc&RelayState=x')), 'request');
    assert.equal(logoutMessageKind(r('RelayState=x&SAMLResponse=abc')), 'response');
    assert.equal(logoutMessageKind(r('RelayState=%2Fhome')), 'none');
    assert.equal(logoutMessageKind(r('')), 'none');
    assert.equal(logoutMessageKind(r('SAMLRequest=a&SAMLResponse=b')), 'ambiguous');
    assert.equal(logoutMessageKind(r('SAML%52equest=a')), 'request', 'names are percent-decoded');
    assert.equal(logoutMessageKind(r('SAMLRequest=%ZZ')), 'request', 'values are not looked at');
    assert.equal(logoutMessageKind(p({ SAMLRequest: 'abc' })), 'request');
    assert.equal(logoutMessageKind(p({ SAMLResponse: ['a', 'b'] })), 'response');
    assert.equal(logoutMessageKind(p({ RelayState: 'x' })), 'none');
    assert.equal(logoutMessageKind(p({ SAMLRequest: 'a', SAMLResponse: 'b' })), 'ambiguous');
  });
});

describe('buildLogoutRequest', () => {
  const now = new Date('2030-01-02T03:04:05.678Z');
  const params = { requestId: '_0123456789abcdef0123456789abcdef', nameID: NAME_ID, nameIDFormat: EMAIL_FORMAT, sessionIndex: '_s1', relayState: 'state-1', now };

  it('HTTP-Redirect to the IdP SLO URL with DEFLATE+base64 SAMLRequest and RelayState', () => {
    const out = buildLogoutRequest(cfg, params);
    assert.ok(out.url.startsWith(`${IDP_SLO_URL}?SAMLRequest=`));
    const u = new URL(out.url);
    assert.deepEqual([...u.searchParams.keys()], ['SAMLRequest', 'RelayState']);
    assert.equal(u.searchParams.get('RelayState'), 'state-1');
    const xml = inflateRawSync(Buffer.from(u.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    assert.equal(xml, out.xml);
    const root = parseXmlStrict(xml).documentElement as Element;
    assert.equal(root.localName, 'LogoutRequest');
    assert.equal(root.namespaceURI, NS.protocol);
    assert.equal(root.getAttribute('ID'), params.requestId);
    assert.equal(root.getAttribute('Version'), '2.0');
    assert.equal(root.getAttribute('IssueInstant'), '2030-01-02T03:04:05Z');
    assert.equal(root.getAttribute('Destination'), IDP_SLO_URL);
    assert.equal(childElement(root, NS.assertion, 'Issuer')?.textContent, SP_ENTITY_ID);
    const nameID = childElement(root, NS.assertion, 'NameID');
    assert.equal(nameID?.textContent, NAME_ID);
    assert.equal(nameID?.getAttribute('Format'), EMAIL_FORMAT);
    assert.deepEqual(childElements(root, NS.protocol, 'SessionIndex').map((e) => e.textContent), ['_s1']);
  });

  it('leaves out Format and SessionIndex when not given', () => {
    const { xml } = buildLogoutRequest(cfg, { requestId: '_a', nameID: NAME_ID, relayState: 's', now });
    const root = parseXmlStrict(xml).documentElement as Element;
    assert.equal(childElement(root, NS.assertion, 'NameID')?.hasAttribute('Format'), false);
    assert.equal(childElements(root, NS.protocol, 'SessionIndex').length, 0);
  });

  it('escapes every value', () => {
    const { xml } = buildLogoutRequest(cfg, { ...params, requestId: '_a"b', nameID: '<x>&"\'', nameIDFormat: 'f"<', sessionIndex: '</samlp:SessionIndex><evil/>' });
    const root = parseXmlStrict(xml).documentElement as Element;
    assert.equal(root.getAttribute('ID'), '_a"b');
    assert.equal(childElement(root, NS.assertion, 'NameID')?.textContent, '<x>&"\'');
    assert.equal(childElement(root, NS.assertion, 'NameID')?.getAttribute('Format'), 'f"<');
    assert.equal(childElements(root, NS.protocol, 'SessionIndex')[0]?.textContent, '</samlp:SessionIndex><evil/>');
    assert.equal(root.getElementsByTagName('evil').length, 0);
  });

  it('throws when the IdP has no SLO URL', () => {
    assert.throws(() => buildLogoutRequest(makeConfig(certificatesOf(idp), { sloURL: SP_SLO_URL }), params), /single-logout URL/);
  });
});

describe('buildLogoutResponse', () => {
  const now = new Date('2030-01-02T03:04:05Z');

  it('HTTP-Redirect to the IdP SLO URL, Success by default, RelayState echoed', () => {
    const out = buildLogoutResponse(cfg, { inResponseTo: '_req', relayState: 'r s/t', now });
    const u = new URL(out.url);
    assert.equal(`${u.origin}${u.pathname}`, IDP_SLO_URL);
    assert.deepEqual([...u.searchParams.keys()], ['SAMLResponse', 'RelayState']);
    assert.equal(u.searchParams.get('RelayState'), 'r s/t');
    const xml = inflateRawSync(Buffer.from(u.searchParams.get('SAMLResponse') ?? '', 'base64')).toString('utf8');
    assert.equal(xml, out.xml);
    const root = parseXmlStrict(xml).documentElement as Element;
    assert.equal(root.localName, 'LogoutResponse');
    assert.equal(root.namespaceURI, NS.protocol);
    assert.match(root.getAttribute('ID') ?? '', /^_[0-9a-f]{32}$/);
    assert.equal(root.getAttribute('ID'), out.id);
    assert.equal(root.getAttribute('Version'), '2.0');
    assert.equal(root.getAttribute('IssueInstant'), '2030-01-02T03:04:05Z');
    assert.equal(root.getAttribute('Destination'), IDP_SLO_URL);
    assert.equal(root.getAttribute('InResponseTo'), '_req');
    assert.equal(childElement(root, NS.assertion, 'Issuer')?.textContent, SP_ENTITY_ID);
    const status = childElement(root, NS.protocol, 'Status');
    assert.equal(status && childElement(status, NS.protocol, 'StatusCode')?.getAttribute('Value'), SUCCESS);
  });

  it('carries the given status code and no RelayState when none is given', () => {
    const out = buildLogoutResponse(cfg, { inResponseTo: '_req', statusCode: 'Responder', now });
    assert.deepEqual([...new URL(out.url).searchParams.keys()], ['SAMLResponse']);
    assert.match(out.xml, /<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"\/>/);
    assert.notEqual(buildLogoutResponse(cfg, { inResponseTo: '_req', now }).id, out.id);
  });

  it('escapes InResponseTo', () => {
    const { xml } = buildLogoutResponse(cfg, { inResponseTo: '"><x', now });
    assert.equal(parseXmlStrict(xml).documentElement?.getAttribute('InResponseTo'), '"><x');
  });

  it('throws when the IdP has no SLO URL', () => {
    assert.throws(() => buildLogoutResponse(makeConfig([]), { inResponseTo: '_r', now }), /single-logout URL/);
  });
});

describe('round trips (built by the builder, signed as an IdP would)', () => {
  it('LogoutRequest over HTTP-Redirect, RSA', async () => {
    const id = freshId();
    const built = buildLogoutRequest(idpSide(), { requestId: id, nameID: NAME_ID, nameIDFormat: EMAIL_FORMAT, sessionIndex: '_s1', relayState: 'relay/1', now: new Date() });
    const query = signQuery(built.url.slice(built.url.indexOf('?') + 1), idp);
    const r = accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: query }));
    assert.equal(r.id, id);
    assert.equal(r.nameID, NAME_ID);
    assert.equal(r.nameIDFormat, EMAIL_FORMAT);
    assert.deepEqual(r.sessionIndexes, ['_s1']);
    assert.equal(r.relayState, 'relay/1');
    assert.ok(r.trail.some((e) => e.check === 'signature' && e.detail?.includes(SIG.rsaSha256)));
  });

  it('LogoutRequest over HTTP-Redirect, EC P-256 (ieee-p1363 signature)', async () => {
    const ecCfg = spConfig(certificatesOf(idpEc));
    const built = buildLogoutRequest(idpSide(), { requestId: freshId(), nameID: NAME_ID, relayState: 'r', now: new Date() });
    const query = signQuery(built.url.slice(built.url.indexOf('?') + 1), idpEc);
    const r = accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: query }, { cfg: ecCfg }));
    assert.equal(r.nameID, NAME_ID);
    assert.equal(r.nameIDFormat, undefined);
    assert.deepEqual(r.sessionIndexes, []);
  });

  it('LogoutRequest over HTTP-POST (enveloped signature)', async () => {
    const id = freshId();
    const xml = buildLogoutRequestXml(idpSide(), { requestId: id, nameID: NAME_ID, sessionIndex: '_s2', now: new Date() });
    const r = accepted(await validateRequest(post(xml, { relayState: 'rs' })));
    assert.equal(r.id, id);
    assert.deepEqual(r.sessionIndexes, ['_s2']);
    assert.equal(r.relayState, 'rs');
  });

  it('LogoutResponse over HTTP-Redirect, unsigned and signed', () => {
    const built = buildLogoutResponse(idpSide(), { inResponseTo: PENDING, relayState: 'sid-1', now: new Date() });
    const query = built.url.slice(built.url.indexOf('?') + 1);
    const unsigned = accepted(validateResponse({ binding: 'HTTPRedirect', rawQuery: query }));
    assert.deepEqual(
      { inResponseTo: unsigned.inResponseTo, statusCode: unsigned.statusCode, success: unsigned.success, signed: unsigned.signed, relayState: unsigned.relayState },
      { inResponseTo: PENDING, statusCode: SUCCESS, success: true, signed: false, relayState: 'sid-1' },
    );
    const signed = accepted(validateResponse({ binding: 'HTTPRedirect', rawQuery: signQuery(query, idp) }));
    assert.equal(signed.signed, true);
    const ecSigned = accepted(validateResponse({ binding: 'HTTPRedirect', rawQuery: signQuery(query, idpEc) }, { cfg: spConfig(certificatesOf(idpEc)) }));
    assert.equal(ecSigned.signed, true);
  });

  it('LogoutResponse over HTTP-POST, signed and unsigned', () => {
    const { xml } = buildLogoutResponse(idpSide(), { inResponseTo: PENDING, statusCode: 'Responder', now: new Date() });
    const signed = accepted(validateResponse(post(xml, { param: 'SAMLResponse', relayState: 'sid' })));
    assert.equal(signed.signed, true);
    assert.equal(signed.success, false);
    assert.equal(signed.statusCode, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
    assert.equal(signed.relayState, 'sid');
    assert.equal(accepted(validateResponse(post(xml, { param: 'SAMLResponse', key: null }))).signed, false);
  });
});

describe('HTTP-Redirect decoding', () => {
  it('refuses a malformed percent-escape in a value or a name', async () => {
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `${redirectQuery(requestXml())}&RelayState=%ZZ` }), 'MalformedLogoutMessage', 'query');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `${redirectQuery(requestXml())}&Relay%E0%A4State=x` }), 'MalformedLogoutMessage', 'query');
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: `SAMLResponse=%E0%A4%A` }), 'MalformedLogoutMessage', 'query');
  });

  it('refuses a repeated SAMLRequest, SAMLResponse, RelayState, SigAlg or Signature', async () => {
    const signed = redirectQuery(requestXml(), { relayState: 'r' });
    for (const name of ['SAMLRequest', 'RelayState', 'SigAlg', 'Signature']) {
      const value = new RegExp(`(?:^|&)${name}=([^&]*)`).exec(signed)?.[1];
      assert.ok(value !== undefined);
      assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `${signed}&${name}=${value}` }), 'MalformedLogoutMessage', 'query');
    }
    const response = redirectQuery(responseXml(), { param: 'SAMLResponse', key: null });
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: `${response}&${response}` }), 'MalformedLogoutMessage', 'query');
  });

  it('refuses both SAMLRequest and SAMLResponse, and the wrong one', async () => {
    const req = redirectQuery(requestXml());
    const resp = redirectQuery(responseXml(), { param: 'SAMLResponse', key: null });
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `${req}&${resp}` }), 'MalformedLogoutMessage', 'query');
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: `${resp}&${req}` }), 'MalformedLogoutMessage', 'query');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: resp }), 'MalformedLogoutMessage', 'query');
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: req }), 'MalformedLogoutMessage', 'query');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: 'RelayState=x' }), 'MalformedLogoutMessage', 'query');
  });

  it('refuses an oversized SAMLRequest before decoding it (413)', async () => {
    const small = spConfig(undefined, { security: { maxResponseBytes: 1000 } });
    const r = await validateRequest({ binding: 'HTTPRedirect', rawQuery: `SAMLRequest=${'%ZZ'.repeat(2000)}` }, { cfg: small });
    assertRejected(r, 'LogoutMessageTooLarge', 'size');
    assert.equal(r.trail.length, 1);
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `SAMLRequest=${'A'.repeat(1500)}` }, { cfg: small }), 'LogoutMessageTooLarge', 'size');
    // The whole query is bounded too, whatever parameter carries the bulk.
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `SAMLRequest=AAAA&junk=${'x'.repeat(30_000)}` }, { cfg: small }), 'LogoutMessageTooLarge', 'size');
  });

  it('refuses a deflate bomb (413), signed request or unsigned response', async () => {
    const small = spConfig(undefined, { security: { maxResponseBytes: 4096 } });
    const bomb = deflate64(Buffer.alloc(1_000_000, 0x20));
    const r = await validateRequest(redirect('', { payload: bomb }), { cfg: small });
    assertRejected(r, 'LogoutMessageTooLarge', 'size');
    assert.ok(r.trail.some((e) => e.check === 'signature' && e.ok), 'a bomb from an unauthenticated sender never reaches the inflater');
    assertRejected(validateResponse(redirect('', { payload: bomb, key: null, param: 'SAMLResponse' }), { cfg: small }), 'LogoutMessageTooLarge', 'size');
  });

  it('refuses a value that is not strict base64', async () => {
    assertRejected(await validateRequest(redirect('', { payload: 'not*base64!' })), 'MalformedLogoutMessage', 'base64');
    assertRejected(await validateRequest(redirect('', { payload: 'QUJD RA==' })), 'MalformedLogoutMessage', 'base64');
  });

  it('refuses data that is not raw DEFLATE, or not UTF-8', async () => {
    assertRejected(await validateRequest(redirect('', { payload: Buffer.from('hello there').toString('base64') })), 'MalformedLogoutMessage', 'inflate');
    assertRejected(await validateRequest(redirect('', { payload: deflate64(Buffer.from([0x3c, 0xff, 0xfe, 0x3e])) })), 'MalformedLogoutMessage', 'xml');
  });

  it('decodes "+" as a space and returns RelayState decoded', async () => {
    const base = `SAMLRequest=${enc(deflate64(requestXml()))}&RelayState=a+b%2Fc%20d%C3%A9`;
    const r = accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: signQuery(base, idp) }));
    assert.equal(r.relayState, 'a b/c dé');
  });

  it('ignores parameters that are not SAML ones, and tolerates a leading "?"', async () => {
    accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `foo=%ZZ&${redirectQuery(requestXml())}&&bar` }));
    accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: `?${redirectQuery(requestXml())}` }));
  });
});

describe('HTTP-POST decoding', () => {
  const form = (f: Record<string, unknown>): LogoutMessageInput => ({ binding: 'HTTPPost', form: f });

  it('refuses a repeated (array) or non-string SAMLRequest / SAMLResponse / RelayState', async () => {
    const value = b64(signedXml(requestXml()));
    assertRejected(await validateRequest(form({ SAMLRequest: [value, value] })), 'MalformedLogoutMessage', 'form');
    assertRejected(await validateRequest(form({ SAMLRequest: 42 })), 'MalformedLogoutMessage', 'form');
    assertRejected(await validateRequest(form({ SAMLRequest: value, RelayState: ['a', 'b'] })), 'MalformedLogoutMessage', 'form');
    assertRejected(validateResponse(form({ SAMLResponse: [b64(responseXml())] })), 'MalformedLogoutMessage', 'form');
  });

  it('refuses a missing message field, and both at once', async () => {
    assertRejected(await validateRequest(form({ RelayState: 'x' })), 'MalformedLogoutMessage', 'form');
    assertRejected(await validateRequest(form({ SAMLRequest: 'AAAA', SAMLResponse: 'AAAA' })), 'MalformedLogoutMessage', 'form');
    assertRejected(validateResponse(form({ SAMLRequest: 'AAAA' })), 'MalformedLogoutMessage', 'form');
  });

  it('refuses an oversized field before decoding it (413), and an oversized decoded message', async () => {
    const small = spConfig(undefined, { security: { maxResponseBytes: 1000 } });
    const r = await validateRequest(form({ SAMLRequest: '!'.repeat(5000) }), { cfg: small });
    assertRejected(r, 'LogoutMessageTooLarge', 'size');
    assert.equal(r.trail.filter((e) => e.check === 'base64').length, 0);
    // 1030 bytes encode to 1376 characters: within the encoded bound (line-break slack), over the byte limit.
    assertRejected(await validateRequest(form({ SAMLRequest: Buffer.alloc(1030, 0x20).toString('base64') }), { cfg: small }), 'LogoutMessageTooLarge', 'size');
  });

  it('refuses a field that is not base64', async () => {
    assertRejected(await validateRequest(form({ SAMLRequest: 'not*base64!' })), 'MalformedLogoutMessage', 'base64');
  });

  it('accepts base64 with line breaks', async () => {
    const wrapped = b64(signedXml(requestXml())).replace(/(.{76})/g, '$1\r\n');
    accepted(await validateRequest(form({ SAMLRequest: wrapped })));
  });
});

describe('XML syntax and root element', () => {
  it('refuses a DOCTYPE (POST and signed Redirect)', async () => {
    const evil = `<!DOCTYPE r [<!ENTITY x "alice">]>${requestXml()}`;
    assertRejected(await validateRequest(postForm(evil)), 'DoctypeForbidden', 'doctype');
    assertRejected(await validateRequest(redirect(evil)), 'DoctypeForbidden', 'doctype');
    assertRejected(validateResponse(redirect(`<!DOCTYPE r>${responseXml()}`, { param: 'SAMLResponse', key: null })), 'DoctypeForbidden', 'doctype');
  });

  it('refuses XML that is not well-formed', async () => {
    assertRejected(await validateRequest(postForm(`<samlp:LogoutRequest xmlns:samlp="${NS.protocol}"><a></samlp:LogoutRequest>`)), 'MalformedLogoutMessage', 'xml');
    assertRejected(await validateRequest(redirect('hello')), 'MalformedLogoutMessage', 'xml');
  });

  it('refuses another root element or namespace', async () => {
    assertRejected(await validateRequest(redirect(responseXml())), 'MalformedLogoutMessage', 'root');
    assertRejected(await validateRequest(redirect(requestXml({ root: 'AuthnRequest' }))), 'MalformedLogoutMessage', 'root');
    assertRejected(await validateRequest(redirect(requestXml({ ns: 'urn:oasis:names:tc:SAML:1.0:protocol' }))), 'MalformedLogoutMessage', 'root');
    assertRejected(validateResponse(redirect(requestXml(), { param: 'SAMLResponse', key: null })), 'MalformedLogoutMessage', 'root');
  });

  it('refuses a Version other than 2.0 and a missing or empty ID', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ version: '1.1' }))), 'MalformedLogoutMessage', 'root');
    assertRejected(await validateRequest(redirect(requestXml({ version: null }))), 'MalformedLogoutMessage', 'root');
    assertRejected(await validateRequest(redirect(requestXml({ id: '' }))), 'MalformedLogoutMessage', 'root');
    assertRejected(validateResponse(redirect(responseXml({ id: '' }), { param: 'SAMLResponse', key: null })), 'MalformedLogoutMessage', 'root');
  });
});

describe('HTTP-Redirect signature', () => {
  it('requires a signature on a LogoutRequest', async () => {
    assertRejected(await validateRequest(redirect(requestXml(), { key: null, relayState: 'r' })), 'SignatureMissing', 'signature');
  });

  it('never trusts an XML signature inside a Redirect payload', async () => {
    const enveloped = signedXml(requestXml());
    assert.match(enveloped, /<ds:Signature/);
    assertRejected(await validateRequest(redirect(enveloped, { key: null })), 'SignatureMissing', 'signature');
    const response = signedXml(responseXml());
    assertRejected(validateResponse(redirect(response, { key: null, param: 'SAMLResponse' })), 'SignatureMissing', 'signature');
  });

  it('requires SigAlg with Signature', async () => {
    const q = redirectQuery(requestXml()).replace(/&SigAlg=[^&]*/, '');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: q }), 'MalformedLogoutMessage', 'signature');
  });

  it('refuses a Signature that is not base64', async () => {
    const q = redirectQuery(requestXml()).replace(/&Signature=[^&]*/, '&Signature=%21%21%21%21');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: q }), 'MalformedLogoutMessage', 'signature');
  });

  it('refuses SHA-1 unless allowed (rsa-sha1, ecdsa-sha1)', async () => {
    assertRejected(await validateRequest(redirect(requestXml(), { sigAlg: SIG.rsaSha1 })), 'WeakAlgorithm', 'signature');
    const ecCfg = spConfig(certificatesOf(idpEc));
    assertRejected(await validateRequest(redirect(requestXml(), { key: idpEc, sigAlg: SIG.ecdsaSha1 }), { cfg: ecCfg }), 'WeakAlgorithm', 'signature');
    accepted(await validateRequest(redirect(requestXml(), { sigAlg: SIG.rsaSha1 }), { cfg: spConfig(undefined, { security: { allowSHA1: true } }) }));
  });

  it('refuses an unknown SigAlg as WeakAlgorithm', async () => {
    assertRejected(await validateRequest(redirect(requestXml(), { sigAlg: 'http://www.w3.org/2000/09/xmldsig#dsa-sha1' })), 'WeakAlgorithm', 'signature');
    assertRejected(await validateRequest(redirect(requestXml(), { sigAlg: 'http://www.w3.org/2000/09/xmldsig#hmac-sha1' })), 'WeakAlgorithm', 'signature');
    // Names of Object.prototype members are no algorithms (node's verify would pick a default digest for them).
    for (const sigAlg of ['constructor', '__proto__', 'toString']) {
      assertRejected(await validateRequest(redirect(requestXml(), { sigAlg })), 'WeakAlgorithm', 'signature');
    }
  });

  it('accepts rsa-sha512 and ecdsa-sha384/512', async () => {
    accepted(await validateRequest(redirect(requestXml(), { sigAlg: SIG.rsaSha512 })));
    const ecCfg = spConfig(certificatesOf(idpEc));
    accepted(await validateRequest(redirect(requestXml(), { key: idpEc, sigAlg: SIG.ecdsaSha384 }), { cfg: ecCfg }));
    accepted(await validateRequest(redirect(requestXml(), { key: idpEc, sigAlg: SIG.ecdsaSha512 }), { cfg: ecCfg }));
  });

  it('accepts a DER-encoded ECDSA query signature too (Java IdPs send DER), but only by the configured key', async () => {
    const ecCfg = spConfig(certificatesOf(idpEc));
    const ok = await validateRequest(redirect(requestXml(), { key: idpEc, der: true }), { cfg: ecCfg });
    assert.ok(ok.ok, JSON.stringify(ok));
    const other = spConfig(certificatesOf(idp));
    assertRejected(await validateRequest(redirect(requestXml(), { key: idpEc, der: true }), { cfg: other }), 'SignatureInvalid', 'signature');
  });

  it('refuses a signature by a key that is not configured', async () => {
    assertRejected(await validateRequest(redirect(requestXml(), { key: attacker })), 'SignatureInvalid', 'signature');
    assertRejected(validateResponse(redirect(responseXml(), { key: attacker, param: 'SAMLResponse' })), 'SignatureInvalid', 'signature');
  });

  it('tries every configured certificate whose key type fits', async () => {
    const several = spConfig(certificatesOf(idpEc, attacker, idp));
    const r = accepted(await validateRequest(redirect(requestXml()), { cfg: several }));
    assert.ok(r.trail.some((e) => e.check === 'signature' && e.detail?.includes('inline[2]')));
    accepted(await validateRequest(redirect(requestXml(), { key: idpEc }), { cfg: several }));
    const mismatch = await validateRequest(redirect(requestXml()), { cfg: spConfig(certificatesOf(idpEc)) });
    assertRejected(mismatch, 'SignatureInvalid', 'signature');
    assert.match(mismatch.ok ? '' : mismatch.message, /no configured certificate holds an RSA key/);
  });

  it('refuses a swapped SAMLRequest', async () => {
    const signed = redirectQuery(requestXml());
    const other = enc(deflate64(requestXml({ nameIDXml: '<saml:NameID>bob@example.com</saml:NameID>' })));
    const q = signed.replace(/^SAMLRequest=[^&]*/, `SAMLRequest=${other}`);
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: q }), 'SignatureInvalid', 'signature');
  });

  it('refuses a changed, added or removed RelayState', async () => {
    const withRelay = redirectQuery(requestXml(), { relayState: 'abc' });
    const changed = withRelay.replace('RelayState=abc', 'RelayState=abd');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: changed }), 'SignatureInvalid', 'signature');
    const removed = withRelay.replace('&RelayState=abc', '');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: removed }), 'SignatureInvalid', 'signature');
    const added = `${redirectQuery(requestXml())}&RelayState=x`;
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: added }), 'SignatureInvalid', 'signature');
    const response = redirectQuery(responseXml(), { param: 'SAMLResponse', relayState: 'abc' }).replace('RelayState=abc', 'RelayState=evil');
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: response }), 'SignatureInvalid', 'signature');
  });

  it('refuses a changed SigAlg', async () => {
    const q = redirectQuery(requestXml()).replace(`SigAlg=${enc(SIG.rsaSha256)}`, `SigAlg=${enc(SIG.rsaSha512)}`);
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: q }), 'SignatureInvalid', 'signature');
  });

  it('builds the signed octets from the raw values in the canonical order, whatever the URL order', async () => {
    const signed = redirectQuery(requestXml(), { relayState: 'r/1' });
    const reordered = signed.split('&').reverse().join('&');
    assert.ok(reordered.startsWith('Signature='));
    assert.equal(accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: reordered })).relayState, 'r/1');
  });

  it('verifies the raw octets as sent (other percent-encoding choices), not a re-encoding', async () => {
    const lower = (s: string): string => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    const base = `SAMLRequest=${lower(enc(deflate64(requestXml())))}&RelayState=a%2fb`;
    const sigAlg = lower(enc(SIG.rsaSha256));
    const octets = `${base}&SigAlg=${sigAlg}`;
    const value = sign('sha256', Buffer.from(octets), createPrivateKey(idp.keyPem)).toString('base64');
    const q = `${octets}&Signature=${enc(value)}`;
    assert.equal(accepted(await validateRequest({ binding: 'HTTPRedirect', rawQuery: q })).relayState, 'a/b');
    // The same decoded values, re-encoded differently, are not what was signed.
    const reencoded = q.replace('RelayState=a%2fb', 'RelayState=a%2Fb');
    assertRejected(await validateRequest({ binding: 'HTTPRedirect', rawQuery: reencoded }), 'SignatureInvalid', 'signature');
  });

  it('ignores (never evaluates) an XML signature left in a query-signed payload', async () => {
    const enveloped = signedXml(requestXml(), { key: attacker });
    accepted(await validateRequest(redirect(enveloped)));
  });
});

describe('HTTP-POST signature', () => {
  it('requires an enveloped signature on a LogoutRequest', async () => {
    assertRejected(await validateRequest(post(requestXml(), { key: null })), 'SignatureMissing', 'signature');
  });

  it('never trusts a certificate carried in KeyInfo that is not configured', async () => {
    assertRejected(await validateRequest(post(requestXml(), { key: attacker })), 'CertificateNotTrusted', 'signature');
    assertRejected(await validateRequest(post(requestXml(), { key: attacker, keyInfo: null })), 'SignatureInvalid', 'signature');
    assertRejected(validateResponse(post(responseXml(), { key: attacker, param: 'SAMLResponse' })), 'CertificateNotTrusted', 'signature');
    // KeyInfo never picks the key either: the configured certificate verifies whatever KeyInfo names.
    accepted(await validateRequest(post(requestXml(), { keyInfo: attacker.certPem })));
  });

  it('refuses content altered after signing', async () => {
    const tampered = signedXml(requestXml()).replace(`>${NAME_ID}<`, '>bob@example.com<');
    assertRejected(await validateRequest(postForm(tampered)), 'SignatureInvalid', 'signature');
    const response = signedXml(responseXml()).replace(`InResponseTo="${PENDING}"`, 'InResponseTo="_other"');
    assertRejected(validateResponse(postForm(response, { param: 'SAMLResponse' }), { expected: '_other' }), 'SignatureInvalid', 'signature');
  });

  it('refuses SHA-1 unless allowed', async () => {
    assertRejected(await validateRequest(post(requestXml(), { algorithm: 'sha1' })), 'WeakAlgorithm', 'signature');
    accepted(await validateRequest(post(requestXml(), { algorithm: 'sha1' }), { cfg: spConfig(undefined, { security: { allowSHA1: true } }) }));
  });

  it('refuses a signed request wrapped in an unsigned one (signature wrapping)', async () => {
    const inner = signedXml(requestXml());
    const outer = requestXml({ nameIDXml: `<saml:NameID>bob@example.com</saml:NameID><samlp:Extensions>${inner}</samlp:Extensions>`, sessionIndexes: [] });
    assertRejected(await validateRequest(postForm(outer)), 'SignatureMissing', 'signature');
  });

  it('reads only the signed content (nothing placed inside the Signature element)', async () => {
    const injected = signedXml(requestXml({ sessionIndexes: ['_real'] })).replace(
      '</ds:Signature>',
      `<ds:Object><saml:NameID>mallory@example.com</saml:NameID><samlp:SessionIndex>_other</samlp:SessionIndex><saml:EncryptedID/></ds:Object></ds:Signature>`,
    );
    const r = accepted(await validateRequest(postForm(injected)));
    assert.equal(r.nameID, NAME_ID);
    assert.deepEqual(r.sessionIndexes, ['_real']);
    assert.ok(r.trail.some((e) => e.check === 'signedContent' && e.ok));
  });
});

describe('LogoutRequest content', () => {
  it('refuses a missing, second, wrong or non-entity-format Issuer', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ issuerXml: '' }))), 'IssuerMismatch', 'issuer');
    assertRejected(await validateRequest(redirect(requestXml({ issuerXml: '<saml:Issuer>https://evil.example.test</saml:Issuer>' }))), 'IssuerMismatch', 'issuer');
    const two = `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer><saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer>`;
    assertRejected(await validateRequest(redirect(requestXml({ issuerXml: two }))), 'IssuerMismatch', 'issuer');
    const format = `<saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${IDP_ENTITY_ID}</saml:Issuer>`;
    assertRejected(await validateRequest(redirect(requestXml({ issuerXml: format }))), 'IssuerMismatch', 'issuer');
    // Signed by a trusted certificate does not make another issuer acceptable (POST too).
    assertRejected(await validateRequest(post(requestXml({ issuerXml: '<saml:Issuer>https://other-idp.example.test</saml:Issuer>' }))), 'IssuerMismatch', 'issuer');
  });

  it('requires Destination to be this SLO endpoint', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ destination: null }))), 'DestinationMismatch', 'destination');
    assertRejected(await validateRequest(redirect(requestXml({ destination: 'https://other-sp.example.test/slo' }))), 'DestinationMismatch', 'destination');
    assertRejected(await validateRequest(redirect(requestXml({ destination: `${SP_SLO_URL}/` }))), 'DestinationMismatch', 'destination');
    const noSlo = makeConfig(certificatesOf(idp), { idp: { sloURL: IDP_SLO_URL } });
    assertRejected(await validateRequest(redirect(requestXml()), { cfg: noSlo }), 'DestinationMismatch', 'destination');
  });

  it('accepts IssueInstant within 300 s + skew in the past and skew in the future', async () => {
    const now = new Date();
    accepted(await validateRequest(redirect(requestXml({ issueInstant: seconds(now, -(300 + 60) + 5) })), { now }));
    accepted(await validateRequest(redirect(requestXml({ issueInstant: seconds(now, 60 - 5) })), { now }));
  });

  it('refuses a request issued too long ago (LogoutRequestExpired)', async () => {
    const now = new Date();
    assertRejected(await validateRequest(redirect(requestXml({ issueInstant: seconds(now, -(300 + 60) - 5) })), { now }), 'LogoutRequestExpired', 'issueInstant');
  });

  it('refuses a request issued in the future (LogoutRequestNotYetValid)', async () => {
    const now = new Date();
    assertRejected(await validateRequest(redirect(requestXml({ issueInstant: seconds(now, 60 + 5) })), { now }), 'LogoutRequestNotYetValid', 'issueInstant');
  });

  it('refuses a missing or unzoned IssueInstant as malformed', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ issueInstant: null }))), 'MalformedLogoutMessage', 'issueInstant');
    assertRejected(await validateRequest(redirect(requestXml({ issueInstant: '2030-01-01T00:00:00' }))), 'MalformedLogoutMessage', 'issueInstant');
  });

  it('refuses a passed NotOnOrAfter, allowing clock skew', async () => {
    const now = new Date();
    assertRejected(await validateRequest(redirect(requestXml({ now, notOnOrAfter: seconds(now, -60 - 2) })), { now }), 'LogoutRequestExpired', 'notOnOrAfter');
    accepted(await validateRequest(redirect(requestXml({ now, notOnOrAfter: seconds(now, -60 + 5) })), { now }));
    assertRejected(await validateRequest(redirect(requestXml({ now, notOnOrAfter: 'soon' })), { now }), 'MalformedLogoutMessage', 'notOnOrAfter');
  });

  it('refuses a request without NameID', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: '' }))), 'NameIDMissing', 'nameID');
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: '<saml:BaseID/>' }))), 'NameIDMissing', 'nameID');
  });

  it('refuses an empty NameID', async () => {
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: '<saml:NameID>  </saml:NameID>' }))), 'NameIDMissing', 'nameID');
  });

  it('refuses an EncryptedID', async () => {
    const encrypted = '<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedID>';
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: encrypted }))), 'EncryptedIDUnsupported', 'nameID');
  });

  it('refuses two NameIDs as malformed', async () => {
    const two = `<saml:NameID>${NAME_ID}</saml:NameID><saml:NameID>bob@example.com</saml:NameID>`;
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: two }))), 'MalformedLogoutMessage', 'nameID');
  });

  it('returns NameID, its Format and every SessionIndex', async () => {
    const r = accepted(await validateRequest(redirect(requestXml({ sessionIndexes: ['_a', '_b', '_c'] }))));
    assert.equal(r.nameID, NAME_ID);
    assert.equal(r.nameIDFormat, EMAIL_FORMAT);
    assert.deepEqual(r.sessionIndexes, ['_a', '_b', '_c']);
    assert.equal(r.relayState, undefined);
  });
});

describe('LogoutRequest replay', () => {
  it('refuses the same request twice', async () => {
    const replay = new MemoryReplayCache();
    const q = redirect(requestXml());
    accepted(await validateRequest(q, { replay }));
    assertRejected(await validateRequest(q, { replay }), 'ReplayDetected', 'replay');
    // The same ID over the other binding is the same request.
    const id = idOf(decodeQueryXml(q));
    assertRejected(await validateRequest(post(requestXml({ id })), { replay }), 'ReplayDetected', 'replay');
  });

  it('remembers logout:<ID> until IssueInstant + 300 s + 2 x skew', async () => {
    const replay = new RecordingCache();
    const now = new Date('2030-06-01T12:00:00Z');
    const id = freshId();
    accepted(await validateRequest(redirect(requestXml({ id, now })), { now, replay }));
    assert.deepEqual(replay.calls, [[`logout:${id}`, now.getTime() / 1000 + 300 + 120]]);
  });

  it('is consulted only after every other check passed', async () => {
    const replay = new RecordingCache();
    assertRejected(await validateRequest(redirect(requestXml({ nameIDXml: '' })), { replay }), 'NameIDMissing');
    assertRejected(await validateRequest(redirect(requestXml(), { key: attacker }), { replay }), 'SignatureInvalid');
    assert.equal(replay.calls.length, 0);
  });

  it('lets a failing replay cache reject the promise', async () => {
    const boom = new Error('redis down');
    const failing: ReplayCache = { remember: () => Promise.reject(boom) };
    await assert.rejects(validateRequest(redirect(requestXml()), { replay: failing }), (err) => err === boom);
  });
});

function decodeQueryXml(input: LogoutMessageInput): string {
  assert.equal(input.binding, 'HTTPRedirect');
  const value = new URLSearchParams(input.binding === 'HTTPRedirect' ? input.rawQuery : '').get('SAMLRequest') ?? '';
  return inflateRawSync(Buffer.from(value, 'base64')).toString('utf8');
}

describe('LogoutResponse content', () => {
  const unsigned = (xml: string, relayState?: string): LogoutMessageInput =>
    redirect(xml, { key: null, param: 'SAMLResponse', ...(relayState !== undefined ? { relayState } : {}) });

  it('accepts an unsigned response and reports it unsigned, with RelayState decoded', () => {
    const r = accepted(validateResponse(unsigned(responseXml(), 'sid /1')));
    assert.equal(r.signed, false);
    assert.equal(r.success, true);
    assert.equal(r.inResponseTo, PENDING);
    assert.equal(r.relayState, 'sid /1');
  });

  it('requires InResponseTo to name the pending logout', () => {
    assertRejected(validateResponse(unsigned(responseXml({ inResponseTo: null }))), 'InResponseToMismatch', 'inResponseTo');
    assertRejected(validateResponse(unsigned(responseXml({ inResponseTo: '_someone_else' }))), 'InResponseToMismatch', 'inResponseTo');
    assertRejected(validateResponse(unsigned(responseXml({ inResponseTo: '' })), { expected: '' }), 'InResponseToMismatch', 'inResponseTo');
    assertRejected(validateResponse(post(responseXml({ inResponseTo: '_someone_else' }), { param: 'SAMLResponse' })), 'InResponseToMismatch', 'inResponseTo');
  });

  it('requires the configured Issuer', () => {
    assertRejected(validateResponse(unsigned(responseXml({ issuerXml: '' }))), 'IssuerMismatch', 'issuer');
    assertRejected(validateResponse(unsigned(responseXml({ issuerXml: '<saml:Issuer>https://evil.example.test</saml:Issuer>' }))), 'IssuerMismatch', 'issuer');
  });

  it('checks Destination when present', () => {
    accepted(validateResponse(unsigned(responseXml({ destination: null }))));
    assertRejected(validateResponse(unsigned(responseXml({ destination: 'https://other-sp.example.test/slo' }))), 'DestinationMismatch', 'destination');
  });

  it('refuses a response without Status/StatusCode as malformed', () => {
    assertRejected(validateResponse(unsigned(responseXml({ statusXml: '' }))), 'MalformedLogoutMessage', 'status');
    assertRejected(validateResponse(unsigned(responseXml({ statusXml: '<samlp:Status/>' }))), 'MalformedLogoutMessage', 'status');
  });

  it('reports a non-success status with its top-level code', () => {
    const status = `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></samlp:StatusCode></samlp:Status>`;
    const r = accepted(validateResponse(unsigned(responseXml({ statusXml: status }))));
    assert.equal(r.success, false);
    assert.equal(r.statusCode, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
  });

  it('a present signature must verify (Redirect and POST)', () => {
    const q = redirectQuery(responseXml(), { param: 'SAMLResponse' }).replace(/&Signature=([A-Za-z0-9])/, (_m, c: string) => `&Signature=${c === 'A' ? 'B' : 'A'}`);
    assertRejected(validateResponse({ binding: 'HTTPRedirect', rawQuery: q }), 'SignatureInvalid', 'signature');
    assertRejected(validateResponse(redirect(responseXml(), { param: 'SAMLResponse', sigAlg: SIG.rsaSha1 })), 'WeakAlgorithm', 'signature');
    assertRejected(validateResponse(post(responseXml(), { param: 'SAMLResponse', algorithm: 'sha1' })), 'WeakAlgorithm', 'signature');
  });
});

describe('messages and trail', () => {
  it('never carry XML, keys or signature values', async () => {
    const results: AnyResult[] = [
      await validateRequest(redirect(requestXml())),
      await validateRequest(post(requestXml())),
      await validateRequest(post(requestXml(), { key: attacker })),
      await validateRequest(redirect(requestXml(), { key: attacker })),
      await validateRequest(redirect(requestXml({ issuerXml: '<saml:Issuer>&lt;script&gt;</saml:Issuer>' }))),
      validateResponse(post(responseXml(), { param: 'SAMLResponse' })),
    ];
    for (const r of results) {
      const text = JSON.stringify(r);
      assert.ok(!text.includes('<'), text);
      assert.ok(!text.includes('MII'), text);
      assert.ok(!text.includes('SignatureValue'), text);
      assert.ok(!/[A-Za-z0-9+/]{80,}/.test(text), text);
    }
  });
});
