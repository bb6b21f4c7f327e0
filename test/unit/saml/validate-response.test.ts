import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import {
  ACS_URL,
  REQUEST_ID,
  assertAccepted,
  assertRejected,
  b64,
  certificatesOf,
  decode,
  input,
  makeConfig,
  makeResponse,
  makeResponseXml,
  signingIdentity,
} from '../../support/saml-fixtures.ts';

let idp: SigningIdentity;
let cfg: SamlConnectorConfig;
const minutes = (m: number): Date => new Date(Date.now() + m * 60_000);

beforeAll(async () => {
  idp = await signingIdentity();
  cfg = makeConfig(certificatesOf(idp));
});

describe('valid responses', () => {
  it('accepts a response with both Response and Assertion signed', async () => {
    // One instant for both sides: two calls to minutes(60) may straddle a second.
    const sessionEnd = minutes(60);
    const a = assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { sessionNotOnOrAfter: sessionEnd, sessionIndex: '_sess1' }))));
    assert.equal(a.identity, 'alice@example.com');
    assert.equal(a.nameID, 'alice@example.com');
    assert.equal(a.nameIDFormat, 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
    assert.equal(a.issuer, cfg.idp.entityID);
    assert.equal(a.inResponseTo, REQUEST_ID);
    assert.equal(a.sessionIndex, '_sess1');
    assert.equal(a.sessionNotOnOrAfter, Math.floor(sessionEnd.getTime() / 1000));
    assert.deepEqual({ ...a.attributes }, { mail: ['alice@example.com'], groups: ['admins', 'devs'] });
    assert.ok(a.notOnOrAfter > Date.now() / 1000);
  });

  it('accepts an assertion-only signed response', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { signResponse: false }))));
  });

  it('accepts a response-only signed response when requireSignedAssertions=false', async () => {
    const lax = makeConfig(certificatesOf(idp), { security: { requireSignedAssertions: false } });
    const r = await validateResponse(lax, input(makeResponse(idp, { signAssertion: false })));
    assertAccepted(r);
    assert.ok(r.trail.some((e) => e.check === 'signedContent' && e.detail === 'response'));
  });

  it('accepts an ECDSA P-256 signature', async () => {
    const ec = await signingIdentity('idp-ec', 'EC');
    assertAccepted(await validateResponse(makeConfig(certificatesOf(ec)), input(makeResponse(ec))));
  });

  it('reads the identity from the configured attribute', async () => {
    const byAttr = makeConfig(certificatesOf(idp), { userIdentityAttribute: 'uid' });
    const a = assertAccepted(await validateResponse(byAttr, input(makeResponse(idp, { attributes: { uid: ['alice'] } }))));
    assert.equal(a.identity, 'alice');
  });

  it('tolerates clock skew', async () => {
    // Two responses: one window that has not quite begun, one that has just ended (a window must not be empty).
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { notBefore: new Date(Date.now() + 30_000) }))));
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { notBefore: new Date(Date.now() - 120_000), notOnOrAfter: new Date(Date.now() - 30_000) }))));
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { now: new Date(Date.now() + 30_000) }))));
  });

  it('accepts an unsigned Response without Destination (optional there; required on a signed one)', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { destination: null, signResponse: false }))));
  });

  it('never puts XML, keys or signature values in the trail', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp)));
    const text = JSON.stringify(r.trail);
    assert.ok(!text.includes('<'));
    assert.ok(!text.includes('MII'));
    assert.ok(!text.includes('SignatureValue'));
  });
});

