// The ACS with encrypted assertions (saml.encryption): the decrypted
// assertion goes through exactly the checks of a plain one, the modes None /
// Optional / Required, legacy algorithms only when allowed, key rotation, and
// one uniform refusal for every failure of the encrypted path (no oracle).

import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { newSamlId, signElement } from '../../../src/demo-idp/saml-idp.ts';
import { loadSpSigningKey, type SpSigningKey } from '../../../src/saml/sign.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import { encryptElementXml, type EncryptOptions } from '../../support/saml-encrypt.ts';
import { assertAccepted, assertRejected, b64, certificatesOf, input, makeConfig, makeResponseXml, signingIdentity } from '../../support/saml-fixtures.ts';

let idp: SigningIdentity;
let spKey: SigningIdentity;
let nextKey: SigningIdentity;
let stranger: SigningIdentity;
let loaded: SpSigningKey;
let loadedNext: SpSigningKey;

beforeAll(async () => {
  idp = await signingIdentity('idp');
  [spKey, nextKey, stranger] = await Promise.all([generateSigningIdentity({ commonName: 'sp-enc' }), generateSigningIdentity({ commonName: 'sp-enc-next' }), generateSigningIdentity({ commonName: 'stranger' })]);
  const load = (k: SigningIdentity) => {
    const l = loadSpSigningKey(k.keyPem, k.certPem);
    assert.ok(l.ok);
    return l.signing;
  };
  loaded = load(spKey);
  loadedNext = load(nextKey);
});

const config = (mode: 'None' | 'Optional' | 'Required', o: { keys?: SpSigningKey[]; allowLegacy?: boolean; requireSignedAssertions?: boolean } = {}): SamlConnectorConfig =>
  makeConfig(certificatesOf(idp), { encryption: { mode, keys: o.keys ?? [loaded], allowLegacy: o.allowLegacy ?? false }, security: { requireSignedAssertions: o.requireSignedAssertions ?? true } });

/**
 * A Response whose (signed) assertion is encrypted to `cert`; the Response
 * itself signed after encryption when `signResponse`, as IdPs do.
 */
function encryptedResponse(o: { cert?: string; enc?: EncryptOptions; signAssertion?: boolean; signResponse?: boolean; mutate?: (assertionXml: string) => string; attributes?: Record<string, string | string[]> } = {}): string {
  const responseID = newSamlId();
  const xml = makeResponseXml(idp, { responseID, signResponse: false, signAssertion: o.signAssertion ?? true, ...(o.attributes ? { attributes: o.attributes } : {}) });
  const start = xml.indexOf('<saml:Assertion');
  const end = xml.indexOf('</saml:Assertion>') + '</saml:Assertion>'.length;
  const assertion = (o.mutate ?? ((a) => a))(xml.slice(start, end));
  let out = xml.slice(0, start) + encryptElementXml(assertion, o.cert ?? spKey.certPem, o.enc ?? {}) + xml.slice(end);
  if (o.signResponse) out = signElement(out, responseID, { keyPem: idp.keyPem, keyInfoCertPem: idp.certPem });
  return out;
}

