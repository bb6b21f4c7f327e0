// The requirements of the SAML 2.0 Web Browser SSO profile (profiles 4.1.4),
// SAML core 2.3-2.7 and 3.2.2 and the HTTP-POST binding (3.5.5.2) that the
// ACS enforces, one negative test each where validate-response.test.ts has
// none (src/saml/PROFILE-MUSTS.md lists every requirement and its test).
// Each response differs from a valid one in the one point under test; the
// IdP-side builder's editAssertion / editResponse hooks change the XML
// before it is signed, so the signatures stay valid.

import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { formatSamlTime } from '../../../src/saml/time.ts';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';
import { loadSpSigningKey } from '../../../src/saml/sign.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import { encryptElementXml } from '../../support/saml-encrypt.ts';
import { assertAccepted, assertRejected, b64, certificatesOf, input, makeConfig, makeResponse, makeResponseXml, signingIdentity } from '../../support/saml-fixtures.ts';

const ENTITY = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const minutes = (m: number): Date => new Date(Date.now() + m * 60_000);

let idp: SigningIdentity;
let cfg: SamlConnectorConfig;
/** requireSignedAssertions false: a Response signature alone vouches for the assertion. */
let lax: SamlConnectorConfig;

beforeAll(async () => {
  idp = await signingIdentity();
  cfg = makeConfig(certificatesOf(idp));
  lax = makeConfig(certificatesOf(idp), { security: { requireSignedAssertions: false } });
});

/** Replaces the first match of `pattern` in the XML, failing the test if there is none (a builder change must not make a test vacuous). */
function edit(pattern: string | RegExp, replacement: string): (xml: string) => string {
  return (xml) => {
    const out = xml.replace(pattern, replacement);
    assert.notEqual(out, xml, `the edit ${String(pattern)} changed nothing`);
    return out;
  };
}

/** Inserts `xml` into the assertion's Conditions, after its AudienceRestriction. */
const inConditions = (xml: string) => edit('</saml:AudienceRestriction>', `</saml:AudienceRestriction>${xml}`);