describe('size and syntax', () => {
  it('refuses an oversized response before decoding it (413)', async () => {
    const small = makeConfig(certificatesOf(idp), { security: { maxResponseBytes: 1000 } });
    const r = await validateResponse(small, input('!'.repeat(5000)));
    assertRejected(r, 'ResponseTooLarge');
    assert.equal(r.ok || r.status, 413);
    assert.equal(r.trail.length, 1);
  });

  it('refuses a response whose decoded size exceeds the limit', async () => {
    const resp = makeResponse(idp);
    const size = Buffer.from(resp, 'base64').length;
    const r = await validateResponse(makeConfig(certificatesOf(idp), { security: { maxResponseBytes: size - 1 } }), input(resp));
    assertRejected(r, 'ResponseTooLarge');
    assert.equal(r.trail[0]?.check, 'size');
  });

  it('accepts base64 with line breaks', async () => {
    const wrapped = makeResponse(idp).replace(/(.{76})/g, '$1\r\n');
    assertAccepted(await validateResponse(cfg, input(wrapped)));
  });

  it('refuses text that is not base64 (400)', async () => {
    const r = await validateResponse(cfg, input('not*base64!'));
    assertRejected(r, 'MalformedResponse');
    assert.equal(r.ok || r.status, 400);
  });

  it('refuses base64 that is not XML', async () => {
    assertRejected(await validateResponse(cfg, input(b64('hello world'))), 'MalformedResponse');
  });

  it('refuses XML that is not well-formed', async () => {
    assertRejected(await validateResponse(cfg, input(b64('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><a></samlp:Response>'))), 'MalformedResponse');
  });

  it('refuses a root that is not samlp:Response', async () => {
    assertRejected(await validateResponse(cfg, input(b64('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>'))), 'MalformedResponse');
    // Right local name and prefix, wrong namespace.
    const xml = makeResponseXml(idp).replace('xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"', 'xmlns:samlp="urn:evil"');
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'MalformedResponse');
  });

  it('refuses a DOCTYPE (400), with or without entities', async () => {
    const xml = makeResponseXml(idp);
    const withDoctype = `<?xml version="1.0"?><!DOCTYPE samlp:Response>${xml}`;
    const r = await validateResponse(cfg, input(b64(withDoctype)));
    assertRejected(r, 'DoctypeForbidden');
    assert.equal(r.ok || r.status, 400);
    const xxe = `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>${xml.replace('alice@example.com</saml:NameID>', '&x;</saml:NameID>')}`;
    assertRejected(await validateResponse(cfg, input(b64(xxe))), 'DoctypeForbidden');
    const bomb = `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>${xml}`;
    assertRejected(await validateResponse(cfg, input(b64(bomb))), 'DoctypeForbidden');
  });
});

