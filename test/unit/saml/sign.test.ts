// SP-side signing: loading the key pair of a kubernetes.io/tls Secret, the
// HTTP-Redirect query signature and the enveloped POST signature, each checked
// independently (node:crypto over the raw URL octets) and with the SP's own
// verifiers (logout.ts, signature.ts), plus logging safety of the key object.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, it } from '@jest/globals';
import { inspect } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import pino from 'pino';
import type { Element } from '../../../src/saml/xml.ts';
import { generateSigningIdentity } from '../../../src/demo-idp/keys.ts';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { SIG, signatureMethod } from '../../../src/saml/algorithms.ts';
import { buildAuthnRequestXml } from '../../../src/saml/authn-request.ts';
import { parseCertificates } from '../../../src/saml/certificates.ts';
import { buildLogoutRequestXml, buildLogoutResponseXml, validateLogoutRequest, validateLogoutResponse } from '../../../src/saml/logout.ts';
import type { LogoutMessageInput } from '../../../src/saml/logout.ts';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';
import { loadSpSigningKey, redirectBindingURL, signRootElement } from '../../../src/saml/sign.ts';
import type { SpSigningKey, SpSigningKeyResult } from '../../../src/saml/sign.ts';
import { verifyEnvelopedSignature } from '../../../src/saml/signature.ts';
import type { IdpCertificate, SamlConnectorConfig } from '../../../src/saml/types.ts';
import { NS, childElements, parseXmlStrict, textOf } from '../../../src/saml/xml.ts';
import { captureLogs } from '../../support/log-capture.ts';
import { IDP_ENTITY_ID, REQUEST_ID, SP_ENTITY_ID, b64, makeConfig } from '../../support/saml-fixtures.ts';

const SP_SLO_URL = 'https://sp.example.test/saml/default/demo/slo';
const IDP_SLO_URL = 'https://idp.example.test/slo';
const IDP_SSO_URL = 'https://idp.example.test/sso';
const PENDING = '_pending0123456789abcdef01234567';

let rsa: SigningIdentity;
let ec: SigningIdentity;
let other: SigningIdentity;
let p384: SigningIdentity;
let p521: SigningIdentity;
let rsa1024: SigningIdentity;
let ed25519: SigningIdentity;
let rsaKey: SpSigningKey;
let ecKey: SpSigningKey;
let p384Key: SpSigningKey;

/** A key and self-signed certificate made by the openssl CLI (`newkey`: the -newkey arguments). */
function opensslIdentity(newkey: string[]): SigningIdentity {
  const dir = mkdtempSync(join(tmpdir(), 'sp-sign-'));
  try {
    const keyFile = join(dir, 'tls.key');
    const certFile = join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', ...newkey, '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=sp.example.test', '-days', '30'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return { keyPem: readFileSync(keyFile, 'utf8'), certPem: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function loaded(result: SpSigningKeyResult): SpSigningKey {
  if (!result.ok) assert.fail(`expected the key pair to load, got: ${result.message}`);
  return result.signing;
}

/**
 * Fragments of a private key's secret parts (JWK d, p, q, dp, dq, qi), in base64, base64url
 * and hex at every byte alignment; for keys Node cannot export (garbage, encrypted, DSA), the
 * PEM body lines. The public parts (modulus, EC point) are also in the certificate and are
 * legitimately printed with it.
 */
function keyMaterial(keyPem: string): string[] {
  const pemLines = keyPem
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----') && !l.includes(':'));
  let jwk: Record<string, unknown>;
  try {
    jwk = createPrivateKey(keyPem).export({ format: 'jwk' }) as Record<string, unknown>;
  } catch {
    return pemLines;
  }
  const out = [pemLines.join('')];
  for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    const value = jwk[part];
    if (typeof value !== 'string') continue;
    const bytes = Buffer.from(value, 'base64url');
    for (let shift = 0; shift < 3; shift++) {
      for (const enc of ['base64', 'base64url', 'hex'] as const) {
        const text = bytes.subarray(shift).toString(enc);
        if (text.length >= 28) out.push(text.slice(4, 28));
      }
    }
  }
  return out.filter((s) => s.length >= 16);
}

function assertNoKeyMaterial(text: string, keyPem: string): void {
  assert.ok(!text.includes('PRIVATE'), `"PRIVATE" found in: ${text}`);
  for (const chunk of keyMaterial(keyPem)) assert.ok(!text.includes(chunk), 'key material found in the text');
}

