// The demo IdP's samlify-built Responses (src/demo-idp/samlify-response.ts)
// through the SP's own ACS validation (validateResponse): plain and
// encrypted, SP- and IdP-initiated, with what the demo IdP always sent
// (both signatures RSA-SHA256 with exclusive c14n, emailAddress NameID,
// attributes, SessionIndex, the validity windows). samlify runs here with no
// schema validator set: building a Response does not consult one.

import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { createSamlifyIdp, type SamlifyIdp } from '../../../src/demo-idp/samlify-response.ts';
import { loadSpSigningKey, type SpSigningKey } from '../../../src/saml/sign.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import { NS, descendants, parseXmlStrict, attr } from '../../../src/saml/xml.ts';
import { ACS_URL, IDP_ENTITY_ID, REQUEST_ID, SP_ENTITY_ID, assertAccepted, assertRejected, certificatesOf, decode, input, makeConfig, signingIdentity } from '../../support/saml-fixtures.ts';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

let idp: SigningIdentity;
let spEnc: SigningIdentity;
let spEncKey: SpSigningKey;
let builder: SamlifyIdp;

beforeAll(async () => {
  idp = await signingIdentity('idp');
  spEnc = await generateSigningIdentity({ commonName: 'sp-encryption' });
  const loaded = loadSpSigningKey(spEnc.keyPem, spEnc.certPem);
  assert.ok(loaded.ok);
  spEncKey = loaded.signing;
  builder = createSamlifyIdp({ entityID: IDP_ENTITY_ID, ssoURL: 'https://idp.example.test/sso', sloURL: 'https://idp.example.test/slo', identity: idp });
});

const config = (o: { encryption?: 'None' | 'Optional' | 'Required'; idpInitiated?: boolean } = {}): SamlConnectorConfig =>
  makeConfig(certificatesOf(idp), {
    encryption: { mode: o.encryption ?? 'None', keys: o.encryption && o.encryption !== 'None' ? [spEncKey] : [], allowLegacy: false },
    idpInitiated: { enabled: o.idpInitiated ?? false },
  });

const ATTRIBUTES = { email: ['alice@example.com'], username: ['alice'], groups: ['admins', 'devs'], displayName: ['Alice <A&B> "Q"'] };

function build(o: { encrypt?: boolean; inResponseTo?: string | null; now?: Date; attributes?: Record<string, string[]>; nameID?: string } = {}) {
  const now = o.now ?? new Date();
  return builder.loginResponse({
    spEntityID: SP_ENTITY_ID,
    acsURL: ACS_URL,
    ...(o.inResponseTo === null ? {} : { inResponseTo: o.inResponseTo ?? REQUEST_ID }),
    nameID: o.nameID ?? 'alice@example.com',
    attributes: o.attributes ?? ATTRIBUTES,
    now,
    sessionNotOnOrAfter: new Date(now.getTime() + 8 * 3600_000),
    ...(o.encrypt ? { encryptionCertificate: spEnc.certPem } : {}),
  });
}

function detail(result: Awaited<ReturnType<typeof validateResponse>>, check: string): string {
  return result.trail.find((t) => t.check === check)?.detail ?? '';
}

