import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import { compileConnector, referencedSecretNames, type SecretLookup } from '../../../src/controller/compile-connector.ts';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { connector } from './fixtures.ts';

const now = new Date('2026-11-27T12:00:00Z');
const DAY = 24 * 3600 * 1000;
let fresh: SigningIdentity;
let second: SigningIdentity;
let expiring: SigningIdentity;
let expired: SigningIdentity;

beforeAll(async () => {
  [fresh, second, expiring, expired] = await Promise.all([
    generateSigningIdentity({ commonName: 'fresh', days: 365, notBefore: new Date(now.getTime() - DAY) }),
    generateSigningIdentity({ commonName: 'second', days: 365, notBefore: new Date(now.getTime() - DAY) }),
    generateSigningIdentity({ commonName: 'expiring', days: 6, notBefore: new Date(now.getTime() - DAY) }),
    generateSigningIdentity({ commonName: 'expired', days: 1, notBefore: new Date(now.getTime() - 3 * DAY) }),
  ]);
});

function secrets(map: Record<string, Record<string, string>>): SecretLookup {
  return (_ns, name, key) => {
    const s = map[name];
    if (!s) return { missing: 'SecretNotFound' };
    const v = s[key];
    return v === undefined ? { missing: 'SecretKeyNotFound' } : { value: v };
  };
}

function cond(out: ReturnType<typeof compileConnector>, type: string) {
  const c = out.conditions.find((x) => x.type === type);
  assert.ok(c, `condition ${type} present`);
  return c;
}

const base = { publicURL: 'https://sso.example.test/prefix/', siblings: [], now };