describe('SAML core 3.2.2 and profile 4.1.4.2: the Response', () => {
  it('MalformedResponse: Response Version other than 2.0', async () => {
    const r = makeResponse(idp, { editResponse: edit(/^(<samlp:Response [^>]*?)Version="2\.0"/, '$1Version="2.1"') });
    assertRejected(await validateResponse(cfg, input(r)), 'MalformedResponse');
  });

  it('MalformedResponse: Response without ID', async () => {
    const r = makeResponse(idp, { signResponse: false, editResponse: edit(/^(<samlp:Response [^>]*?) ID="[^"]*"/, '$1') });
    assertRejected(await validateResponse(cfg, input(r)), 'MalformedResponse');
  });

  it('MalformedResponse: Response without IssueInstant, or with one that is not a zoned xs:dateTime', async () => {
    const none = makeResponse(idp, { editResponse: edit(/^(<samlp:Response [^>]*?) IssueInstant="[^"]*"/, '$1') });
    assertRejected(await validateResponse(cfg, input(none)), 'MalformedResponse');
    const local = makeResponse(idp, { editResponse: edit(/^(<samlp:Response [^>]*? IssueInstant="[^"]*)Z"/, '$1"') });
    assertRejected(await validateResponse(cfg, input(local)), 'MalformedResponse');
  });

  it('AssertionNotYetValid: Response IssueInstant in the future beyond the clock skew', async () => {
    const later = formatSamlTime(minutes(5));
    const r = makeResponse(idp, { editResponse: edit(/^(<samlp:Response [^>]*? IssueInstant=")[^"]*"/, `$1${later}"`) });
    const result = await validateResponse(cfg, input(r));
    assertRejected(result, 'AssertionNotYetValid');
    assert.match(result.ok ? '' : result.message, /^Response IssueInstant/);
    // Within the skew (60 s): accepted.
    const soon = formatSamlTime(new Date(Date.now() + 30_000));
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editResponse: edit(/^(<samlp:Response [^>]*? IssueInstant=")[^"]*"/, `$1${soon}"`) }))));
  });

  it('DestinationMismatch: a signed Response without Destination (HTTP-POST binding 3.5.5.2)', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp, { destination: null })));
    assertRejected(r, 'DestinationMismatch');
    assert.match(r.ok ? '' : r.message, /signed but carries no Destination/);
  });

  it('IssuerMismatch: a signed Response without Issuer (profile 4.1.4.2, errata E17)', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp, { responseIssuer: null })));
    assertRejected(r, 'IssuerMismatch');
    assert.match(r.ok ? '' : r.message, /is signed but has no Issuer/);
  });

  it('IssuerMismatch: an unsigned Response without Issuer that carries an encrypted assertion (errata E17)', async () => {
    const spKey = await generateSigningIdentity({ commonName: 'sp-enc-musts' });
    const loaded = loadSpSigningKey(spKey.keyPem, spKey.certPem);
    assert.ok(loaded.ok);
    const enc = makeConfig(certificatesOf(idp), { encryption: { mode: 'Optional', keys: [loaded.signing], allowLegacy: false } });
    const encrypted = (responseIssuer: string | null): string => {
      const xml = makeResponseXml(idp, { signResponse: false, responseIssuer });
      const start = xml.indexOf('<saml:Assertion');
      const end = xml.indexOf('</saml:Assertion>') + '</saml:Assertion>'.length;
      return b64(xml.slice(0, start) + encryptElementXml(xml.slice(start, end), spKey.certPem) + xml.slice(end));
    };
    assertRejected(await validateResponse(enc, input(encrypted(null))), 'IssuerMismatch');
    assertAccepted(await validateResponse(enc, input(encrypted(cfg.idp.entityID))));
  });

  it('IssuerMismatch: Response Issuer with a Format other than entity; the entity Format is accepted', async () => {
    const other = makeResponse(idp, { editResponse: edit('<saml:Issuer>', '<saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">') });
    assertRejected(await validateResponse(cfg, input(other)), 'IssuerMismatch');
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editResponse: edit('<saml:Issuer>', `<saml:Issuer Format="${ENTITY}">`) }))));
  });

  it('StatusNotSuccess: an error status is refused even when a valid assertion comes with it (4.1.4.2)', async () => {
    const r = makeResponse(idp, { status: 'urn:oasis:names:tc:SAML:2.0:status:Requester', subStatus: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied' });
    const result = await validateResponse(cfg, input(r));
    assertRejected(result, 'StatusNotSuccess');
    assert.ok(!result.trail.some((e) => e.check.startsWith('signature')), 'the assertion is not even looked at');
  });

  it('StatusNotSuccess: an unauthenticated status value is cut short in the message', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp, { status: `urn:x:${'A'.repeat(5000)}`, assertionCount: 0 })));
    assertRejected(r, 'StatusNotSuccess');
    assert.ok(!r.ok && r.message.length < 300);
  });

  it('MalformedResponse: no Status, two Status elements, or two top-level StatusCodes', async () => {
    const noStatus = makeResponse(idp, { editResponse: edit(/<samlp:Status>.*?<\/samlp:Status>/, '') });
    assertRejected(await validateResponse(cfg, input(noStatus)), 'MalformedResponse');
    const success = '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>';
    const twoStatus = makeResponse(idp, { editResponse: edit('</samlp:Status>', `</samlp:Status>${success}`) });
    assertRejected(await validateResponse(cfg, input(twoStatus)), 'MalformedResponse');
    const twoCodes = makeResponse(idp, { editResponse: edit('</samlp:Status>', '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/></samlp:Status>') });
    assertRejected(await validateResponse(cfg, input(twoCodes)), 'MalformedResponse');
  });

  it('accepts a Success whose second-level code is only detail', async () => {
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { subStatus: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout' }))));
  });
});

