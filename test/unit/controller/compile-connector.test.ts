import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import { compileConnector, type SecretLookup } from '../../../src/controller/compile-connector.ts';
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
});
