import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { matchesPins, normaliseFingerprint, parseCertificates } from '../../../src/saml/certificates.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';

let a: SigningIdentity;
let b: SigningIdentity;
before(async () => {
  [a, b] = await Promise.all([signingIdentity('idp'), signingIdentity('idp2')]);
});

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

describe('parseCertificates', () => {
  it('parses one certificate with fingerprint, subject and expiry', () => {
    const [c, ...rest] = parseCertificates(a.certPem, 'secret/idp#tls.crt');
    assert.equal(rest.length, 0);
    assert.ok(c);
    assert.equal(c.fingerprint, `sha256:${createHash('sha256').update(derOf(a.certPem)).digest('hex')}`);
    assert.match(c.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.equal(c.subject, 'CN=idp.example.test');
    assert.ok(!Number.isNaN(Date.parse(c.notAfter)));
    assert.equal(c.source, 'secret/idp#tls.crt');
    assert.deepEqual(derOf(c.pem), derOf(a.certPem));
  });

  it('parses several certificates from one PEM, with text around them', () => {
    const certs = parseCertificates(`subject=foo\n${a.certPem}\n# comment\n${b.certPem}`, 'inline');
    assert.equal(certs.length, 2);
    assert.deepEqual(certs.map((c) => c.source), ['inline[0]', 'inline[1]']);
    assert.notEqual(certs[0]?.fingerprint, certs[1]?.fingerprint);
  });

  it('throws clear errors on bad input', () => {
    assert.throws(() => parseCertificates('', 'inline'), /inline: no PEM certificate found/);
    assert.throws(() => parseCertificates('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----', 'x'), /not valid base64/);
    assert.throws(() => parseCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'x'), /not a valid X.509 certificate/);
    assert.throws(() => parseCertificates(a.keyPem, 'secret/k'), /expected a CERTIFICATE block, found PRIVATE KEY/);
  });
});

describe('matchesPins', () => {
  it('accepts any certificate without pins, else only a pinned one (any notation)', () => {
    const [c] = parseCertificates(a.certPem, 'x');
    assert.ok(c);
    assert.equal(matchesPins(c, undefined), true);
    assert.equal(matchesPins(c, []), true);
    const hex = c.fingerprint.slice('sha256:'.length);
    const colons = hex.toUpperCase().match(/../g)?.join(':') ?? '';
    assert.equal(matchesPins(c, [colons]), true);
    assert.equal(matchesPins(c, [`SHA256:${hex.toUpperCase()}`]), true);
    assert.equal(matchesPins(c, ['sha256:' + '0'.repeat(64)]), false);
    assert.equal(normaliseFingerprint(` ${colons} `), c.fingerprint);
  });
});