describe('SAML core 2.3.3: the Assertion', () => {
  it('MalformedResponse: Assertion Version other than 2.0', async () => {
    const r = makeResponse(idp, { editAssertion: edit('Version="2.0"', 'Version="3.0"') });
    const result = await validateResponse(cfg, input(r));
    assertRejected(result, 'MalformedResponse');
    assert.match(result.ok ? '' : result.message, /Assertion Version/);
  });

  it('MalformedResponse: Assertion without ID, even under a signed Response', async () => {
    const r = makeResponse(idp, { signAssertion: false, editAssertion: edit(/ ID="[^"]*"/, '') });
    const result = await validateResponse(lax, input(r));
    assertRejected(result, 'MalformedResponse');
    assert.match(result.ok ? '' : result.message, /Assertion has no ID/);
  });

  it('MalformedResponse: Assertion without IssueInstant', async () => {
    const r = makeResponse(idp, { editAssertion: edit(/ IssueInstant="[^"]*"/, '') });
    assertRejected(await validateResponse(cfg, input(r)), 'MalformedResponse');
  });

  it('AssertionNotYetValid: Assertion IssueInstant in the future beyond the clock skew', async () => {
    const r = makeResponse(idp, { editAssertion: edit(/IssueInstant="[^"]*"/, `IssueInstant="${formatSamlTime(minutes(5))}"`) });
    const result = await validateResponse(cfg, input(r));
    assertRejected(result, 'AssertionNotYetValid');
    assert.match(result.ok ? '' : result.message, /^Assertion IssueInstant/);
  });

  it('IssuerMismatch: Assertion Issuer with a Format other than entity; the entity Format is accepted', async () => {
    const other = makeResponse(idp, { editAssertion: edit('<saml:Issuer>', '<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">') });
    assertRejected(await validateResponse(cfg, input(other)), 'IssuerMismatch');
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit('<saml:Issuer>', `<saml:Issuer Format="${ENTITY}">`) }))));
  });

  it('IssuerMismatch: Assertion without Issuer (profile 4.1.4.2), even under a signed Response', async () => {
    const r = makeResponse(idp, { signAssertion: false, editAssertion: edit(/<saml:Issuer>[^<]*<\/saml:Issuer>/, '') });
    assertRejected(await validateResponse(lax, input(r)), 'IssuerMismatch');
  });
});

describe('SAML core 2.4 and profile 4.1.4.2: Subject', () => {
  it('SubjectConfirmationInvalid: Assertion without Subject', async () => {
    const r = makeResponse(idp, { editAssertion: edit(/<saml:Subject>.*<\/saml:Subject>/, '') });
    assertRejected(await validateResponse(cfg, input(r)), 'SubjectConfirmationInvalid');
  });

  it('SubjectConfirmationInvalid: a bearer SubjectConfirmation without SubjectConfirmationData', async () => {
    const r = makeResponse(idp, { editAssertion: edit(/<saml:SubjectConfirmationData [^>]*\/>/, '') });
    assertRejected(await validateResponse(cfg, input(r)), 'SubjectConfirmationInvalid');
  });

  it('IdentityMissing: a Subject with two NameIDs (it should identify one principal)', async () => {
    const r = makeResponse(idp, { editAssertion: edit('</saml:NameID>', '</saml:NameID><saml:NameID>mallory@example.com</saml:NameID>') });
    assertRejected(await validateResponse(cfg, input(r)), 'IdentityMissing');
  });

  it('accepts a second, holder-of-key confirmation beside the valid bearer one', async () => {
    const hok = '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"/>';
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit('</saml:Subject>', `${hok}</saml:Subject>`) }))));
  });
});