describe('compileConnector', () => {
  it('is Ready with every condition True for a resolvable connector, and derives the URLs', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem } }) });
    assert.equal(out.runtime.ready, true);
    assert.equal(cond(out, 'Ready').status, 'True');
    assert.equal(cond(out, 'SecretsResolved').status, 'True');
    assert.equal(cond(out, 'CertificatesValid').status, 'True');
    assert.equal(cond(out, 'CertificateExpiringSoon').status, 'False');
    assert.equal(out.fields.acsURL, 'https://sso.example.test/prefix/saml/default/a/acs');
    assert.equal(out.fields.entityID, 'https://sso.example.test/prefix/saml/default/a/metadata');
    assert.equal(out.runtime.saml?.idp.certificates.length, 1);
    assert.equal(out.runtime.sessionTtlSeconds, 8 * 3600);
    assert.deepEqual(out.secretNames, ['idp-cert']);
    assert.ok(out.requeueAt && out.requeueAt > now, 'requeues before the certificate changes state');
  });

  it('reports a missing Secret as SecretNotFound and the dependent condition as Unknown, never a stale True', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({}) });
    assert.equal(out.runtime.ready, false);
    assert.equal(out.runtime.saml, undefined);
    assert.equal(cond(out, 'Ready').reason, 'SecretNotFound');
    assert.equal(cond(out, 'SecretsResolved').status, 'False');
    assert.equal(cond(out, 'CertificatesValid').status, 'Unknown');
    assert.equal(cond(out, 'CertificateExpiringSoon').status, 'Unknown');
  });

  it('reports a missing key of an existing Secret as SecretKeyNotFound', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { other: 'x' } }) });
    assert.equal(cond(out, 'Ready').reason, 'SecretKeyNotFound');
    assert.match(cond(out, 'SecretsResolved').message, /has no key tls\.crt/);
  });

  it('refuses a bad PEM with CertificateInvalid', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n' } }) });
    assert.equal(out.runtime.ready, false);
    assert.equal(cond(out, 'CertificatesValid').reason, 'CertificateInvalid');
  });

  it('trusts every certificate of a PEM bundle (seamless rotation)', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem + second.certPem } }) });
    assert.equal(out.runtime.saml?.idp.certificates.length, 2);
    assert.equal(out.fields.certificates!.length, 2);
  });

  it('keeps only pinned certificates and fails with FingerprintMismatch when none matches', () => {
    const bundle = { 'idp-cert': { 'tls.crt': fresh.certPem + second.certPem } };
    const all = compileConnector({ ...base, connector: connector('a'), secret: secrets(bundle) });
    const pin = all.fields.certificates![1]!.fingerprint.replace('sha256:', '').toUpperCase().match(/../g)!.join(':');
    const pinned = compileConnector({ ...base, connector: connector('a', {}, { idp: { fingerprints: [`sha256:${pin}`] } }), secret: secrets(bundle) });
    assert.deepEqual(pinned.runtime.saml?.idp.certificates.map((c) => c.fingerprint), [all.fields.certificates![1]!.fingerprint]);
    const wrong = compileConnector({ ...base, connector: connector('a', {}, { idp: { fingerprints: [`sha256:${'0'.repeat(64)}`] } }), secret: secrets(bundle) });
    assert.equal(wrong.runtime.ready, false);
    assert.equal(cond(wrong, 'CertificatesValid').reason, 'FingerprintMismatch');
  });

  it('drops expired certificates and fails with CertificateExpired when none is left', () => {
    const mixed = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': expired.certPem + fresh.certPem } }) });
    assert.equal(mixed.runtime.ready, true);
    assert.equal(mixed.runtime.saml?.idp.certificates.length, 1);
    const only = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': expired.certPem } }) });
    assert.equal(only.runtime.ready, false);
    assert.equal(cond(only, 'CertificatesValid').reason, 'CertificateExpired');
  });

  it('sets CertificateExpiringSoon within 14 days of the last trusted certificate expiring, and stays Ready', () => {
    const out = compileConnector({ ...base, connector: connector('a'), secret: secrets({ 'idp-cert': { 'tls.crt': expiring.certPem } }) });
    assert.equal(out.runtime.ready, true);
    assert.equal(cond(out, 'CertificateExpiringSoon').status, 'True');
    assert.ok(out.requeueAt && out.requeueAt.getTime() <= now.getTime() + 6 * DAY, 'requeued at expiry');
  });

  it('gives a duplicate reference to the earlier-created connector only', () => {
    const first = connector('first', { reference: 'acme' }, {}, { creationTimestamp: '2026-01-01T00:00:00Z' });
    const later = connector('later', { reference: 'acme' }, {}, { creationTimestamp: '2026-02-01T00:00:00Z' });
    const lookup = secrets({ 'idp-cert': { 'tls.crt': fresh.certPem } });
    const a = compileConnector({ ...base, connector: first, siblings: [first, later], secret: lookup });
    const b = compileConnector({ ...base, connector: later, siblings: [first, later], secret: lookup });
    assert.equal(a.runtime.ready, true);
    assert.equal(b.runtime.ready, false);
    assert.equal(cond(b, 'ReferenceUnique').reason, 'ReferenceConflict');
    assert.match(cond(b, 'ReferenceUnique').message, /first/);
  });

  it('marks a disabled connector Ready with reason Disabled and enabled=false in the runtime', () => {
    const out = compileConnector({ ...base, connector: connector('a', { enabled: false }), secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem } }) });
    assert.equal(out.runtime.enabled, false);
    assert.equal(cond(out, 'Ready').reason, 'Disabled');
  });

  it('accepts an inline PEM without any Secret', () => {
    const out = compileConnector({ ...base, connector: connector('a', {}, { idp: { certificates: [{ pem: fresh.certPem }] } }), secret: secrets({}) });
    assert.equal(out.runtime.ready, true);
    assert.deepEqual(out.secretNames, []);
    assert.equal(out.fields.certificates![0]!.source, 'inline[0]');
  });
});