describe('ACS with encrypted assertions', () => {
  it('accepts an AES-256-GCM / RSA-OAEP encrypted, signed assertion and reads it as a plain one', async () => {
    const a = assertAccepted(await validateResponse(config('Required'), input(b64(encryptedResponse()))));
    assert.equal(a.nameID, 'alice@example.com');
    assert.deepEqual(a.attributes.groups, ['admins', 'devs']);
    const result = await validateResponse(config('Optional'), input(b64(encryptedResponse({ enc: { contentCipher: 'aes128-gcm', keyTransport: 'rsa-oaep', digest: 'sha256' }, signResponse: true }))));
    assert.ok(result.ok, !result.ok ? `${result.reason}: ${result.message}` : '');
    assert.match(result.trail.find((t) => t.check === 'decryption')?.detail ?? '', /aes128-gcm, rsa-oaep, key sha256:/);
  });

  it('an encrypted assertion with only the Response signed: the signature over the ciphertext vouches for it (requireSignedAssertions false)', async () => {
    const ok = await validateResponse(config('Required', { requireSignedAssertions: false }), input(b64(encryptedResponse({ signAssertion: false, signResponse: true }))));
    assertAccepted(ok);
    // Unsigned everywhere: refused, and for the encrypted path with the one uniform reason.
    assertRejected(await validateResponse(config('Required', { requireSignedAssertions: false }), input(b64(encryptedResponse({ signAssertion: false })))), 'EncryptedAssertionInvalid');
  });

  it('an attacker who encrypts a forged assertion to our public key gets nowhere: the decrypted assertion must carry a valid IdP signature', async () => {
    const forged = encryptedResponse({ mutate: (a) => a.replace('alice@example.com</saml:NameID>', 'admin@example.com</saml:NameID>') });
    const r = await validateResponse(config('Required'), input(b64(forged)));
    assertRejected(r, 'EncryptedAssertionInvalid');
    assert.match(r.trail.at(-1)?.detail ?? '', /SignatureInvalid/, 'the trail (admin log) keeps the step that failed');
    // Signed by someone else entirely.
    const other = makeResponseXml(stranger, { signResponse: false });
    const s = other.indexOf('<saml:Assertion');
    const e = other.indexOf('</saml:Assertion>') + 17;
    const theirs = other.slice(0, s) + encryptElementXml(other.slice(s, e), spKey.certPem) + other.slice(e);
    assertRejected(await validateResponse(config('Required'), input(b64(theirs))), 'EncryptedAssertionInvalid');
  });

  it('one uniform refusal for a wrong key, a tampered ciphertext and a plaintext that is not an assertion', async () => {
    const results = await Promise.all([
      validateResponse(config('Required'), input(b64(encryptedResponse({ cert: stranger.certPem })))),
      validateResponse(config('Required'), input(b64(encryptedResponse().replace(/(<xenc:CipherData><xenc:CipherValue>)([A-Za-z0-9+/])/g, (_m, p: string, c: string) => p + (c === 'A' ? 'B' : 'A'))))),
      validateResponse(config('Required'), input(b64(encryptedResponse({ mutate: () => '<saml:Other xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x"/>' })))),
      validateResponse(config('Required'), input(b64(encryptedResponse({ mutate: () => 'not xml at all' })))),
    ]);
    for (const r of results) {
      assertRejected(r, 'EncryptedAssertionInvalid');
      assert.equal(!r.ok && r.status, 401);
      assert.equal(!r.ok && r.message, 'the encrypted assertion could not be decrypted and verified');
    }
  });

  it('modes: None refuses encrypted assertions, Required refuses plain ones, Optional takes both', async () => {
    assertRejected(await validateResponse(config('None', { keys: [] }), input(b64(encryptedResponse()))), 'EncryptedAssertionUnsupported');
    const plain = b64(makeResponseXml(idp));
    assertRejected(await validateResponse(config('Required'), input(plain)), 'AssertionNotEncrypted');
    assertAccepted(await validateResponse(config('Optional'), input(plain)));
    assertAccepted(await validateResponse(config('Optional'), input(b64(encryptedResponse()))));
  });

  it('legacy AES-CBC and RSA-1_5 only with allowLegacy, and then accepted', async () => {
    for (const enc of [{ contentCipher: 'aes128-cbc' }, { keyTransport: 'rsa-1_5' }] as EncryptOptions[]) {
      assertRejected(await validateResponse(config('Required'), input(b64(encryptedResponse({ enc })))), 'EncryptionAlgorithmNotAllowed');
      assertAccepted(await validateResponse(config('Required', { allowLegacy: true }), input(b64(encryptedResponse({ enc })))));
    }
  });

  it('rotation: an assertion encrypted to the next key opens while both are configured', async () => {
    const both = config('Required', { keys: [loaded, loadedNext] });
    assertAccepted(await validateResponse(both, input(b64(encryptedResponse({ cert: nextKey.certPem })))));
    assertAccepted(await validateResponse(both, input(b64(encryptedResponse({ cert: spKey.certPem })))));
    assertRejected(await validateResponse(config('Required', { keys: [loadedNext] }), input(b64(encryptedResponse({ cert: spKey.certPem })))), 'EncryptedAssertionInvalid');
  });

  it('wrapping: two encrypted assertions, or one beside a plain assertion, are refused', async () => {
    const one = encryptedResponse();
    const ea = one.slice(one.indexOf('<saml:EncryptedAssertion'), one.indexOf('</saml:EncryptedAssertion>') + '</saml:EncryptedAssertion>'.length);
    assertRejected(await validateResponse(config('Required'), input(b64(one.replace(ea, ea + ea)))), 'AssertionCountInvalid');
    const plain = makeResponseXml(idp, { signResponse: false });
    const plainAssertion = plain.slice(plain.indexOf('<saml:Assertion'), plain.indexOf('</saml:Assertion>') + 17);
    assertRejected(await validateResponse(config('Optional'), input(b64(one.replace(ea, ea + plainAssertion)))), 'AssertionCountInvalid');
  });

  it('EncryptedID and EncryptedAttribute inside the assertion are refused by name', async () => {
    const encryptedID = encryptElementXml('<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice@example.com</saml:NameID>', spKey.certPem, { wrapper: 'EncryptedID' });
    const withID = makeResponseXml(idp, { signResponse: false, signAssertion: false });
    const swapped = withID.replace(/<saml:NameID[^>]*>[^<]*<\/saml:NameID>/, encryptedID);
    const id = /<saml:Assertion [^>]*ID="([^"]+)"/.exec(swapped)![1]!;
    const signedID = signElement(swapped, id, { keyPem: idp.keyPem, keyInfoCertPem: idp.certPem });
    assertRejected(await validateResponse(config('Optional'), input(b64(signedID))), 'EncryptedIDUnsupported');
    const attr = encryptElementXml('<saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="x"><saml:AttributeValue>y</saml:AttributeValue></saml:Attribute>', spKey.certPem, { wrapper: 'EncryptedAttribute' });
    const withAttr = makeResponseXml(idp, { signResponse: false, signAssertion: false }).replace('</saml:AttributeStatement>', `${attr}</saml:AttributeStatement>`);
    const aid = /<saml:Assertion [^>]*ID="([^"]+)"/.exec(withAttr)![1]!;
    assertRejected(await validateResponse(config('Optional'), input(b64(signElement(withAttr, aid, { keyPem: idp.keyPem, keyInfoCertPem: idp.certPem })))), 'EncryptedAttributeUnsupported');
  });

  it('the decrypted assertion gets every check of a plain one (audience, replay)', async () => {
    const cfg = config('Required');
    const xml = encryptedResponse();
    const replay = input(b64(xml));
    assertAccepted(await validateResponse(cfg, replay));
    assertRejected(await validateResponse(cfg, { ...input(b64(xml)), replay: replay.replay }), 'ReplayDetected');
    const other = makeConfig(certificatesOf(idp), { spEntityID: `https://other.example.test/${randomBytes(4).toString('hex')}`, encryption: cfg.encryption });
    assertRejected(await validateResponse(other, input(b64(encryptedResponse()))), 'AudienceMismatch');
  });
});