describe('SAML core 2.5: Conditions', () => {
  it('MalformedResponse: Conditions NotBefore not earlier than NotOnOrAfter (an empty window, even inside the skew)', async () => {
    const at = new Date();
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { notBefore: at, notOnOrAfter: at }))), 'MalformedResponse');
  });

  it('AudienceMismatch: a second AudienceRestriction without this SP (restrictions are ANDed, 2.5.1.4)', async () => {
    const r = makeResponse(idp, { editAssertion: inConditions('<saml:AudienceRestriction><saml:Audience>https://other-sp.example.test</saml:Audience></saml:AudienceRestriction>') });
    assertRejected(await validateResponse(cfg, input(r)), 'AudienceMismatch');
  });

  it('MalformedResponse: two Conditions elements', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit('</saml:Conditions>', '</saml:Conditions><saml:Conditions/>') }))), 'MalformedResponse');
  });

  it('ConditionNotUnderstood: a custom saml:Condition (xsi:type) makes the assertion indeterminate', async () => {
    const custom = `<saml:Condition xmlns:xsi="${XSI}" xmlns:del="urn:oasis:names:tc:SAML:2.0:conditions:delegation" xsi:type="del:DelegationRestrictionType"/>`;
    const r = await validateResponse(cfg, input(makeResponse(idp, { editAssertion: inConditions(custom) })));
    assertRejected(r, 'ConditionNotUnderstood');
    assert.equal(r.ok || r.status, 401);
    assert.match(r.ok ? '' : r.message, /DelegationRestrictionType/);
  });

  it('ConditionNotUnderstood: an element of another namespace in Conditions', async () => {
    const r = makeResponse(idp, { editAssertion: inConditions('<x:Restriction xmlns:x="urn:example:conditions"/>') });
    assertRejected(await validateResponse(cfg, input(r)), 'ConditionNotUnderstood');
  });

  it('ConditionNotUnderstood: an attribute of Conditions other than NotBefore / NotOnOrAfter', async () => {
    const r = makeResponse(idp, { editAssertion: edit('<saml:Conditions ', '<saml:Conditions xmlns:x="urn:example:conditions" x:MaxUses="3" ') });
    assertRejected(await validateResponse(cfg, input(r)), 'ConditionNotUnderstood');
  });

  it('an invalid condition is reported before one that is not understood (2.5.1.1)', async () => {
    const r = makeResponse(idp, { audience: 'https://other-sp.example.test', editAssertion: inConditions('<x:Restriction xmlns:x="urn:example:conditions"/>') });
    assertRejected(await validateResponse(cfg, input(r)), 'AudienceMismatch');
  });

  it('accepts OneTimeUse and ProxyRestriction: understood, and always valid', async () => {
    const both = '<saml:OneTimeUse/><saml:ProxyRestriction Count="0"/>';
    const r = await validateResponse(cfg, input(makeResponse(idp, { editAssertion: inConditions(both) })));
    assertAccepted(r);
    assert.equal(r.trail.find((e) => e.check === 'conditionsUnderstood')?.detail, 'OneTimeUse, ProxyRestriction');
  });

  it('ReplayDetected: a OneTimeUse assertion is used once (2.5.1.5, by the replay cache)', async () => {
    const replay = new MemoryReplayCache();
    const once = makeResponse(idp, { editAssertion: inConditions('<saml:OneTimeUse/>') });
    assertAccepted(await validateResponse(cfg, input(once, { replay })));
    assertRejected(await validateResponse(cfg, input(once, { replay })), 'ReplayDetected');
  });

  it('MalformedResponse: two OneTimeUse, or two ProxyRestriction', async () => {
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: inConditions('<saml:OneTimeUse/><saml:OneTimeUse/>') }))), 'MalformedResponse');
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: inConditions('<saml:ProxyRestriction/><saml:ProxyRestriction/>') }))), 'MalformedResponse');
  });
});

describe('SAML core 2.6: Advice', () => {
  it('accepts Advice that only refers to other assertions (it may be ignored)', async () => {
    const advice = '<saml:Advice><saml:AssertionIDRef>_elsewhere</saml:AssertionIDRef></saml:Advice>';
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit('</saml:Conditions>', `</saml:Conditions>${advice}`) }))));
  });

  it('AssertionCountInvalid: an Assertion nested in Advice (the wrapping defence counts every Assertion)', async () => {
    const nested = `<saml:Advice><saml:Assertion ID="_advice" Version="2.0" IssueInstant="${formatSamlTime(new Date())}"><saml:Issuer>https://idp.example.test/metadata</saml:Issuer></saml:Assertion></saml:Advice>`;
    const r = makeResponse(idp, { editAssertion: edit('</saml:Conditions>', `</saml:Conditions>${nested}`) });
    assertRejected(await validateResponse(cfg, input(r)), 'AssertionCountInvalid');
  });
});

