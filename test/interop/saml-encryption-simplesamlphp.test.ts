// Encrypted SAML 2.0 with a real SimpleSAMLphp IdP (Debian's 1.19.7) and a
// real standalone operator: the IdP encrypts assertions to the SP encryption
// certificate (RSA-OAEP-MGF1P key transport, as SimpleSAMLphp always does),
// with AES-GCM content encryption through the test harness's block-cipher
// choice (see BlockCipher in test/support/simplesamlphp.ts: Debian's version
// hard-codes AES-128-CBC, which the connector refuses unless it opts in).
// SP- and IdP-initiated sign-in, the legacy opt-in, Required refusing a plain
// assertion, a key the SP does not hold, and an encryption key rotation in
// which the IdP switches keys between two logins.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { BrowserClient, findFormWithField, parseForms, type BrowserResponse } from '../support/browser-client.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';
import { makeTestKeyPair, pemBody, samlResponseForm, startSimpleSamlPhp, type SimpleSamlPhp, type SpRegistration, type TestKeyPair } from '../support/simplesamlphp.ts';

const NS = 'default';
const USER = { name: 'alice', password: 'alice-Pw-enc-7q!Xk2', email: 'alice@example.com' };

describe('Encrypted SAML 2.0 with a real SimpleSAMLphp IdP', () => {
  jest.setTimeout(120_000);
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  let idpKey: TestKeyPair;
  let encKey: TestKeyPair;
  let nextKey: TestKeyPair;
  let strangerKey: TestKeyPair;

  const entityIDOf = (c: string) => `${op.baseURL}/saml/${NS}/${c}/metadata`;
  const acsOf = (c: string) => `${op.baseURL}/saml/${NS}/${c}/acs`;
  const loginURL = (c: string) => `${op.baseURL}/saml/${NS}/${c}/login?rd=%2Fapp`;

  /** SimpleSAMLphp's registration of connector `c`, encrypting to `cert` (or not at all). */
  const registration = (c: string, cert: string | undefined): SpRegistration => ({
    entityID: entityIDOf(c),
    acsURL: acsOf(c),
    extraMetadata: cert
      ? { 'assertion.encryption': true, keys: [{ encryption: true, signing: false, type: 'X509Certificate', X509Certificate: pemBody(cert) }] }
      : { 'assertion.encryption': false },
  });

  const tlsSecret = (name: string, k: TestKeyPair) =>
    stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace: NS }, stringData: { 'tls.key': k.keyPem, 'tls.crt': k.certPem } });

  const connector = (name: string, saml: Record<string, unknown>, sp: Record<string, unknown>) =>
    stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name, namespace: NS },
      spec: {
        protocol: 'SAML2',
        saml: {
          idp: { entityID: idp.entityID, ssoURL: idp.ssoURL, certificates: [{ secretRef: { name: 'idp-cert', key: 'tls.crt' } }] },
          sp: { nameIDPolicy: { format: 'EmailAddress' }, ...sp },
          ...saml,
        },
      },
    });

  /** The four connectors' saml and sp blocks, written as one file so that a change never leaves two copies of one. */
  const specs: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
    enc: [{ encryption: 'Required' }, { encryptionKeySecretRef: { name: 'sp-enc' } }],
    'enc-idp': [{ encryption: 'Required', idpInitiated: { enabled: true, redirectPath: '/auth/whoami' } }, { encryptionKeySecretRef: { name: 'sp-enc' } }],
    legacy: [{ encryption: 'Optional' }, { encryptionKeySecretRef: { name: 'sp-enc' } }],
    rotating: [{ encryption: 'Required' }, { encryptionKeySecretRef: { name: 'sp-enc' } }],
  };
  const writeConnectors = () =>
    op.writeManifest(
      'connectors.yaml',
      Object.entries(specs)
        .map(([name, [saml, sp]]) => connector(name, saml, sp))
        .join('---\n'),
    );

  async function status(name: string): Promise<{ conditions: { type: string; status: string; reason: string }[] }> {
    const res = await fetch(`${op.adminURL}/admin/status`);
    const all = (await res.json()) as { resources: { kind: string; name: string; status: { conditions: { type: string; status: string; reason: string }[] } }[] };
    return all.resources.find((r) => r.kind === 'SsoConnector' && r.name === name)?.status ?? { conditions: [] };
  }

  const ready = async (name: string) => (await status(name)).conditions.some((c) => c.type === 'Ready' && c.status === 'True');

  /** Through the IdP's login form to its auto-submit SAMLResponse form. */
  const toSamlResponse = (browser: BrowserClient, start: BrowserResponse) => samlResponseForm(browser, start, USER);

  /** An SP-initiated sign-in at connector `c`: the ACS answer and the Response XML the IdP sent. */
  async function signIn(c: string): Promise<{ res: BrowserResponse; xml: string }> {
    const browser = new BrowserClient();
    const form = await toSamlResponse(browser, await browser.get(loginURL(c)));
    const xml = Buffer.from(form.fields['SAMLResponse'] ?? '', 'base64').toString('utf8');
    return { res: await browser.submit(form, {}, { followRedirects: false }), xml };
  }

  const reasonOf = (res: BrowserResponse) => /Reason: <code>([^<]*)<\/code>/.exec(res.body)?.[1];

  beforeAll(async () => {
    [idpKey, encKey, nextKey, strangerKey] = await Promise.all([makeTestKeyPair('ssp-idp'), makeTestKeyPair('sp-enc'), makeTestKeyPair('sp-enc-next'), makeTestKeyPair('someone-else')]);
    op = await startTestOperator();
    idp = await startSimpleSamlPhp({
      users: { [USER.name]: { password: USER.password, attributes: { email: [USER.email], uid: [USER.name] } } },
      serviceProviders: [
        registration('enc', encKey.certPem),
        registration('enc-idp', encKey.certPem),
        registration('legacy', encKey.certPem),
        registration('rotating', encKey.certPem),
      ],
      signing: idpKey,
    });
    await idp.setBlockCipher('aes256-gcm');
    await op.writeManifest('secrets.yaml', [stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'idp-cert', namespace: NS }, stringData: { 'tls.crt': idp.certPem } }), tlsSecret('sp-enc', encKey), tlsSecret('sp-enc-next', nextKey)].join('---\n'));
    await op.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: USER.email, connectors: ['enc', 'enc-idp', 'legacy', 'rotating'] } }));
    await writeConnectors();
    await waitFor(async () => (await Promise.all(['enc', 'enc-idp', 'legacy', 'rotating'].map(ready))).every(Boolean), 15_000, 50);
  });

  afterAll(async () => {
    await op?.stop();
    await idp?.stop();
  });

  it('SP metadata publishes the encryption certificate with the methods accepted (no legacy ones)', async () => {
    const md = await (await fetch(entityIDOf('enc'))).text();
    assert.match(md, /<md:KeyDescriptor use="encryption">/);
    assert.ok(md.includes(pemBody(encKey.certPem)));
    assert.match(md, /EncryptionMethod Algorithm="http:\/\/www.w3.org\/2009\/xmlenc11#aes256-gcm"/);
    assert.match(md, /EncryptionMethod Algorithm="http:\/\/www.w3.org\/2001\/04\/xmlenc#rsa-oaep-mgf1p"/);
    assert.doesNotMatch(md, /aes128-cbc|rsa-1_5/);
  });

  it('signs in with an AES-256-GCM / RSA-OAEP encrypted assertion (SP-initiated)', async () => {
    const { res, xml } = await signIn('enc');
    assert.equal(res.status, 303, `${res.status} ${reasonOf(res)}\n${op.rawLogs().slice(-2000)}`);
    assert.equal(res.headers.get('location'), '/app');
    // What SimpleSAMLphp sent really was encrypted, and as intended.
    assert.match(xml, /EncryptedAssertion/);
    assert.match(xml, /xmlenc11#aes256-gcm/);
    assert.match(xml, /xmlenc#rsa-oaep-mgf1p/);
    assert.doesNotMatch(xml, /<(saml2?:)?Assertion[\s>]/);
    assert.ok(!xml.includes(USER.email), 'the user is not readable in the Response');
  });

  it('signs in IdP-initiated with an encrypted assertion', async () => {
    const browser = new BrowserClient();
    const form = await toSamlResponse(browser, await browser.get(idp.idpInitiatedURL(entityIDOf('enc-idp'))));
    assert.match(Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8'), /EncryptedAssertion/);
    const res = await browser.submit(form, {}, { followRedirects: false });
    assert.equal(res.status, 303, `${res.status} ${reasonOf(res)}`);
    assert.equal(res.headers.get('location'), '/auth/whoami');
  });

  it('AES-CBC (SimpleSAMLphp 1.19 default) is refused until the connector allows legacy encryption, which its status then shows', async () => {
    await idp.setBlockCipher('aes128-cbc');
    try {
      const refused = await signIn('legacy');
      assert.match(refused.xml, /xmlenc#aes128-cbc/);
      assert.equal(refused.res.status, 401);
      assert.equal(reasonOf(refused.res), 'EncryptionAlgorithmNotAllowed');
      specs.legacy = [{ encryption: 'Optional', security: { allowLegacyEncryption: true } }, { encryptionKeySecretRef: { name: 'sp-enc' } }];
      await writeConnectors();
      await waitFor(async () => (await status('legacy')).conditions.some((c) => c.type === 'LegacyEncryptionAllowed' && c.status === 'True'), 10_000, 50);
      const md = await (await fetch(entityIDOf('legacy'))).text();
      assert.match(md, /xmlenc#aes128-cbc/, 'the legacy methods are published once allowed');
      const allowed = await signIn('legacy');
      assert.equal(allowed.res.status, 303, `${allowed.res.status} ${reasonOf(allowed.res)}`);
    } finally {
      await idp.setBlockCipher('aes256-gcm');
    }
  });

  it('Required refuses a plain assertion; Optional takes it; an assertion encrypted to a key the SP does not hold is refused', async () => {
    await idp.setServiceProviders([registration('enc', undefined), registration('enc-idp', encKey.certPem), registration('legacy', undefined), registration('rotating', strangerKey.certPem)]);
    const plain = await signIn('enc');
    assert.doesNotMatch(plain.xml, /EncryptedAssertion/);
    assert.equal(plain.res.status, 401);
    assert.equal(reasonOf(plain.res), 'AssertionNotEncrypted');
    const optional = await signIn('legacy');
    assert.equal(optional.res.status, 303, 'Optional accepts a plain signed assertion');
    const stranger = await signIn('rotating');
    assert.match(stranger.xml, /EncryptedAssertion/);
    assert.equal(stranger.res.status, 401);
    assert.equal(reasonOf(stranger.res), 'EncryptedAssertionInvalid');
  });

  it('rotates the encryption key without a failed login: next key published, the IdP switches, then the next key becomes current', async () => {
    await idp.setServiceProviders([registration('enc', encKey.certPem), registration('enc-idp', encKey.certPem), registration('legacy', encKey.certPem), registration('rotating', encKey.certPem)]);
    assert.equal((await signIn('rotating')).res.status, 303, 'before');
    // 1. The next key beside the current one: published, and tried in turn.
    const rotating = (sp: Record<string, unknown>) => {
      specs.rotating = [{ encryption: 'Required' }, sp];
      return writeConnectors();
    };
    await rotating({ encryptionKeySecretRef: { name: 'sp-enc' }, nextEncryptionKeySecretRef: { name: 'sp-enc-next' } });
    await waitFor(async () => (await (await fetch(entityIDOf('rotating'))).text()).includes(pemBody(nextKey.certPem)), 10_000, 50);
    const md = await (await fetch(entityIDOf('rotating'))).text();
    assert.equal(md.match(/KeyDescriptor use="encryption"/g)?.length, 2, 'both keys published');
    assert.equal((await signIn('rotating')).res.status, 303, 'the IdP still encrypts to the current key');
    // 2. The IdP switches to the next key (as it would after reading our metadata).
    await idp.setServiceProviders([registration('enc', encKey.certPem), registration('enc-idp', encKey.certPem), registration('legacy', encKey.certPem), registration('rotating', nextKey.certPem)]);
    assert.equal((await signIn('rotating')).res.status, 303, 'encrypted to the next key');
    // 3. The next key becomes the current one; the old one is gone.
    await rotating({ encryptionKeySecretRef: { name: 'sp-enc-next' } });
    await waitFor(async () => !(await (await fetch(entityIDOf('rotating'))).text()).includes(pemBody(encKey.certPem)), 10_000, 50);
    assert.equal((await signIn('rotating')).res.status, 303, 'after');
    // A response encrypted to the retired key no longer opens.
    await idp.setServiceProviders([registration('enc', encKey.certPem), registration('enc-idp', encKey.certPem), registration('legacy', encKey.certPem), registration('rotating', encKey.certPem)]);
    const retired = await signIn('rotating');
    assert.equal(retired.res.status, 401);
    assert.equal(reasonOf(retired.res), 'EncryptedAssertionInvalid');
  });
});

// Signed AuthnRequests with an SP signing key rotation: SimpleSAMLphp checks
// every AuthnRequest's signature (validate.authnrequest) against the signing
// certificates the SP publishes; the next key is published first (never used
// to sign), the IdP learns it, then it becomes the current one: no failed login.
describe('SP signing key rotation with SimpleSAMLphp checking signed AuthnRequests', () => {
  jest.setTimeout(120_000);
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  let keys: Record<'idp' | 'current' | 'next', TestKeyPair>;
  const entityID = () => `${op.baseURL}/saml/${NS}/signed/metadata`;

  /** SimpleSAMLphp's view of the SP: the signing certificates it trusts (what it read from our metadata). */
  const registration = (certs: string[]): SpRegistration => ({
    entityID: entityID(),
    acsURL: `${op.baseURL}/saml/${NS}/signed/acs`,
    extraMetadata: { 'validate.authnrequest': true, keys: certs.map((c) => ({ signing: true, encryption: false, type: 'X509Certificate', X509Certificate: pemBody(c) })) },
  });
  const spSigningCerts = async () => [...(await (await fetch(entityID())).text()).matchAll(/<md:KeyDescriptor use="signing">.*?<ds:X509Certificate>([^<]+)</g)].map((m) => m[1]!);
  const connector = (sp: Record<string, unknown>) =>
    stringify({
      apiVersion: 'sso.operator.dev/v1alpha1',
      kind: 'SsoConnector',
      metadata: { name: 'signed', namespace: NS },
      spec: { protocol: 'SAML2', saml: { idp: { entityID: idp.entityID, ssoURL: idp.ssoURL, certificates: [{ pem: keys.idp.certPem }] }, sp: { nameIDPolicy: { format: 'EmailAddress' }, signAuthnRequests: true, ...sp } } },
    });
  const tls = (name: string, k: TestKeyPair) => stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace: NS }, stringData: { 'tls.key': k.keyPem, 'tls.crt': k.certPem } });

  async function signIn(): Promise<BrowserResponse> {
    const browser = new BrowserClient();
    const form = await samlResponseForm(browser, await browser.get(`${op.baseURL}/saml/${NS}/signed/login?rd=%2Fapp`), USER);
    return browser.submit(form, {}, { followRedirects: false });
  }

  beforeAll(async () => {
    const [a, b, c] = await Promise.all([makeTestKeyPair('ssp-idp-2'), makeTestKeyPair('sp-sign-current'), makeTestKeyPair('sp-sign-next')]);
    keys = { idp: a, current: b, next: c };
    op = await startTestOperator();
    idp = await startSimpleSamlPhp({ users: { [USER.name]: { password: USER.password, attributes: { email: [USER.email] } } }, serviceProviders: [], signing: keys.idp });
    await idp.setServiceProviders([registration([keys.current.certPem])]);
    await op.writeManifest('secrets.yaml', [tls('sp-sign', keys.current), tls('sp-sign-next', keys.next)].join('---\n'));
    await op.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: USER.email, connectors: ['signed'] } }));
    await op.writeManifest('connector.yaml', connector({ signingKeySecretRef: { name: 'sp-sign' } }));
    await waitFor(async () => (await fetch(entityID())).status === 200, 15_000, 50);
  });

  afterAll(async () => {
    await op?.stop();
    await idp?.stop();
  });

  it('publishes the next key first, then promotes it, with every signed login accepted by the IdP', async () => {
    assert.equal((await signIn()).status, 303, 'signed with the current key');
    // A key the IdP does not know is refused by the IdP: the check is real.
    await idp.setServiceProviders([registration([keys.next.certPem])]);
    const browser = new BrowserClient();
    const refused = await browser.get(`${op.baseURL}/saml/${NS}/signed/login?rd=%2Fapp`);
    assert.ok(!findFormWithField(refused, 'SAMLResponse') && !parseForms(refused.body, refused.url).some((f) => 'AuthState' in f.fields), `the IdP refuses an AuthnRequest signed with a key it does not trust (${refused.status})`);
    // 1. The next key is published beside the current one.
    await op.writeManifest('connector.yaml', connector({ signingKeySecretRef: { name: 'sp-sign' }, nextSigningKeySecretRef: { name: 'sp-sign-next' } }));
    await waitFor(async () => (await spSigningCerts()).length === 2, 10_000, 50);
    assert.deepEqual(await spSigningCerts(), [pemBody(keys.current.certPem), pemBody(keys.next.certPem)]);
    // 2. The IdP reads our metadata: it trusts both.
    await idp.setServiceProviders([registration(await Promise.all([keys.current.certPem, keys.next.certPem]))]);
    assert.equal((await signIn()).status, 303, 'still signed with the current key');
    // 3. The next key becomes the current one.
    await op.writeManifest('connector.yaml', connector({ signingKeySecretRef: { name: 'sp-sign-next' } }));
    await waitFor(async () => (await spSigningCerts()).join() === pemBody(keys.next.certPem), 10_000, 50);
    assert.equal((await signIn()).status, 303, 'signed with the promoted key');
    // 4. The IdP drops the old key.
    await idp.setServiceProviders([registration([keys.next.certPem])]);
    assert.equal((await signIn()).status, 303);
  });
});