describe('one negative test per check', () => {
  it('StatusNotSuccess, with the status code in the message', async () => {
    const r = await validateResponse(
      cfg,
      input(makeResponse(idp, { status: 'urn:oasis:names:tc:SAML:2.0:status:Responder', subStatus: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed', assertionCount: 0, signResponse: true })),
    );
    assertRejected(r, 'StatusNotSuccess');
    assert.match(r.ok ? '' : r.message, /status:Responder/);
    assert.match(r.ok ? '' : r.message, /AuthnFailed/);
    assert.equal(r.ok || r.status, 401);
  });

  it('AssertionCountInvalid: no assertion', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { assertionCount: 0 }))), 'AssertionCountInvalid');
  });

  it('AssertionCountInvalid: two assertions', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { assertionCount: 2 }))), 'AssertionCountInvalid');
  });

  it('EncryptedAssertionUnsupported', async () => {
    const xml = makeResponseXml(idp, { assertionCount: 0, signResponse: false }).replace(
      '</samlp:Response>',
      '<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion></samlp:Response>',
    );
    assertRejected(await validateResponse(cfg, input(b64(xml))), 'EncryptedAssertionUnsupported');
  });

  it('AssertionNotSigned: only the Response is signed but signed assertions are required', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { signAssertion: false }))), 'AssertionNotSigned');
  });

  it('SignatureMissing: nothing is signed (requireSignedAssertions=false)', async () => {
    const lax = makeConfig(certificatesOf(idp), { security: { requireSignedAssertions: false } });
    assertRejected(await validateResponse(lax, input(makeResponse(idp, { signAssertion: false, signResponse: false }))), 'SignatureMissing');
  });

  it('AssertionNotSigned: nothing is signed (requireSignedAssertions=true)', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { signAssertion: false, signResponse: false }))), 'AssertionNotSigned');
  });

  it('IssuerMismatch on the Assertion', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { assertionIssuer: 'https://other-idp.example.test' }))), 'IssuerMismatch');
  });

  it('IssuerMismatch on the Response', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { responseIssuer: 'https://other-idp.example.test' }))), 'IssuerMismatch');
  });

  it('accepts a Response without Issuer (it is optional there)', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { responseIssuer: null, signResponse: false }))));
  });

  it('AudienceMismatch: another SP', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { audience: 'https://other-sp.example.test' }))), 'AudienceMismatch');
  });

  it('AudienceMismatch: no AudienceRestriction', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { audience: null }))), 'AudienceMismatch');
  });

  it('accepts an AudienceRestriction that lists this SP among others', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { audience: ['https://other-sp.example.test', cfg.spEntityID] }))));
  });

  it('AssertionNotYetValid: Conditions NotBefore beyond the skew', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { notBefore: minutes(10) }))), 'AssertionNotYetValid');
  });

  it('AssertionExpired: Conditions NotOnOrAfter passed beyond the skew', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { notOnOrAfter: minutes(-5) }))), 'AssertionExpired');
  });

  it('AssertionExpired: SessionNotOnOrAfter passed', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { sessionNotOnOrAfter: minutes(-5) }))), 'AssertionExpired');
  });

  it('DestinationMismatch', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { destination: 'https://sp.example.test/saml/default/other/acs' }))), 'DestinationMismatch');
  });

  it('RecipientMismatch: another ACS', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { recipient: 'https://sp.example.test/saml/default/other/acs' }))), 'RecipientMismatch');
  });

  it('RecipientMismatch: no Recipient', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { recipient: null }))), 'RecipientMismatch');
  });

  it('SubjectConfirmationInvalid: bearer NotOnOrAfter passed', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { confirmationNotOnOrAfter: minutes(-5) }))), 'SubjectConfirmationInvalid');
  });

  it('SubjectConfirmationInvalid: bearer NotOnOrAfter missing', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { confirmationNotOnOrAfter: null }))), 'SubjectConfirmationInvalid');
  });

  it('SubjectConfirmationInvalid: bearer data carries NotBefore', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { confirmationNotBefore: minutes(-1) }))), 'SubjectConfirmationInvalid');
  });

  it('SubjectConfirmationInvalid: no bearer confirmation', async () => {
    const r = makeResponse(idp, { confirmationMethod: 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key' });
    assertRejected(await validateResponse(cfg, input(r)), 'SubjectConfirmationInvalid');
  });

  it('InResponseToMismatch: another request id on both', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { inResponseTo: '_other' }))), 'InResponseToMismatch');
  });

  it('InResponseToMismatch: only the SubjectConfirmationData differs', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { confirmationInResponseTo: '_other' }))), 'InResponseToMismatch');
  });

  it('InResponseToMismatch: only the Response differs', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { responseInResponseTo: '_other' }))), 'InResponseToMismatch');
  });

  it('InResponseToMismatch: a solicited login answered without InResponseTo', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { inResponseTo: null }))), 'InResponseToMismatch');
  });

  it('UnsolicitedResponseRefused when IdP-initiated login is disabled', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp, { inResponseTo: null }), { expectedInResponseTo: null }));
    assertRejected(r, 'UnsolicitedResponseRefused');
  });

  it('accepts an unsolicited response when IdP-initiated login is enabled', async () => {
    const open = makeConfig(certificatesOf(idp), { idpInitiated: { enabled: true, redirectPath: '/' } });
    const a = assertAccepted(await validateResponse(open, input(makeResponse(idp, { inResponseTo: null }), { expectedInResponseTo: null })));
    assert.equal(a.inResponseTo, undefined);
  });

  it('InResponseToMismatch: an unsolicited response that answers some request', async () => {
    const open = makeConfig(certificatesOf(idp), { idpInitiated: { enabled: true } });
    assertRejected(await validateResponse(open, input(makeResponse(idp), { expectedInResponseTo: null })), 'InResponseToMismatch');
  });

  it('IdentityMissing: empty NameID', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { nameID: '' }))), 'IdentityMissing');
  });

  it('IdentityMissing: the configured identity attribute is absent', async () => {
    const byAttr = makeConfig(certificatesOf(idp), { userIdentityAttribute: 'uid' });
    assertRejected(await validateResponse(byAttr, input(makeResponse(idp))), 'IdentityMissing');
  });

  it('IdentityAmbiguous: the identity attribute has several values (value order must not pick the binding)', async () => {
    const byAttr = makeConfig(certificatesOf(idp), { userIdentityAttribute: 'mail' });
    assertRejected(await validateResponse(byAttr, input(makeResponse(idp, { attributes: { mail: ['victim@example.com', 'me@example.com'] } }))), 'IdentityAmbiguous');
    assertAccepted(await validateResponse(byAttr, input(makeResponse(idp, { attributes: { mail: ['me@example.com'] } }))));
  });

  it('ReplayDetected: the same assertion twice', async () => {
    const replay = new MemoryReplayCache();
    const resp = makeResponse(idp);
    assertAccepted(await validateResponse(cfg, input(resp, { replay })));
    assertRejected(await validateResponse(cfg, input(resp, { replay })), 'ReplayDetected');
  });

  it('a rejected response does not burn its assertion id', async () => {
    const replay = new MemoryReplayCache();
    const id = '_replay_after_failure';
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { assertionID: id, audience: 'x' }), { replay })), 'AudienceMismatch');
    assert.equal(replay.size, 0);
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { assertionID: id }), { replay })));
  });
});