describe('demo IdP Responses built by samlify, read by our ACS', () => {
  it('plain, SP-initiated: accepted with both signatures RSA-SHA256, NameID, attributes, SessionIndex and InResponseTo', async () => {
    const now = new Date();
    const out = await build({ now });
    assert.equal(out.encrypted, false);
    const result = await validateResponse(config(), input(out.samlResponse, { now }));
    const a = assertAccepted(result);
    assert.equal(a.nameID, 'alice@example.com');
    assert.equal(a.nameIDFormat, EMAIL);
    assert.equal(a.issuer, IDP_ENTITY_ID);
    assert.equal(a.inResponseTo, REQUEST_ID);
    assert.match(a.sessionIndex ?? '', /^_s[0-9a-f]{24}$/);
    assert.equal(a.sessionNotOnOrAfter, Math.floor((now.getTime() + 8 * 3600_000) / 1000));
    assert.deepEqual({ ...a.attributes }, ATTRIBUTES, 'multi-valued and escaped values come back as given');
    assert.match(detail(result, 'signature.response'), new RegExp(`^valid, .*${RSA_SHA256}$`));
    assert.match(detail(result, 'signature.assertion'), new RegExp(`^valid, .*${RSA_SHA256}$`));
    assert.equal(detail(result, 'signedContent'), 'assertion');

    // The shape, as the demo IdP sent it before: windows, Destination and
    // Recipient, exclusive c14n, no EncryptedAssertion.
    const doc = parseXmlStrict(decode(out.samlResponse)).documentElement!;
    assert.equal(attr(doc, 'Destination'), ACS_URL);
    assert.equal(attr(doc, 'InResponseTo'), REQUEST_ID);
    const [conditions] = descendants(doc, NS.assertion, 'Conditions');
    assert.equal(Date.parse(attr(conditions!, 'NotBefore')!), now.getTime() - 30_000);
    assert.equal(Date.parse(attr(conditions!, 'NotOnOrAfter')!), now.getTime() + 300_000);
    const [scd] = descendants(doc, NS.assertion, 'SubjectConfirmationData');
    assert.equal(attr(scd!, 'Recipient'), ACS_URL);
    assert.equal(attr(scd!, 'InResponseTo'), REQUEST_ID);
    assert.equal(Date.parse(attr(scd!, 'NotOnOrAfter')!), now.getTime() + 300_000);
    assert.equal(descendants(doc, NS.assertion, 'Audience')[0]?.textContent, SP_ENTITY_ID);
    for (const m of descendants(doc, NS.dsig, 'CanonicalizationMethod')) assert.equal(attr(m, 'Algorithm'), 'http://www.w3.org/2001/10/xml-exc-c14n#');
    assert.equal(descendants(doc, NS.assertion, 'EncryptedAssertion').length, 0);
  });

  it('encrypted to the SP certificate: AES-256-GCM with RSA-OAEP (mgf1p), Response signed over the ciphertext; accepted with encryption Required', async () => {
    const out = await build({ encrypt: true });
    assert.equal(out.encrypted, true);
    const xml = decode(out.samlResponse);
    const doc = parseXmlStrict(xml).documentElement!;
    assert.equal(descendants(doc, NS.assertion, 'Assertion').length, 0, 'no plain assertion is left');
    assert.equal(descendants(doc, NS.assertion, 'EncryptedAssertion').length, 1);
    assert.match(xml, /EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2009\/xmlenc11#aes256-gcm"/);
    assert.match(xml, /EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmlenc#rsa-oaep-mgf1p"/);
    assert.doesNotMatch(xml, /alice@example\.com|admins/, 'nothing of the assertion is readable');

    const result = await validateResponse(config({ encryption: 'Required' }), input(out.samlResponse));
    const a = assertAccepted(result);
    assert.equal(a.nameID, 'alice@example.com');
    assert.deepEqual(a.attributes.groups, ['admins', 'devs']);
    assert.match(detail(result, 'decryption'), /^aes256-gcm, rsa-oaep-mgf1p, key sha256:/);
    assert.match(detail(result, 'signature.response'), /^valid, /, 'the Response signature covers the EncryptedAssertion');
    assert.match(detail(result, 'signature.assertion'), /^valid, /, 'the decrypted assertion carries its own signature');
    // The same response where the SP takes no encrypted assertions.
    assertRejected(await validateResponse(config(), input(out.samlResponse)), 'EncryptedAssertionUnsupported');
  });

  it('a plain response is refused where the SP requires encryption (the demo IdP must encrypt for demo-encrypted)', async () => {
    assertRejected(await validateResponse(config({ encryption: 'Required' }), input((await build()).samlResponse)), 'AssertionNotEncrypted');
  });

  it('IdP-initiated, plain and encrypted: no InResponseTo anywhere, accepted where the connector allows unsolicited logins', async () => {
    for (const encrypt of [false, true]) {
      const out = await build({ inResponseTo: null, encrypt });
      if (!encrypt) assert.doesNotMatch(decode(out.samlResponse), /InResponseTo/);
      const cfg = config({ idpInitiated: true, encryption: encrypt ? 'Required' : 'None' });
      const a = assertAccepted(await validateResponse(cfg, input(out.samlResponse, { expectedInResponseTo: null })));
      assert.equal(a.inResponseTo, undefined);
      assert.equal(a.nameID, 'alice@example.com');
      // And refused as the answer to a pending request.
      const refused = await validateResponse(cfg, input(out.samlResponse));
      assert.equal(refused.ok, false);
    }
  });

  it('values that look like template tags stay literal (samlify substitutes tags one after the other)', async () => {
    // Each value names a tag substituted after it (NameID comes before the attributes).
    const attributes = { email: ['{AttrValue1x1}'], note: ['{AttrName1}', '{DemoAttributes}'] };
    const out = await build({ attributes, nameID: 'x{AttrValue0x0}@example.com' });
    const a = assertAccepted(await validateResponse(config(), input(out.samlResponse)));
    assert.equal(a.nameID, 'x{AttrValue0x0}@example.com');
    assert.deepEqual({ ...a.attributes }, attributes);
  });

  it('each Response has fresh IDs and a fresh SessionIndex', async () => {
    const [one, two] = await Promise.all([build(), build()]);
    const ids = (r: { samlResponse: string }) => {
      const doc = parseXmlStrict(decode(r.samlResponse)).documentElement!;
      return [attr(doc, 'ID'), attr(descendants(doc, NS.assertion, 'Assertion')[0]!, 'ID'), attr(descendants(doc, NS.assertion, 'AuthnStatement')[0]!, 'SessionIndex')];
    };
    const [a, b] = [ids(one!), ids(two!)];
    for (let i = 0; i < 3; i++) {
      assert.match(a[i] ?? '', /^_/);
      assert.notEqual(a[i], b[i]);
    }
  });
});