describe('compileConnector re-checks what admission checked', () => {
  const lookup = () => secrets({ 'idp-cert': { 'tls.crt': fresh.certPem } });

  it('keeps the session TTL in whole seconds', () => {
    const out = compileConnector({ ...base, connector: connector('a', { session: { ttl: '1h500ms' } }), secret: lookup() });
    assert.equal(out.runtime.sessionTtlSeconds, 3600);
    const tiny = compileConnector({ ...base, connector: connector('a', { session: { ttl: '500ms' } }), secret: lookup() });
    assert.equal(tiny.runtime.sessionTtlSeconds, 1);
  });

  it('refuses an encoded //host redirectPath and percent-encodes a non-ASCII one', () => {
    const evil = compileConnector({ ...base, connector: connector('a', {}, { idpInitiated: { enabled: true, redirectPath: '/%2F%2Fevil.example' } }), secret: lookup() });
    assert.equal(evil.runtime.ready, false);
    assert.equal(cond(evil, 'Ready').reason, 'RedirectPathInvalid');
    const unicode = compileConnector({ ...base, connector: connector('a', {}, { idpInitiated: { enabled: true, redirectPath: '/app/日' } }), secret: lookup() });
    assert.equal(unicode.runtime.ready, true);
    assert.equal(unicode.runtime.saml?.idpInitiated.redirectPath, '/app/%E6%97%A5');
  });

  describe('SP signing key (saml.sp.signingKeySecretRef)', () => {
    const signed = () => connector('s', {}, { sp: { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } } });

    it('loads the key pair of the Secret, indexes the Secret, and never puts the key in status or messages', () => {
      const out = compileConnector({
        ...base,
        connector: signed(),
        secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-signing': { 'tls.crt': second.certPem, 'tls.key': second.keyPem } }),
      });
      assert.equal(out.runtime.ready, true, JSON.stringify(out.conditions));
      assert.ok(out.runtime.saml?.spSigning);
      assert.equal(out.runtime.saml.signAuthnRequests, true);
      assert.deepEqual(out.secretNames.sort(), ['idp-cert', 'sp-signing']);
      const published = JSON.stringify({ conditions: out.conditions, fields: out.fields, runtime: out.runtime });
      assert.ok(!published.includes('PRIVATE KEY') && !published.includes(second.keyPem.split('\n')[1]!), 'no key material');
    });

    const cases: Array<[string, () => Record<string, string> | undefined, string]> = [
      ['a missing Secret', () => undefined, 'SecretNotFound'],
      ['a Secret without tls.key', () => ({ 'tls.crt': second.certPem }), 'SecretKeyNotFound'],
      ['a key that does not match the certificate', () => ({ 'tls.crt': fresh.certPem, 'tls.key': second.keyPem }), 'SigningKeyInvalid'],
      ['garbage', () => ({ 'tls.crt': 'x', 'tls.key': 'y' }), 'SigningKeyInvalid'],
      ['an expired certificate', () => ({ 'tls.crt': expired.certPem, 'tls.key': expired.keyPem }), 'SigningKeyInvalid'],
    ];
    for (const [what, data, reason] of cases) {
      it(`is not Ready with ${what} (${reason})`, () => {
        const secretData: Record<string, Record<string, string>> = { 'idp-cert': { 'tls.crt': fresh.certPem } };
        const d = data();
        if (d) secretData['sp-signing'] = d;
        const out = compileConnector({ ...base, connector: signed(), secret: secrets(secretData) });
        assert.equal(out.runtime.ready, false);
        assert.equal(out.runtime.saml, undefined);
        assert.equal(cond(out, 'Ready').reason, reason);
        assert.ok(!JSON.stringify(out.conditions).includes('PRIVATE'), 'no key material in the conditions');
      });
    }

    it('loads the next signing key beside the current one (published, never used to sign); a bad one is SigningKeyInvalid', () => {
      const rotating = connector('s', {}, { sp: { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' }, nextSigningKeySecretRef: { name: 'sp-signing-next' } } });
      const base2 = { 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-signing': { 'tls.crt': second.certPem, 'tls.key': second.keyPem } };
      const ok = compileConnector({ ...base, connector: rotating, secret: secrets({ ...base2, 'sp-signing-next': { 'tls.crt': fresh.certPem, 'tls.key': fresh.keyPem } }) });
      assert.equal(ok.runtime.ready, true, JSON.stringify(ok.conditions));
      assert.equal(ok.runtime.saml?.spSigning?.certPem.trim(), second.certPem.trim());
      assert.equal(ok.runtime.saml?.spSigningNext?.certPem.trim(), fresh.certPem.trim());
      assert.ok(ok.secretNames.includes('sp-signing-next'));
      const bad = compileConnector({ ...base, connector: rotating, secret: secrets({ ...base2, 'sp-signing-next': { 'tls.crt': fresh.certPem, 'tls.key': second.keyPem } }) });
      assert.equal(bad.runtime.ready, false);
      assert.equal(cond(bad, 'Ready').reason, 'SigningKeyInvalid');
      assert.match(cond(bad, 'Ready').message, /next signing key/);
    });

    it('warns (CertificateExpiringSoon) within 14 days of the SP certificate expiring, stays Ready, and requeues for it', () => {
      const out = compileConnector({
        ...base,
        connector: signed(),
        secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-signing': { 'tls.crt': expiring.certPem, 'tls.key': expiring.keyPem } }),
      });
      assert.equal(out.runtime.ready, true);
      assert.ok(out.requeueAt && out.requeueAt.getTime() <= Date.parse(out.runtime.saml!.spSigning!.notAfter) + 1000);
      const soon = cond(out, 'CertificateExpiringSoon');
      assert.equal(soon.status, 'True');
      assert.match(soon.message, /the SP signing certificate expires at /);
      const fresh2 = compileConnector({
        ...base,
        connector: signed(),
        secret: secrets({ 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-signing': { 'tls.crt': second.certPem, 'tls.key': second.keyPem } }),
      });
      assert.equal(cond(fresh2, 'CertificateExpiringSoon').status, 'False');
    });
  });
  describe('SP encryption keys (saml.encryption, saml.sp.encryptionKeySecretRef, nextEncryptionKeySecretRef)', () => {
    const encrypted = (sp: Record<string, unknown> = {}, saml: Record<string, unknown> = {}) =>
      connector('e', {}, { encryption: 'Required', sp: { encryptionKeySecretRef: { name: 'sp-enc' }, ...sp }, ...saml });
    const data = (extra: Record<string, Record<string, string>> = {}) =>
      secrets({ 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-enc': { 'tls.crt': second.certPem, 'tls.key': second.keyPem }, ...extra });
    let ec: SigningIdentity;
    beforeAll(async () => {
      ec = await generateSigningIdentity({ commonName: 'ec', algorithm: 'EC', days: 365, notBefore: new Date(now.getTime() - DAY) });
    });

    it('loads the current and the next key in that order, indexes both Secrets, and keeps key material out of the status', () => {
      const out = compileConnector({
        ...base,
        connector: encrypted({ nextEncryptionKeySecretRef: { name: 'sp-enc-next' } }),
        secret: data({ 'sp-enc-next': { 'tls.crt': fresh.certPem, 'tls.key': fresh.keyPem } }),
      });
      assert.equal(out.runtime.ready, true, JSON.stringify(out.conditions));
      const enc = out.runtime.saml!.encryption;
      assert.equal(enc.mode, 'Required');
      assert.deepEqual(enc.keys.map((k) => k.certPem.trim()), [second.certPem.trim(), fresh.certPem.trim()]);
      assert.equal(enc.allowLegacy, false);
      assert.deepEqual(out.secretNames.sort(), ['idp-cert', 'sp-enc', 'sp-enc-next']);
      assert.equal(out.conditions.find((c) => c.type === 'LegacyEncryptionAllowed'), undefined);
      assert.ok(!JSON.stringify({ c: out.conditions, f: out.fields, r: out.runtime }).includes('PRIVATE KEY'));
    });

    const cases: Array<[string, () => Record<string, Record<string, string>>, string]> = [
      ['a missing Secret', () => ({ 'sp-enc': undefined as never }), 'SecretNotFound'],
      ['an EC key (RSA-OAEP needs RSA)', () => ({ 'sp-enc': { 'tls.crt': ec.certPem, 'tls.key': ec.keyPem } }), 'EncryptionKeyInvalid'],
      ['a key that does not match the certificate', () => ({ 'sp-enc': { 'tls.crt': fresh.certPem, 'tls.key': second.keyPem } }), 'EncryptionKeyInvalid'],
      ['an invalid next key', () => ({ 'sp-enc-next': { 'tls.crt': 'x', 'tls.key': 'y' } }), 'EncryptionKeyInvalid'],
    ];
    for (const [what, extra, reason] of cases) {
      it(`is not Ready with ${what} (${reason})`, () => {
        const overrides = extra();
        const map: Record<string, Record<string, string>> = { 'idp-cert': { 'tls.crt': fresh.certPem }, 'sp-enc': { 'tls.crt': second.certPem, 'tls.key': second.keyPem } };
        for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete map[k]; else map[k] = v;
        const out = compileConnector({ ...base, connector: encrypted({ nextEncryptionKeySecretRef: { name: 'sp-enc-next' } }), secret: secrets({ 'sp-enc-next': { 'tls.crt': fresh.certPem, 'tls.key': fresh.keyPem }, ...map }) });
        assert.equal(out.runtime.ready, false);
        assert.equal(cond(out, 'Ready').reason, reason);
        assert.ok(!JSON.stringify(out.conditions).includes('PRIVATE'));
      });
    }

    it('says so in LegacyEncryptionAllowed when AES-CBC and RSA-1_5 are accepted, and stays Ready', () => {
      const out = compileConnector({ ...base, connector: encrypted({}, { security: { allowLegacyEncryption: true } }), secret: data() });
      assert.equal(out.runtime.ready, true);
      assert.equal(out.runtime.saml!.encryption.allowLegacy, true);
      const legacy = cond(out, 'LegacyEncryptionAllowed');
      assert.equal(legacy.status, 'True');
      assert.match(legacy.message, /padding-oracle/);
    });
  });
  describe('IdP metadata (saml.idp.metadata)', () => {
    const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
    const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    const doc = (certs: SigningIdentity[], attrs = '') =>
      `<md:EntityDescriptor xmlns:md="${MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/md"${attrs}><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
      certs.map((c) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body(c.certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`).join('') +
      `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/slo"/><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
      `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;
    const fromMetadata = (metadata: Record<string, unknown>, idp: Record<string, unknown> = {}) => {
      const c = connector('m');
      (c.spec.saml as Record<string, unknown>).idp = { metadata, ...idp };
      return c;
    };
    const configMaps = (map: Record<string, Record<string, string>>) => secrets(map);

    it('lists a metadata file in a Secret among the Secrets it read, so a rotation of it reconciles the connector', () => {
      const c = fromMetadata({ secretRef: { name: 'idp-md', key: 'metadata.xml' }, signingCertificates: [{ secretRef: { name: 'fed', key: 'tls.crt' } }] });
      const out = compileConnector({ ...base, connector: c, secret: secrets({ 'idp-md': { 'metadata.xml': doc([fresh]) }, fed: { 'tls.crt': fresh.certPem } }) });
      assert.deepEqual(out.secretNames.sort(), ['fed', 'idp-md']);
      // Every Secret the controller declares before compiling is one the compile indexes (else it is read but never watched).
      assert.deepEqual([...referencedSecretNames(c)].sort(), out.secretNames.sort());
    });

    it('fills entityID, SSO endpoint and binding, SLO, certificates (all of them) and the NameID format from a ConfigMap, and says so in status', () => {
      const out = compileConnector({
        ...base,
        connector: fromMetadata({ configMapRef: { name: 'idp-md', key: 'metadata.xml' } }),
        secret: secrets({}),
        configMap: configMaps({ 'idp-md': { 'metadata.xml': doc([fresh, second]) } }),
      });
      assert.equal(out.runtime.ready, true, JSON.stringify(out.conditions));
      const idp = out.runtime.saml!.idp;
      assert.equal(idp.entityID, 'https://idp.example.test/md');
      assert.equal(idp.ssoURL, 'https://idp.example.test/sso');
      assert.equal(idp.ssoBinding, 'HTTPPost');
      assert.equal(idp.sloURL, 'https://idp.example.test/slo');
      assert.equal(idp.certificates.length, 2, "the IdP's next key is trusted at once");
      assert.deepEqual(out.runtime.saml!.nameIDPolicy, { format: 'Persistent' });
      assert.deepEqual(out.configMapNames, ['idp-md']);
      assert.equal(cond(out, 'IdPMetadataSynced').status, 'True');
      assert.equal(cond(out, 'MetadataUnsigned').status, 'True');
      assert.deepEqual(out.fields.idpMetadata?.filled, ['entityID', 'ssoURL', 'ssoBinding', 'sloURL', 'certificates', 'nameIDFormat']);
      assert.equal(out.fields.idpMetadata?.source, 'configmap/idp-md#metadata.xml');
    });

    it('explicit fields override the metadata; fingerprint pins apply to its certificates', () => {
      const out = compileConnector({
        ...base,
        connector: fromMetadata({ configMapRef: { name: 'idp-md', key: 'metadata.xml' } }, { ssoURL: 'https://idp.example.test/other-sso', fingerprints: [] }),
        secret: secrets({}),
        configMap: configMaps({ 'idp-md': { 'metadata.xml': doc([fresh, second]) } }),
      });
      assert.equal(out.runtime.saml!.idp.ssoURL, 'https://idp.example.test/other-sso');
      assert.equal(out.runtime.saml!.idp.ssoBinding, 'HTTPRedirect', 'the spec URL keeps the spec (default) binding');
      assert.ok(!out.fields.idpMetadata!.filled.includes('ssoURL'));
    });

    it('a missing ConfigMap or an invalid document leaves the connector not Ready with the reason', () => {
      const missing = compileConnector({ ...base, connector: fromMetadata({ configMapRef: { name: 'idp-md', key: 'metadata.xml' } }), secret: secrets({}), configMap: configMaps({}) });
      assert.equal(missing.runtime.ready, false);
      assert.equal(cond(missing, 'IdPMetadataSynced').reason, 'ConfigMapNotFound');
      const expired = compileConnector({ ...base, connector: fromMetadata({ configMapRef: { name: 'idp-md', key: 'metadata.xml' } }), secret: secrets({}), configMap: configMaps({ 'idp-md': { 'metadata.xml': doc([fresh], ' validUntil="2020-01-01T00:00:00Z"') } }) });
      assert.equal(expired.runtime.ready, false);
      assert.equal(cond(expired, 'IdPMetadataSynced').reason, 'MetadataExpired');
    });

    it('a url: pending, then fetched; an unreachable or invalid later copy keeps the last good one until its validUntil', () => {
      const url = 'https://idp.example.test/metadata';
      const c = fromMetadata({ url, refreshInterval: '30m' });
      const asked: number[] = [];
      const pending = compileConnector({ ...base, connector: c, secret: secrets({}), idpMetadata: (_u, ms) => (asked.push(ms), { status: 'pending' }) });
      assert.equal(pending.runtime.ready, false);
      assert.equal(cond(pending, 'IdPMetadataSynced').status, 'Unknown');
      assert.deepEqual(asked, [30 * 60_000]);
      const validUntil = new Date(now.getTime() + 2 * 3600_000).toISOString();
      const good = { url, text: doc([fresh], ` validUntil="${validUntil}" cacheDuration="PT10M"`), fetchedAt: now.getTime() };
      const ok = compileConnector({ ...base, connector: c, secret: secrets({}), idpMetadata: () => ({ status: 'ok', document: good }) });
      assert.equal(ok.runtime.ready, true, JSON.stringify(ok.conditions));
      assert.equal(ok.metadataAccepted, good);
      assert.equal(ok.metadataURL, url);
      assert.ok(ok.requeueAt && ok.requeueAt.getTime() <= Date.parse(validUntil) + 1000, 'requeued by validUntil');
      // Down: the last good copy serves, the condition says so; cacheDuration shortens the refresh.
      const down = compileConnector({ ...base, connector: c, secret: secrets({}), lastGoodMetadata: good, idpMetadata: (_u, ms) => (asked.push(ms), { status: 'failed', reason: 'MetadataFetchFailed', message: 'HTTP 503' }) });
      assert.equal(down.runtime.ready, true);
      assert.equal(cond(down, 'IdPMetadataSynced').status, 'False');
      assert.match(cond(down, 'IdPMetadataSynced').message, /HTTP 503; serving with the copy fetched at/);
      assert.equal(asked.at(-1), 10 * 60_000);
      // Junk at the url: the same.
      const junk = compileConnector({ ...base, connector: c, secret: secrets({}), lastGoodMetadata: good, idpMetadata: () => ({ status: 'ok', document: { url, text: '<html/>', fetchedAt: now.getTime() } }) });
      assert.equal(junk.runtime.ready, true);
      assert.equal(cond(junk, 'IdPMetadataSynced').reason, 'MetadataInvalid');
      assert.equal(junk.metadataAccepted, undefined, 'the junk is not remembered as good');
      // Once the last good copy's validUntil has passed, no more serving.
      const later = compileConnector({ ...base, now: new Date(Date.parse(validUntil) + 1000), connector: c, secret: secrets({}), lastGoodMetadata: good, idpMetadata: () => ({ status: 'failed', reason: 'MetadataFetchFailed', message: 'HTTP 503' }) });
      assert.equal(later.runtime.ready, false);
    });

    it('signed metadata: signingCertificates from a Secret must have signed it', () => {
      const out = compileConnector({
        ...base,
        connector: fromMetadata({ configMapRef: { name: 'idp-md', key: 'metadata.xml' }, signingCertificates: [{ secretRef: { name: 'fed', key: 'tls.crt' } }] }),
        secret: secrets({ fed: { 'tls.crt': second.certPem } }),
        configMap: configMaps({ 'idp-md': { 'metadata.xml': doc([fresh]) } }),
      });
      assert.equal(out.runtime.ready, false);
      assert.equal(cond(out, 'IdPMetadataSynced').reason, 'MetadataSignatureMissing');
      assert.equal(cond(out, 'MetadataUnsigned').status, 'False');
      assert.ok(out.secretNames.includes('fed'));
    });
  });
});