describe('unsigned text refused before parsing (the commonest junk, cheaply)', () => {
  const parsed = (r: Awaited<ReturnType<typeof validateResponse>>) => r.trail.some((e) => e.check === 'xml');
  // The same response with "SignatureValue" in a comment: not taken early, so the full checks judge it.
  const withMention = (xml: string) => xml.replace('</samlp:Response>', '<!-- SignatureValue --></samlp:Response>');

  it('gives the reason the full checks give, without building a DOM', async () => {
    const lax = makeConfig(certificatesOf(idp), { security: { requireSignedAssertions: false } });
    const open = makeConfig(certificatesOf(idp), { idpInitiated: { enabled: true, redirectPath: '/' } });
    const cases: Array<[string, SamlConnectorConfig, string | null, string]> = [
      ['solicited, signed assertions required', cfg, REQUEST_ID, 'AssertionNotSigned'],
      ['solicited, either signature will do', lax, REQUEST_ID, 'SignatureMissing'],
      ['unsolicited, IdP-initiated off', cfg, null, 'UnsolicitedResponseRefused'],
      ['unsolicited, IdP-initiated on', open, null, 'AssertionNotSigned'],
    ];
    for (const [what, config, expected, reason] of cases) {
      const xml = makeResponseXml(idp, { signAssertion: false, signResponse: false, inResponseTo: expected });
      assert.ok(!xml.includes('SignatureValue'), what);
      const early = await validateResponse(config, input(b64(xml), { expectedInResponseTo: expected }));
      assertRejected(early, reason as never);
      assert.equal(parsed(early), false, `${what}: refused before parsing`);
      const full = await validateResponse(config, input(b64(withMention(xml)), { expectedInResponseTo: expected }));
      assertRejected(full, reason as never);
      assert.equal(parsed(full), true, `${what}: the mention sends it through the parser`);
    }
  });

  it('still parses an unsigned error answer, so the IdP\'s status is reported', async () => {
    const xml = makeResponseXml(idp, { signAssertion: false, signResponse: false }).replace(
      '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>',
      '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode>',
    );
    assert.ok(xml.includes('AuthnFailed'), 'the fixture has the status element this test rewrites');
    const r = await validateResponse(cfg, input(b64(xml)));
    assertRejected(r, 'StatusNotSuccess');
    assert.match(r.ok ? '' : r.message, /AuthnFailed/);
  });

  it('leaves the size, base64 and DOCTYPE refusals first', async () => {
    const xml = makeResponseXml(idp, { signAssertion: false, signResponse: false });
    assertRejected(await validateResponse(cfg, input(b64(`<!DOCTYPE x>${xml}`))), 'DoctypeForbidden');
    assertRejected(await validateResponse(cfg, input(`${b64(xml)}*`)), 'MalformedResponse');
  });
});

describe('acsParameterStyle Query', () => {
  const withState = `${ACS_URL}?s=state123`;

  it('accepts Destination and Recipient carrying the s parameter', async () => {
    const q = makeConfig(certificatesOf(idp), { acsParameterStyle: 'Query' });
    assertAccepted(await validateResponse(q, input(makeResponse(idp, { destination: withState, recipient: withState }))));
    assertAccepted(await validateResponse(q, input(makeResponse(idp))));
  });

  it('refuses other query strings', async () => {
    const q = makeConfig(certificatesOf(idp), { acsParameterStyle: 'Query' });
    assertRejected(await validateResponse(q, input(makeResponse(idp, { destination: `${withState}&x=1` }))), 'DestinationMismatch');
    assertRejected(await validateResponse(q, input(makeResponse(idp, { recipient: `${ACS_URL}?x=1` }))), 'RecipientMismatch');
  });

  it('refuses the s parameter with the RelayState style', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { destination: withState }))), 'DestinationMismatch');
  });
});

describe('the trail', () => {
  it('records every check of an accepted response in order', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp)));
    assert.deepEqual(
      r.trail.map((e) => e.check),
      [
        ...['size', 'doctype', 'xml', 'root', 'uniqueIds', 'status', 'solicitation', 'assertionCount', 'signature.response', 'signature.assertion', 'signedContent'],
        ...['header', 'issuer', 'audience', 'conditions', 'conditionsUnderstood', 'destination', 'subjectConfirmation', 'inResponseTo', 'identity', 'session', 'replay'],
      ],
    );
  });

  it('decodes as the IdP encoded it', () => {
    assert.match(decode(makeResponse(idp)), /^<samlp:Response /);
  });
});

describe('robustness', () => {
  it('accepts an XML declaration and default (unprefixed) namespaces', async () => {
    const xml = makeResponseXml(idp);
    assertAccepted(await validateResponse(cfg, input(b64(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`))));
    const unprefixed = `<?xml version="1.0"?><Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" IssueInstant="2020-01-01T00:00:00Z" Destination="${ACS_URL}" InResponseTo="${REQUEST_ID}"><Status><StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></Status><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignatureValue/></Signature></Response>`;
    // Parsed by namespace, not prefix: reaches the assertion count check (the
    // empty Signature keeps it from the refusal of unsigned text before parsing).
    assertRejected(await validateResponse(cfg, input(b64(unprefixed))), 'AssertionCountInvalid');
  });

  it('a failing replay store rejects the promise instead of blaming the response', async () => {
    const broken = { remember: async (): Promise<boolean> => Promise.reject(new Error('redis down')) };
    await assert.rejects(validateResponse(cfg, input(makeResponse(idp), { replay: broken })), /redis down/);
  });
});