/** A refusal whose message matches `pattern` and carries no key material. */
function assertRefused(result: SpSigningKeyResult, pattern: RegExp, keyPem: string): void {
  if (result.ok) assert.fail(`expected a refusal matching ${pattern}, but the key pair loaded`);
  assert.equal(result.reason, 'SigningKeyInvalid');
  assert.match(result.message, pattern);
  assert.ok(result.message.length < 200, 'message is short');
  assertNoKeyMaterial(result.message, keyPem);
  assertNoKeyMaterial(JSON.stringify(result), keyPem);
}

function certOf(signing: SpSigningKey): IdpCertificate[] {
  return parseCertificates(signing.certPem, 'sp');
}

/** Splits a raw query into name -> raw (still percent-encoded) value, in order. */
function rawParams(url: string): Array<[string, string]> {
  const query = url.slice(url.indexOf('?') + 1);
  return query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/** Independent check of a Redirect-binding signature: octets rebuilt from the raw query, verified with the certificate. */
function verifyRedirect(url: string, certPem: string, param: 'SAMLRequest' | 'SAMLResponse', extraPrefix = ''): boolean {
  const raw = new Map(rawParams(url));
  const sigAlg = decodeURIComponent(raw.get('SigAlg') ?? '');
  const info = signatureMethod(sigAlg);
  assert.ok(info, `known SigAlg ${sigAlg}`);
  const relay = raw.get('RelayState');
  const octets = `${extraPrefix}${param}=${raw.get(param)}${relay !== undefined ? `&RelayState=${relay}` : ''}&SigAlg=${raw.get('SigAlg')}`;
  const signature = Buffer.from(decodeURIComponent(raw.get('Signature') ?? ''), 'base64');
  const key = createPublicKey(certPem);
  return verify(info.hash, Buffer.from(octets), info.ec ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
}

function signatureBytes(url: string): Buffer {
  return Buffer.from(decodeURIComponent(new Map(rawParams(url)).get('Signature') ?? ''), 'base64');
}

function queryOf(url: string): string {
  return url.slice(url.indexOf('?') + 1);
}

/** This SP trusting `signing`'s certificate as the IdP's: the SP's own verifiers then check our signatures. */
function trustingConfig(signing: SpSigningKey): SamlConnectorConfig {
  return makeConfig(certOf(signing), { sloURL: SP_SLO_URL, idp: { sloURL: IDP_SLO_URL } });
}

/** The sender's point of view (roles swapped), to build messages addressed to the SP_SLO_URL with the SP's own builders. */
function senderConfig(): SamlConnectorConfig {
  return makeConfig([], { spEntityID: IDP_ENTITY_ID, idp: { entityID: SP_ENTITY_ID, sloURL: SP_SLO_URL } });
}

function elementChildren(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

beforeAll(async () => {
  [rsa, ec, other] = await Promise.all([
    generateSigningIdentity({ commonName: 'sp.example.test', algorithm: 'RSA' }),
    generateSigningIdentity({ commonName: 'sp-ec.example.test', algorithm: 'EC' }),
    generateSigningIdentity({ commonName: 'other.example.test', algorithm: 'RSA' }),
  ]);
  p384 = opensslIdentity(['ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  p521 = opensslIdentity(['ec', '-pkeyopt', 'ec_paramgen_curve:P-521']);
  rsa1024 = opensslIdentity(['rsa:1024']);
  ed25519 = opensslIdentity(['ed25519']);
  rsaKey = loaded(loadSpSigningKey(rsa.keyPem, rsa.certPem));
  ecKey = loaded(loadSpSigningKey(ec.keyPem, ec.certPem));
  p384Key = loaded(loadSpSigningKey(p384.keyPem, p384.certPem));
});

// --- loading -------------------------------------------------------------------

describe('loadSpSigningKey', () => {
  it('RSA-2048 (PKCS#8) loads with rsa-sha256, the certificate, its fingerprint and notAfter', () => {
    const s = loaded(loadSpSigningKey(rsa.keyPem, rsa.certPem));
    const [cert] = parseCertificates(rsa.certPem, 'x');
    assert.equal(s.algorithm, SIG.rsaSha256);
    assert.equal(s.certPem, cert?.pem);
    assert.equal(s.fingerprint, cert?.fingerprint);
    assert.match(s.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.equal(s.notAfter, cert?.notAfter);
    assert.equal(new Date(s.notAfter).toISOString(), s.notAfter);
    assert.equal(s.key.type, 'private');
    assert.equal(s.key.asymmetricKeyType, 'rsa');
  });

  it('EC P-256 loads with ecdsa-sha256', () => {
    const s = loaded(loadSpSigningKey(ec.keyPem, ec.certPem));
    assert.equal(s.algorithm, SIG.ecdsaSha256);
    assert.equal(s.key.asymmetricKeyType, 'ec');
  });

  it('EC P-384 loads with ecdsa-sha384, P-521 with ecdsa-sha512 (openssl-made keys)', () => {
    assert.equal(loaded(loadSpSigningKey(p384.keyPem, p384.certPem)).algorithm, SIG.ecdsaSha384);
    assert.equal(loaded(loadSpSigningKey(p521.keyPem, p521.certPem)).algorithm, SIG.ecdsaSha512);
  });

  it('PKCS#1 RSA and SEC1 EC keys load (with the EC PARAMETERS block openssl ecparam writes)', () => {
    const pkcs1 = createPrivateKey(rsa.keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
    assert.equal(loaded(loadSpSigningKey(pkcs1, rsa.certPem)).algorithm, SIG.rsaSha256);
    const sec1 = createPrivateKey(ec.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    assert.equal(loaded(loadSpSigningKey(sec1, ec.certPem)).algorithm, SIG.ecdsaSha256);
    const withParams = `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1}`;
    assert.equal(loaded(loadSpSigningKey(withParams, ec.certPem)).algorithm, SIG.ecdsaSha256);
    // CRLF line ends (a Secret edited on Windows) are fine too.
    assert.ok(loadSpSigningKey(rsa.keyPem.replace(/\n/g, '\r\n'), rsa.certPem.replace(/\n/g, '\r\n')).ok);
  });

  it('a chain (leaf + another certificate) uses the first certificate; the wrong order is a mismatch', () => {
    const s = loaded(loadSpSigningKey(rsa.keyPem, `${rsa.certPem}${other.certPem}`));
    const [leaf] = parseCertificates(rsa.certPem, 'x');
    assert.equal(s.certPem, leaf?.pem);
    assert.equal(s.fingerprint, leaf?.fingerprint);
    assert.equal((s.certPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
    assertRefused(loadSpSigningKey(rsa.keyPem, `${other.certPem}${rsa.certPem}`), /does not match the private key/, rsa.keyPem);
  });

  it('key / certificate mismatch is refused (same type and across types)', () => {
    assertRefused(loadSpSigningKey(rsa.keyPem, other.certPem), /first certificate of tls\.crt \(sha256:[0-9a-f]{64}\) does not match the private key/, rsa.keyPem);
    assertRefused(loadSpSigningKey(ec.keyPem, rsa.certPem), /does not match the private key/, ec.keyPem);
    assertRefused(loadSpSigningKey(rsa.keyPem, ec.certPem), /does not match the private key/, rsa.keyPem);
  });

  it('RSA-1024 is refused', () => {
    assertRefused(loadSpSigningKey(rsa1024.keyPem, rsa1024.certPem), /RSA key of 1024 bits is too small/, rsa1024.keyPem);
  });

  it('Ed25519, DSA, RSA-PSS and secp256k1 keys are refused', () => {
    assertRefused(loadSpSigningKey(ed25519.keyPem, ed25519.certPem), /ed25519 keys are not supported/, ed25519.keyPem);
    const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
    const dsa = pem(generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).privateKey);
    assertRefused(loadSpSigningKey(dsa, rsa.certPem), /dsa keys are not supported/, dsa);
    const pss = pem(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey);
    assertRefused(loadSpSigningKey(pss, rsa.certPem), /rsa-pss keys are not supported/, pss);
    const k1 = pem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey);
    assertRefused(loadSpSigningKey(k1, ec.certPem), /EC curve secp256k1 is not supported/, k1);
  });

  it('encrypted keys (PKCS#8 and traditional PEM) are refused', () => {
    const key = createPrivateKey(rsa.keyPem);
    const pkcs8 = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    assert.match(pkcs8, /BEGIN ENCRYPTED PRIVATE KEY/);
    assertRefused(loadSpSigningKey(pkcs8, rsa.certPem), /tls\.key is encrypted/, pkcs8);
    const pkcs1 = key.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    assert.match(pkcs1, /Proc-Type: 4,ENCRYPTED/);
    assertRefused(loadSpSigningKey(pkcs1, rsa.certPem), /tls\.key is encrypted/, pkcs1);
  });

  it('garbage, empty values, swapped or misplaced PEM blocks are refused', () => {
    const broken = '-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n-----END PRIVATE KEY-----\n';
    assertRefused(loadSpSigningKey('garbage', rsa.certPem), /tls\.key holds no PEM private key/, 'garbage');
    assertRefused(loadSpSigningKey(broken, rsa.certPem), /tls\.key is not a valid PEM private key/, broken);
    assertRefused(loadSpSigningKey('', rsa.certPem), /tls\.key is empty/, '');
    assertRefused(loadSpSigningKey(rsa.keyPem, ''), /tls\.crt is empty/, rsa.keyPem);
    assertRefused(loadSpSigningKey(rsa.keyPem, 'garbage'), /tls\.crt: no PEM certificate found/, rsa.keyPem);
    const badCert = '-----BEGIN CERTIFICATE-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n-----END CERTIFICATE-----\n';
    assertRefused(loadSpSigningKey(rsa.keyPem, badCert), /not a valid X\.509 certificate/, rsa.keyPem);
    // tls.key and tls.crt swapped.
    assertRefused(loadSpSigningKey(rsa.certPem, rsa.keyPem), /tls\.key holds no PEM private key/, rsa.keyPem);
    // A private key in tls.crt (key and chain in one file).
    assertRefused(loadSpSigningKey(rsa.keyPem, `${rsa.certPem}${rsa.keyPem}`), /tls\.crt holds a private key/, rsa.keyPem);
    // A public key is not a private key.
    const spki = createPublicKey(rsa.certPem).export({ type: 'spki', format: 'pem' }).toString();
    assertRefused(loadSpSigningKey(spki, rsa.certPem), /tls\.key holds no PEM private key/, rsa.keyPem);
    // Two private keys: which one signs would be a guess.
    assertRefused(loadSpSigningKey(`${rsa.keyPem}${other.keyPem}`, rsa.certPem), /2 private keys/, rsa.keyPem);
  });

  it('an expired certificate is refused; a not-yet-valid one is accepted', async () => {
    const expired = await generateSigningIdentity({ commonName: 'old.example.test', notBefore: new Date(Date.now() - 10 * 86_400_000), days: 1 });
    assertRefused(loadSpSigningKey(expired.keyPem, expired.certPem), /expired at \d{4}-\d\d-\d\dT/, expired.keyPem);
    const s = loaded(loadSpSigningKey(expired.keyPem, expired.certPem, new Date(Date.now() - 9.5 * 86_400_000)));
    // notAfter itself is still valid, one second later is not.
    assert.ok(loadSpSigningKey(expired.keyPem, expired.certPem, new Date(s.notAfter)).ok);
    assertRefused(loadSpSigningKey(expired.keyPem, expired.certPem, new Date(Date.parse(s.notAfter) + 1000)), /expired/, expired.keyPem);
    const future = await generateSigningIdentity({ commonName: 'new.example.test', notBefore: new Date(Date.now() + 86_400_000) });
    assert.ok(loadSpSigningKey(future.keyPem, future.certPem).ok);
  });
});

// --- logging safety --------------------------------------------------------------

describe('SpSigningKey logging safety', () => {
  it('JSON.stringify and util.inspect show fingerprint, notAfter and algorithm only', () => {
    for (const [s, id] of [[rsaKey, rsa], [ecKey, ec], [p384Key, p384]] as const) {
      const json = JSON.stringify(s);
      assert.deepEqual(JSON.parse(json), { fingerprint: s.fingerprint, notAfter: s.notAfter, algorithm: s.algorithm });
      assertNoKeyMaterial(json, id.keyPem);
      assertNoKeyMaterial(JSON.stringify({ nested: { signing: s } }), id.keyPem);
      for (const text of [inspect(s), inspect(s, { showHidden: true, depth: Infinity, getters: true }), inspect({ signing: s }), `${inspect([s])}`]) {
        assertNoKeyMaterial(text, id.keyPem);
        assert.ok(text.includes(s.fingerprint));
      }
    }
  });

  it('the leak detector itself finds a key in its PEM, PKCS#1, JWK and hex forms', () => {
    const key = createPrivateKey(rsa.keyPem);
    const jwk = key.export({ format: 'jwk' });
    const leaks = [rsa.keyPem, key.export({ type: 'pkcs1', format: 'pem' }).toString().replace(/-----[A-Z ]+-----/g, ''), JSON.stringify(jwk), Buffer.from(jwk.d ?? '', 'base64url').toString('hex')];
    for (const leak of leaks) assert.throws(() => assertNoKeyMaterial(`log: ${leak}`, rsa.keyPem), assert.AssertionError);
    assert.throws(() => assertNoKeyMaterial(JSON.stringify(createPrivateKey(ec.keyPem).export({ format: 'jwk' })), ec.keyPem), assert.AssertionError);
  });

  it('the key is no own property: spreads and Object.entries do not carry it; the object is frozen', () => {
    assert.ok(!Object.keys(rsaKey).includes('key'));
    assert.ok(!Object.hasOwn(rsaKey, 'key'));
    const copy = { ...rsaKey } as Record<string, unknown>;
    assert.equal(copy.key, undefined);
    assertNoKeyMaterial(inspect(copy), rsa.keyPem);
    assert.ok(Object.isFrozen(rsaKey));
    assert.throws(() => {
      (rsaKey as { algorithm: string }).algorithm = SIG.rsaSha1;
    }, TypeError);
  });

  it('a pino log line with the key object carries no key material', () => {
    const logs = captureLogs();
    const log = pino(logs.stream);
    log.info({ signing: ecKey, result: loadSpSigningKey(ec.keyPem, ec.certPem) }, 'signing key loaded');
    log.flush();
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      assert.ok(logs.raw().includes(ecKey.fingerprint));
      assertNoKeyMaterial(logs.raw(), ec.keyPem);
    });
  });
});

// --- HTTP-Redirect -------------------------------------------------------------

describe('redirectBindingURL', () => {
  const xml = (): string => buildLogoutRequestXml(senderConfig(), { requestId: REQUEST_ID, nameID: 'alice@example.com', now: new Date() });

  it('signs the octets param&RelayState&SigAlg in URL order; the payload inflates back to the XML', () => {
    const message = xml();
    const url = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', message, 'state/1 +&=ü', rsaKey);
    assert.ok(url.startsWith(`${IDP_SLO_URL}?SAMLRequest=`));
    assert.deepEqual(rawParams(url).map(([k]) => k), ['SAMLRequest', 'RelayState', 'SigAlg', 'Signature']);
    const raw = new Map(rawParams(url));
    assert.equal(decodeURIComponent(raw.get('RelayState') ?? ''), 'state/1 +&=ü');
    assert.equal(decodeURIComponent(raw.get('SigAlg') ?? ''), SIG.rsaSha256);
    assert.equal(inflateRawSync(Buffer.from(decodeURIComponent(raw.get('SAMLRequest') ?? ''), 'base64')).toString('utf8'), message);
    assert.ok(verifyRedirect(url, rsaKey.certPem, 'SAMLRequest'));
    assert.ok(!verifyRedirect(url, other.certPem, 'SAMLRequest'), 'another certificate does not verify it');
    assert.equal(signatureBytes(url).length, 256, 'RSA-2048 signature');
  });

  it('RelayState is covered: changing or dropping it breaks verification', () => {
    const url = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', xml(), 'relay-a', rsaKey);
    assert.ok(verifyRedirect(url, rsaKey.certPem, 'SAMLRequest'));
    assert.ok(!verifyRedirect(url.replace('RelayState=relay-a', 'RelayState=relay-b'), rsaKey.certPem, 'SAMLRequest'));
    assert.ok(!verifyRedirect(url.replace('&RelayState=relay-a', ''), rsaKey.certPem, 'SAMLRequest'));
  });

  it('without RelayState the octets are param&SigAlg', () => {
    const url = redirectBindingURL(IDP_SLO_URL, 'SAMLResponse', xml(), undefined, rsaKey);
    assert.deepEqual(rawParams(url).map(([k]) => k), ['SAMLResponse', 'SigAlg', 'Signature']);
    assert.ok(verifyRedirect(url, rsaKey.certPem, 'SAMLResponse'));
  });

  it('an endpoint with a query keeps it, joined with &, and it is not part of the signed octets', () => {
    const endpoint = `${IDP_SSO_URL}?idptoken=acct-1`;
    const url = redirectBindingURL(endpoint, 'SAMLRequest', xml(), 'r', rsaKey);
    assert.ok(url.startsWith(`${endpoint}&SAMLRequest=`));
    assert.ok(verifyRedirect(url, rsaKey.certPem, 'SAMLRequest'));
    assert.ok(!verifyRedirect(url, rsaKey.certPem, 'SAMLRequest', 'idptoken=acct-1&'));
    // Already ending with '?' or '&': no doubled separator; a #fragment stays last.
    assert.ok(redirectBindingURL(`${IDP_SSO_URL}?`, 'SAMLRequest', xml(), undefined, undefined).startsWith(`${IDP_SSO_URL}?SAMLRequest=`));
    assert.ok(redirectBindingURL(`${endpoint}&`, 'SAMLRequest', xml(), undefined, undefined).startsWith(`${endpoint}&SAMLRequest=`));
    const withFragment = redirectBindingURL(`${IDP_SSO_URL}#top`, 'SAMLRequest', xml(), 'r', rsaKey);
    assert.ok(withFragment.startsWith(`${IDP_SSO_URL}?SAMLRequest=`) && withFragment.endsWith('#top'));
  });

  it('unsigned: the same URL without SigAlg and Signature', () => {
    const message = xml();
    const unsigned = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', message, 'r', undefined);
    assert.deepEqual(rawParams(unsigned).map(([k]) => k), ['SAMLRequest', 'RelayState']);
    assert.ok(!unsigned.includes('SigAlg') && !unsigned.includes('Signature'));
    const signed = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', message, 'r', rsaKey);
    assert.ok(signed.startsWith(`${unsigned}&SigAlg=`));
  });

  it('ECDSA signatures are raw r||s (IEEE P1363): 64 bytes for P-256, 96 for P-384', () => {
    const url = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', xml(), 'r', ecKey);
    assert.equal(decodeURIComponent(new Map(rawParams(url)).get('SigAlg') ?? ''), SIG.ecdsaSha256);
    assert.equal(signatureBytes(url).length, 64);
    assert.ok(verifyRedirect(url, ecKey.certPem, 'SAMLRequest'));
    const url384 = redirectBindingURL(IDP_SLO_URL, 'SAMLRequest', xml(), 'r', p384Key);
    assert.equal(decodeURIComponent(new Map(rawParams(url384)).get('SigAlg') ?? ''), SIG.ecdsaSha384);
    assert.equal(signatureBytes(url384).length, 96);
    assert.ok(verifyRedirect(url384, p384Key.certPem, 'SAMLRequest'));
  });
});

// --- HTTP-POST -----------------------------------------------------------------

describe('signRootElement', () => {
  const authnRequest = (): string =>
    buildAuthnRequestXml(makeConfig([], { nameIDPolicy: { format: 'EmailAddress', allowCreate: true } }), { requestId: REQUEST_ID, relayState: 's1', now: new Date() });

  for (const [name, get] of [['RSA', () => rsaKey], ['EC P-256', () => ecKey], ['EC P-384', () => p384Key]] as const) {
    it(`${name}: an AuthnRequest verifies with verifyEnvelopedSignature and the SP certificate`, () => {
      const signing = get();
      const signed = signRootElement(authnRequest(), signing);
      const root = parseXmlStrict(signed).documentElement as Element;
      const check = verifyEnvelopedSignature(root, certOf(signing), false);
      assert.equal(check.status, 'valid', check.status === 'invalid' ? check.detail : '');
      if (check.status === 'valid') {
        assert.equal(check.algorithm, signing.algorithm);
        assert.equal(check.cert.fingerprint, signing.fingerprint);
      }
      // Another certificate does not verify it.
      const foreign = verifyEnvelopedSignature(root, parseCertificates(other.certPem, 'other'), false);
      assert.equal(foreign.status, 'invalid');
    });
  }

  it('places the Signature right after Issuer (schema order), Reference #ID, exc-c14n, SHA-256, the certificate in KeyInfo', () => {
    const signed = signRootElement(authnRequest(), rsaKey);
    const root = parseXmlStrict(signed).documentElement as Element;
    assert.deepEqual(
      elementChildren(root).map((e) => `${e.namespaceURI === NS.dsig ? 'ds' : e.namespaceURI === NS.assertion ? 'saml' : 'samlp'}:${e.localName}`),
      ['saml:Issuer', 'ds:Signature', 'samlp:NameIDPolicy'],
    );
    const signature = childElements(root, NS.dsig, 'Signature')[0] as Element;
    const signedInfo = childElements(signature, NS.dsig, 'SignedInfo')[0] as Element;
    const algorithmOf = (parent: Element, name: string): string | null => (childElements(parent, NS.dsig, name)[0] as Element).getAttribute('Algorithm');
    assert.equal(algorithmOf(signedInfo, 'CanonicalizationMethod'), 'http://www.w3.org/2001/10/xml-exc-c14n#');
    assert.equal(algorithmOf(signedInfo, 'SignatureMethod'), SIG.rsaSha256);
    const references = childElements(signedInfo, NS.dsig, 'Reference');
    assert.equal(references.length, 1);
    const reference = references[0] as Element;
    assert.equal(reference.getAttribute('URI'), `#${REQUEST_ID}`);
    assert.equal(algorithmOf(reference, 'DigestMethod'), 'http://www.w3.org/2001/04/xmlenc#sha256');
    const x509 = signed.match(/<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/g) ?? [];
    assert.equal(x509.length, 1, 'exactly one certificate in KeyInfo');
    assert.equal(textOf(root.getElementsByTagNameNS(NS.dsig, 'X509Certificate')[0] as Element), rsaKey.certPem.replace(/-----[A-Z ]+-----|\s/g, ''));
    assert.ok(!signed.includes('PRIVATE'));
  });

  it('the Reference is the root ID even when the root also carries an Id attribute', () => {
    const xml = authnRequest().replace(`ID="${REQUEST_ID}"`, `Id="_decoy" ID="${REQUEST_ID}"`);
    const signed = signRootElement(xml, rsaKey);
    assert.ok(signed.includes(`URI="#${REQUEST_ID}"`));
    assert.equal(verifyEnvelopedSignature(parseXmlStrict(signed).documentElement as Element, certOf(rsaKey), false).status, 'valid');
  });

  it('content changed after signing no longer verifies', () => {
    const signed = signRootElement(authnRequest(), rsaKey).replace('AllowCreate="true"', 'AllowCreate="false"');
    const check = verifyEnvelopedSignature(parseXmlStrict(signed).documentElement as Element, certOf(rsaKey), false);
    assert.equal(check.status, 'invalid');
  });

  it('throws without a root ID, without an Issuer, with a misplaced Issuer, when already signed, or with a DOCTYPE', () => {
    const open = `<samlp:AuthnRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}"`;
    assert.throws(() => signRootElement(`${open}><saml:Issuer>sp</saml:Issuer></samlp:AuthnRequest>`, rsaKey), /no ID attribute/);
    assert.throws(() => signRootElement(`${open} ID="_a"><samlp:NameIDPolicy/></samlp:AuthnRequest>`, rsaKey), /no saml:Issuer/);
    assert.throws(() => signRootElement(`${open} ID="_a"/>`, rsaKey), /no saml:Issuer/);
    assert.throws(() => signRootElement(`${open} ID="_a"><samlp:NameIDPolicy/><saml:Issuer>sp</saml:Issuer></samlp:AuthnRequest>`, rsaKey), /no saml:Issuer as its first child/);
    // An Issuer in another namespace is not saml:Issuer.
    assert.throws(() => signRootElement(`${open} ID="_a"><samlp:Issuer>sp</samlp:Issuer></samlp:AuthnRequest>`, rsaKey), /no saml:Issuer/);
    assert.throws(() => signRootElement(signRootElement(authnRequest(), rsaKey), rsaKey), /already signed/);
    assert.throws(() => signRootElement(`<!DOCTYPE x>${open} ID="_a"><saml:Issuer>sp</saml:Issuer></samlp:AuthnRequest>`, rsaKey), /DOCTYPE/);
    assert.throws(() => signRootElement('<not-xml', rsaKey), /not well-formed/);
  });
});

// --- cross-check with the SP's own logout validators -----------------------------

describe("the SP's own logout validators accept these signatures", () => {
  const responseXml = (): string => buildLogoutResponseXml(senderConfig(), { id: `_r${Math.random().toString(16).slice(2)}`, inResponseTo: PENDING, now: new Date() });
  const validateResponse = (signing: SpSigningKey, input: LogoutMessageInput) =>
    validateLogoutResponse(trustingConfig(signing), input, { now: new Date(), expectedInResponseTo: PENDING });

  for (const [name, get] of [['RSA', () => rsaKey], ['EC P-256', () => ecKey], ['EC P-384', () => p384Key]] as const) {
    it(`${name}: LogoutResponse over HTTP-Redirect is accepted as signed, with its RelayState`, () => {
      const signing = get();
      const url = redirectBindingURL(SP_SLO_URL, 'SAMLResponse', responseXml(), 'sid-1', signing);
      const r = validateResponse(signing, { binding: 'HTTPRedirect', rawQuery: queryOf(url) });
      if (!r.ok) assert.fail(`${r.reason}: ${r.message}`);
      assert.equal(r.signed, true);
      assert.equal(r.relayState, 'sid-1');
      assert.ok(r.trail.some((e) => e.check === 'signature' && e.ok && e.detail?.includes(signing.fingerprint)));
    });

    it(`${name}: LogoutResponse over HTTP-POST (signRootElement) is accepted as signed`, () => {
      const signing = get();
      const form = { SAMLResponse: b64(signRootElement(responseXml(), signing)), RelayState: 'sid-2' };
      const r = validateResponse(signing, { binding: 'HTTPPost', form });
      if (!r.ok) assert.fail(`${r.reason}: ${r.message}`);
      assert.equal(r.signed, true);
      assert.equal(r.relayState, 'sid-2');
    });
  }

  it('a changed RelayState or an untrusted signer is refused by the SP verifier', () => {
    const url = redirectBindingURL(SP_SLO_URL, 'SAMLResponse', responseXml(), 'sid-1', rsaKey);
    const tampered = validateResponse(rsaKey, { binding: 'HTTPRedirect', rawQuery: queryOf(url).replace('RelayState=sid-1', 'RelayState=sid-9') });
    assert.equal(tampered.ok, false);
    if (!tampered.ok) assert.equal(tampered.reason, 'SignatureInvalid');
    const untrusted = validateLogoutResponse(makeConfig(parseCertificates(other.certPem, 'other'), { sloURL: SP_SLO_URL, idp: { sloURL: IDP_SLO_URL } }), { binding: 'HTTPRedirect', rawQuery: queryOf(url) }, { now: new Date(), expectedInResponseTo: PENDING });
    assert.equal(untrusted.ok, false);
    if (!untrusted.ok) assert.equal(untrusted.reason, 'SignatureInvalid');
  });

  it('unsigned redirectBindingURL output is accepted as unsigned', () => {
    const url = redirectBindingURL(SP_SLO_URL, 'SAMLResponse', responseXml(), undefined, undefined);
    const r = validateResponse(rsaKey, { binding: 'HTTPRedirect', rawQuery: queryOf(url) });
    if (!r.ok) assert.fail(`${r.reason}: ${r.message}`);
    assert.equal(r.signed, false);
  });

  it('a LogoutRequest (signature required) is accepted over HTTP-Redirect and HTTP-POST', async () => {
    const requestXml = (id: string): string => buildLogoutRequestXml(senderConfig(), { requestId: id, nameID: 'alice@example.com', sessionIndex: '_s1', now: new Date() });
    for (const signing of [rsaKey, ecKey]) {
      const url = redirectBindingURL(SP_SLO_URL, 'SAMLRequest', requestXml(`_q${signing.fingerprint.slice(7, 23)}`), 'rs', signing);
      const viaRedirect = await validateLogoutRequest(trustingConfig(signing), { binding: 'HTTPRedirect', rawQuery: queryOf(url) }, { now: new Date(), replay: new MemoryReplayCache() });
      if (!viaRedirect.ok) assert.fail(`${viaRedirect.reason}: ${viaRedirect.message}`);
      assert.equal(viaRedirect.nameID, 'alice@example.com');
      assert.deepEqual(viaRedirect.sessionIndexes, ['_s1']);
      assert.equal(viaRedirect.relayState, 'rs');
      const form = { SAMLRequest: b64(signRootElement(requestXml(`_p${signing.fingerprint.slice(7, 23)}`), signing)) };
      const viaPost = await validateLogoutRequest(trustingConfig(signing), { binding: 'HTTPPost', form }, { now: new Date(), replay: new MemoryReplayCache() });
      if (!viaPost.ok) assert.fail(`${viaPost.reason}: ${viaPost.message}`);
      assert.equal(viaPost.nameID, 'alice@example.com');
    }
  });
});

describe('redirectBindingURL escaping', () => {
  it("escapes !'()* in RelayState, so a browser sends exactly the signed octets", async () => {
    const { generateSigningIdentity } = await import('../../../src/demo-idp/keys.ts');
    const { loadSpSigningKey, redirectBindingURL } = await import('../../../src/saml/sign.ts');
    const { verify } = await import('node:crypto');
    const id = await generateSigningIdentity({ commonName: 'escape' });
    const loaded = loadSpSigningKey(id.keyPem, id.certPem);
    assert.ok(loaded.ok);
    const url = redirectBindingURL('https://idp.example.test/slo', 'SAMLResponse', '<x/>', "it's (a) test!*", loaded.signing);
    const query = url.slice(url.indexOf('?') + 1);
    assert.match(query, /RelayState=it%27s%20%28a%29%20test%21%2A&/);
    // What a browser puts on the wire for this URL is what was signed.
    const wire = new URL(url).search.slice(1);
    assert.equal(wire, query);
    const signed = wire.slice(0, wire.indexOf('&Signature='));
    const signature = new URL(url).searchParams.get('Signature')!;
    assert.ok(verify('sha256', Buffer.from(signed), id.certPem, Buffer.from(signature, 'base64')));
  });
});
