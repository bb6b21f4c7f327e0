import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { beforeAll, describe, it } from '@jest/globals';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { matchesPins, normaliseFingerprint, parseCertificates } from '../../../src/saml/certificates.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';

let a: SigningIdentity;
let b: SigningIdentity;
beforeAll(async () => {
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

describe('PEM input made to be slow', () => {
  it('refuses more than 64 PEM blocks at once, in linear time', async () => {
    const { parseCertificates, MAX_PEM_BLOCKS } = await import('../../../src/saml/certificates.ts');
    const { loadSpSigningKey } = await import('../../../src/saml/sign.ts');
    // About 1 MiB of BEGIN markers without END: the block pattern alone took
    // tens of seconds on this (quadratic in the number of markers).
    const bomb = '-----BEGIN CERTIFICATE-----\n'.repeat(40_000);
    const t0 = performance.now();
    assert.throws(() => parseCertificates(bomb, 'secret/x#tls.crt'), /more than 64 PEM blocks/);
    const refused = loadSpSigningKey(bomb.replaceAll('CERTIFICATE', 'PRIVATE KEY'), bomb);
    const ms = performance.now() - t0;
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.message, /more than 64 PEM blocks/);
    // A generous bound (the quadratic pattern took over 10 s on a quarter of this).
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
    console.log(`[pem] 2 x ${(bomb.length / 1024).toFixed(0)} KiB of BEGIN markers refused in ${ms.toFixed(1)} ms`);
    // A bundle of 64 certificates is still read; 65 is not.
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const one = (await generateSigningIdentity({ commonName: 'bundle' })).certPem;
    assert.equal(parseCertificates(one.repeat(MAX_PEM_BLOCKS), 'bundle').length, 64);
    assert.throws(() => parseCertificates(one.repeat(MAX_PEM_BLOCKS + 1), 'bundle'), /more than 64 PEM blocks/);
  });
});