describe('SAML core 2.7 and profile 4.1.4.2-4.1.4.3: statements', () => {
  it('AuthnStatementMissing: an assertion without AuthnStatement does not log anyone in', async () => {
    const r = await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit(/<saml:AuthnStatement .*<\/saml:AuthnStatement>/, '') })));
    assertRejected(r, 'AuthnStatementMissing');
    assert.equal(r.ok || r.status, 401);
  });

  it('MalformedResponse: an AuthnStatement without AuthnInstant, or without AuthnContext (2.7.2)', async () => {
    const noInstant = makeResponse(idp, { editAssertion: edit(/(<saml:AuthnStatement [^>]*?)AuthnInstant="[^"]*"/, '$1') });
    assertRejected(await validateResponse(cfg, input(noInstant)), 'MalformedResponse');
    const noContext = makeResponse(idp, { editAssertion: edit(/<saml:AuthnContext>.*<\/saml:AuthnContext>/, '') });
    assertRejected(await validateResponse(cfg, input(noContext)), 'MalformedResponse');
  });

  it('accepts an AuthnStatement without SessionIndex (only IdPs with single logout must send one)', async () => {
    const a = assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { sessionIndex: null }))));
    assert.equal(a.sessionIndex, undefined);
  });

  it('AssertionExpired: of several AuthnStatements, the earliest SessionNotOnOrAfter is honoured', async () => {
    const second = (until: Date) =>
      edit('</saml:AuthnStatement>', `</saml:AuthnStatement><saml:AuthnStatement AuthnInstant="${formatSamlTime(new Date())}" SessionNotOnOrAfter="${formatSamlTime(until)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`);
    assertRejected(await validateResponse(cfg, input(makeResponse(idp, { sessionNotOnOrAfter: minutes(60), editAssertion: second(minutes(-5)) }))), 'AssertionExpired');
    const sooner = minutes(30);
    const a = assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { sessionNotOnOrAfter: minutes(60), sessionIndex: '_s1', editAssertion: second(sooner) }))));
    assert.equal(a.sessionNotOnOrAfter, Math.floor(sooner.getTime() / 1000));
    assert.equal(a.sessionIndex, '_s1');
  });

  it('MalformedResponse: SessionNotOnOrAfter that is not a zoned xs:dateTime', async () => {
    const r = makeResponse(idp, { editAssertion: edit('<saml:AuthnStatement ', '<saml:AuthnStatement SessionNotOnOrAfter="tomorrow" ') });
    assertRejected(await validateResponse(cfg, input(r)), 'MalformedResponse');
  });

  it('an AttributeValue with xsi:nil "true" or "1" is a null value, not an empty string (2.7.3.1.1)', async () => {
    const nil = (v: string) => `<saml:AttributeValue xmlns:xsi="${XSI}" xsi:nil="${v}"/>`;
    const r = makeResponse(idp, {
      attributes: { a: 'x', b: 'y' },
      editAssertion: (xml) => edit('<saml:AttributeValue>y</saml:AttributeValue>', `${nil('1')}<saml:AttributeValue/>`)(edit('<saml:AttributeValue>x</saml:AttributeValue>', nil('true'))(xml)),
    });
    const a = assertAccepted(await validateResponse(cfg, input(r)));
    assert.deepEqual(a.attributes.a, []);
    assert.deepEqual(a.attributes.b, ['']);
  });

  it('an Attribute without Name (required, 2.7.3.1) is not read', async () => {
    const r = makeResponse(idp, { attributes: { role: 'admin', mail: 'alice@example.com' }, editAssertion: edit('<saml:Attribute Name="role" ', '<saml:Attribute ') });
    const a = assertAccepted(await validateResponse(cfg, input(r)));
    assert.deepEqual(Object.keys(a.attributes), ['mail']);
  });

  it('accepts and ignores an AuthzDecisionStatement', async () => {
    const authz = '<saml:AuthzDecisionStatement Resource="https://app.example.test/" Decision="Permit"><saml:Action>GET</saml:Action></saml:AuthzDecisionStatement>';
    assertAccepted(await validateResponse(cfg, input(makeResponse(idp, { editAssertion: edit('</saml:Assertion>', `${authz}</saml:Assertion>`) }))));
  });
});
