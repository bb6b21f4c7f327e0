// A SAML connector configured only from the IdP's metadata: SimpleSAMLphp's
// own metadata endpoint (saml2/idp/metadata.php), fetched and refreshed by the
// operator, and a signing key rollover driven only by that endpoint: the IdP
// announces its next key (new_certificate), switches to it, and drops the old
// one. Every sign-in succeeds along the way, and a response signed with the
// dropped key is refused once the operator has read the new metadata. Also: an
// uploaded metadata file in a ConfigMap, and the endpoint going down (the last
// good copy keeps serving).

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { stringify } from 'yaml';
import { BrowserClient, type BrowserResponse } from '../support/browser-client.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';
import { makeTestKeyPair, pemBody, samlResponseForm, startSimpleSamlPhp, type SimpleSamlPhp, type TestKeyPair } from '../support/simplesamlphp.ts';

const NS = 'default';
const USER = { name: 'alice', password: 'alice-Pw-md-4r!Zq', email: 'alice@example.com' };

const fingerprintOf = (pem: string) => 'sha256:' + new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

describe('SAML connector configured from SimpleSAMLphp metadata', () => {
  jest.setTimeout(120_000);
  let idp: SimpleSamlPhp;
  let op: TestOperator;
  let first: TestKeyPair;
  let second: TestKeyPair;
  let encryption: TestKeyPair;

  const entityIDOf = (c: string) => `${op.baseURL}/saml/${NS}/${c}/metadata`;

  type Status = { conditions: { type: string; status: string; reason: string; message: string }[]; certificates?: { fingerprint: string }[]; idpMetadata?: { filled: string[]; source: string; entityID: string } };
  async function status(name: string): Promise<Status | undefined> {
    const all = (await (await fetch(`${op.adminURL}/admin/status`)).json()) as { resources: { kind: string; name: string; status: Status }[] };
    return all.resources.find((r) => r.kind === 'SsoConnector' && r.name === name)?.status;
  }
  const trusted = async (name: string) => ((await status(name))?.certificates ?? []).map((c) => c.fingerprint).sort();

  async function signIn(c: string): Promise<BrowserResponse> {
    const browser = new BrowserClient();
    const form = await samlResponseForm(browser, await browser.get(`${op.baseURL}/saml/${NS}/${c}/login?rd=%2Fapp`), USER);
    return browser.submit(form, {}, { followRedirects: false });
  }
  const reasonOf = (res: BrowserResponse) => /Reason: <code>([^<]*)<\/code>/.exec(res.body)?.[1];

  beforeAll(async () => {
    [first, second, encryption] = await Promise.all([makeTestKeyPair('ssp-md-first'), makeTestKeyPair('ssp-md-second'), makeTestKeyPair('ssp-md-sp-encryption')]);
    op = await startTestOperator();
    idp = await startSimpleSamlPhp({
      users: { [USER.name]: { password: USER.password, attributes: { email: [USER.email] } } },
      serviceProviders: [
        ...['from-url', 'from-file'].map((c) => ({ entityID: entityIDOf(c), acsURL: `${op.baseURL}/saml/${NS}/${c}/acs` })),
        // Encrypts its assertions to the SP's encryption certificate (as it would read it from the SP metadata).
        {
          entityID: entityIDOf('md-encrypted'),
          acsURL: `${op.baseURL}/saml/${NS}/md-encrypted/acs`,
          extraMetadata: { 'assertion.encryption': true, keys: [{ encryption: true, signing: false, type: 'X509Certificate', X509Certificate: pemBody(encryption.certPem) }] },
        },
      ],
      signing: first,
    });
    await op.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: USER.email, connectors: ['from-url', 'from-file'] } }));
    // Nothing but the metadata url: entityID, endpoints, certificates and NameID format come from it.
    await op.writeManifest(
      'from-url.yaml',
      stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', metadata: { name: 'from-url', namespace: NS }, spec: { protocol: 'SAML2', saml: { idp: { metadata: { url: idp.metadataURL, refreshInterval: '5s' } } } } }),
    );
    await waitFor(async () => (await status('from-url'))?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 20_000, 100);
  });

  afterAll(async () => {
    await op?.stop();
    await idp?.stop();
  });

  it('fills the connector from the metadata endpoint and signs in', async () => {
    const s = (await status('from-url'))!;
    assert.equal(s.idpMetadata?.entityID, idp.entityID);
    assert.equal(s.idpMetadata?.source, idp.metadataURL);
    assert.deepEqual([...(s.idpMetadata?.filled ?? [])].sort(), ['certificates', 'entityID', 'nameIDFormat', 'sloURL', 'ssoBinding', 'ssoURL'].sort());
    assert.equal(s.conditions.find((c) => c.type === 'MetadataUnsigned')?.status, 'True', 'SimpleSAMLphp does not sign its metadata here: the status says so');
    assert.deepEqual(await trusted('from-url'), [fingerprintOf(first.certPem)]);
    const res = await signIn('from-url');
    assert.equal(res.status, 303, `${res.status} ${reasonOf(res)}\n${op.rawLogs().slice(-1500)}`);
  });

  it('Encrypted SAML from metadata alone: a connector with only the metadata url and encryption Required signs in with an encrypted assertion', async () => {
    await idp.setBlockCipher('aes256-gcm');
    await op.writeManifest(
      'md-encrypted.yaml',
      [
        stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'md-sp-enc', namespace: NS }, stringData: { 'tls.key': encryption.keyPem, 'tls.crt': encryption.certPem } }),
        stringify({
          apiVersion: 'sso.operator.dev/v1alpha1',
          kind: 'SsoConnector',
          metadata: { name: 'md-encrypted', namespace: NS },
          spec: { protocol: 'SAML2', saml: { idp: { metadata: { url: idp.metadataURL } }, encryption: 'Required', sp: { encryptionKeySecretRef: { name: 'md-sp-enc' } } } },
        }),
      ].join('---\n'),
    );
    await op.writeManifest('binding.yaml', stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: USER.email, connectors: ['from-url', 'from-file', 'md-encrypted'] } }));
    await waitFor(async () => (await status('md-encrypted'))?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 20_000, 100);
    const browser = new BrowserClient();
    const form = await samlResponseForm(browser, await browser.get(`${op.baseURL}/saml/${NS}/md-encrypted/login?rd=%2Fapp`), USER);
    const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
    assert.match(xml, /EncryptedAssertion/);
    assert.match(xml, /xmlenc11#aes256-gcm/);
    const res = await browser.submit(form, {}, { followRedirects: false });
    assert.equal(res.status, 303, `${res.status} ${reasonOf(res)}`);
  });

  it('follows a signing key rollover announced only through the metadata endpoint, with no failed sign-in', async () => {
    // 1. The IdP announces its next key.
    await idp.setSigningKey(first.keyPem, first.certPem, second.certPem);
    await waitFor(async () => (await trusted('from-url')).length === 2, 20_000, 100);
    assert.deepEqual(await trusted('from-url'), [fingerprintOf(first.certPem), fingerprintOf(second.certPem)].sort());
    assert.equal((await signIn('from-url')).status, 303, 'still signed with the first key');
    // 2. It switches to the next key and keeps announcing the old one for a while.
    await idp.setSigningKey(second.keyPem, second.certPem, first.certPem);
    const switched = await signIn('from-url');
    assert.equal(switched.status, 303, `signed with the second key: ${reasonOf(switched)}`);
    // 3. It drops the old key from its metadata.
    await idp.setSigningKey(second.keyPem, second.certPem);
    await waitFor(async () => (await trusted('from-url')).length === 1, 20_000, 100);
    assert.deepEqual(await trusted('from-url'), [fingerprintOf(second.certPem)]);
    assert.equal((await signIn('from-url')).status, 303, 'after the rollover');
  });

  it('a response signed with a key the metadata does not publish is refused', async () => {
    // SimpleSAMLphp signs with the first (dropped) key while its metadata keeps publishing only the second.
    await idp.setSigningKey(first.keyPem, second.certPem);
    // Past a refresh: the metadata is unchanged, so the second key alone stays trusted.
    await new Promise((r) => setTimeout(r, 6000));
    assert.deepEqual(await trusted('from-url'), [fingerprintOf(second.certPem)]);
    const res = await signIn('from-url');
    assert.equal(res.status, 401);
    assert.ok(['SignatureInvalid', 'CertificateNotTrusted'].includes(reasonOf(res) ?? ''), `reason ${reasonOf(res)}`);
    await idp.setSigningKey(second.keyPem, second.certPem);
    assert.equal((await signIn('from-url')).status, 303);
  });

  it('keeps serving with the last good copy while the endpoint answers junk, and says so', async () => {
    const md = await (await fetch(idp.metadataURL)).text();
    // An uploaded copy of the same metadata, in a ConfigMap: a second connector.
    await op.writeManifest('md-configmap.yaml', stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idp-metadata', namespace: NS }, data: { 'metadata.xml': md } }));
    await op.writeManifest(
      'from-file.yaml',
      stringify({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', metadata: { name: 'from-file', namespace: NS }, spec: { protocol: 'SAML2', saml: { idp: { metadata: { configMapRef: { name: 'idp-metadata', key: 'metadata.xml' } } } } } }),
    );
    await waitFor(async () => (await status('from-file'))?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 20_000, 100);
    assert.equal((await status('from-file'))?.idpMetadata?.source, 'configmap/idp-metadata#metadata.xml');
    assert.equal((await signIn('from-file')).status, 303);
    // Editing the ConfigMap to junk: not Ready, with the reason (a file has no last good copy to fall back on).
    await op.writeManifest('md-configmap.yaml', stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idp-metadata', namespace: NS }, data: { 'metadata.xml': '<html>maintenance</html>' } }));
    await waitFor(async () => (await status('from-file'))?.conditions.some((c) => c.type === 'IdPMetadataSynced' && c.reason === 'MetadataInvalid') ?? false, 10_000, 100);
    assert.equal((await status('from-file'))?.conditions.find((c) => c.type === 'Ready')?.status, 'False');
    // The url endpoint down: the connector stays Ready on its last good copy.
    await idp.stop();
    await waitFor(async () => (await status('from-url'))?.conditions.some((c) => c.type === 'IdPMetadataSynced' && c.status === 'False') ?? false, 20_000, 100);
    const s = (await status('from-url'))!;
    assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    assert.match(s.conditions.find((c) => c.type === 'IdPMetadataSynced')!.message, /serving with the copy fetched at/);
    const login = await fetch(`${op.baseURL}/saml/${NS}/from-url/login?rd=%2Fapp`, { redirect: 'manual' });
    assert.equal(login.status, 302, 'logins still start');
    assert.ok(login.headers.get('location')?.startsWith(idp.ssoURL));
  });
});
