// Encrypted assertions: how long the ACS takes to refuse each kind of bad
// encrypted response, side by side with a valid one, in the same run. The
// client gets one answer for all of them (401 EncryptedAssertionInvalid); this
// measures how far their timing differs, which is what a decryption oracle
// would have to tell apart (issue: "measure the timing spread in the bench,
// not in a test"). Every call gets its own pre-generated response.

import { randomBytes } from 'node:crypto';
import { generateSigningIdentity } from '../../src/demo-idp/keys.ts';
import { MemoryReplayCache } from '../../src/saml/replay-cache.ts';
import { loadSpSigningKey } from '../../src/saml/sign.ts';
import { validateResponse } from '../../src/saml/validate-response.ts';
import { encryptElementXml, type EncryptOptions } from '../support/saml-encrypt.ts';
import { certificatesOf, makeConfig, makeResponseXml, signingIdentity } from '../support/saml-fixtures.ts';
import { Recorder, inputsNeeded, runInterleaved, type BenchPlan, type Stats } from './measure.ts';

export interface SpreadResult {
  classes: { id: string; title: string; stats: Stats }[];
  /** Largest minus smallest median among the refusals, µs. */
  spreadUs: number;
  failures: number;
}

const KINDS = [
  { id: 'valid', title: 'valid (accepted)' },
  { id: 'wrong-key', title: 'encrypted to a key the SP does not hold' },
  { id: 'tampered-data', title: 'one byte of the AES-GCM ciphertext changed' },
  { id: 'tampered-key', title: 'one byte of the RSA-OAEP encrypted key changed' },
  { id: 'not-assertion', title: 'decrypts to something that is not an assertion' },
  { id: 'bad-signature', title: 'decrypts to an assertion whose signature fails' },
] as const;

export async function benchDecryptionSpread(plan: BenchPlan, enc: EncryptOptions = {}): Promise<SpreadResult> {
  const idp = await signingIdentity('idp');
  const [spKey, stranger] = await Promise.all([generateSigningIdentity({ commonName: 'bench-sp-enc' }), generateSigningIdentity({ commonName: 'bench-stranger' })]);
  const loaded = loadSpSigningKey(spKey.keyPem, spKey.certPem);
  if (!loaded.ok) throw new Error(loaded.message);
  const cfg = makeConfig(certificatesOf(idp), { encryption: { mode: 'Required', keys: [loaded.signing], allowLegacy: false } });
  const until = new Date(Date.now() + 2 * 3600_000);
  const n = inputsNeeded(plan);

  const flip = (b64: string) => {
    const raw = Buffer.from(b64, 'base64');
    const at = raw.length >> 1;
    raw[at] = raw[at]! ^ 0x01;
    return raw.toString('base64');
  };
  const build = (kind: (typeof KINDS)[number]['id']): { samlResponse: string; requestId: string } => {
    const requestId = `_${randomBytes(16).toString('hex')}`;
    const xml = makeResponseXml(idp, { inResponseTo: requestId, signResponse: false, notOnOrAfter: until, confirmationNotOnOrAfter: until });
    const s = xml.indexOf('<saml:Assertion');
    const e = xml.indexOf('</saml:Assertion>') + '</saml:Assertion>'.length;
    let assertion = xml.slice(s, e);
    if (kind === 'not-assertion') assertion = `<saml:Other xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_${randomBytes(8).toString('hex')}">${'x'.repeat(assertion.length - 120)}</saml:Other>`;
    if (kind === 'bad-signature') assertion = assertion.replace('alice@example.com</saml:NameID>', 'mallory@example.com</saml:NameID>');
    let ea = encryptElementXml(assertion, kind === 'wrong-key' ? stranger.certPem : spKey.certPem, enc);
    const values = [...ea.matchAll(/<xenc:CipherValue>([^<]+)<\/xenc:CipherValue>/g)].map((m) => m[1]!);
    // The first CipherValue is the encrypted key (inside KeyInfo), the last the data.
    if (kind === 'tampered-key') ea = ea.replace(values[0]!, flip(values[0]!));
    if (kind === 'tampered-data') ea = ea.replace(values.at(-1)!, flip(values.at(-1)!));
    const out = xml.slice(0, s) + ea + xml.slice(e);
    return { samlResponse: Buffer.from(out, 'utf8').toString('base64'), requestId };
  };

  const recorders = KINDS.map((k) => {
    const samples = Array.from({ length: n }, () => build(k.id));
    const replay = new MemoryReplayCache();
    return new Recorder(async (i) => {
      const sample = samples[i]!;
      const r = await validateResponse(cfg, { samlResponse: sample.samlResponse, expectedInResponseTo: sample.requestId, now: new Date(), replay });
      return k.id === 'valid' ? r.ok : !r.ok && r.reason === 'EncryptedAssertionInvalid' && r.status === 401;
    }, 1);
  });
  await runInterleaved(recorders, plan);
  const classes = KINDS.map((k, i) => ({ id: k.id, title: k.title, stats: recorders[i]!.stats() }));
  const refusals = classes.filter((c) => c.id !== 'valid').map((c) => c.stats.medianUs);
  return { classes, spreadUs: Math.max(...refusals) - Math.min(...refusals), failures: classes.reduce((s, c) => s + c.stats.failures, 0) };
}
