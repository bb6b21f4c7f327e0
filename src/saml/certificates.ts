// Parsing of trusted IdP certificates (PEM, possibly several per text) and
// fingerprint pinning. Done once at reconcile time, never per login.
import { X509Certificate, createHash } from 'node:crypto';
import type { IdpCertificate } from './types.ts';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Most PEM blocks one value may hold (a bundle of certificates, or a key and its parameters). */
export const MAX_PEM_BLOCKS = 64;

/**
 * Every `-----BEGIN X-----...-----END X-----` block of a PEM text, refusing
 * (undefined) a text with more than MAX_PEM_BLOCKS BEGIN markers. The cap is
 * counted first, in one linear pass: the block pattern costs time
 * proportional to the text for each BEGIN without its END, so a Secret made of
 * BEGIN markers alone would otherwise block the process for seconds on every
 * reconcile.
 */
export function pemBlocks(text: string): RegExpMatchArray[] | undefined {
  let count = 0;
  for (let at = text.indexOf('-----BEGIN '); at >= 0; at = text.indexOf('-----BEGIN ', at + 11)) {
    if (++count > MAX_PEM_BLOCKS) return undefined;
  }
  return [...text.matchAll(PEM_BLOCK)];
}

/** `sha256:` + 64 lowercase hex digits over the DER encoding. */
export function fingerprintOf(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** Normalises `AB:CD:...`, upper case or a missing `sha256:` prefix to the canonical form. */
export function normaliseFingerprint(input: string): string {
  const hex = input.trim().toLowerCase().replace(/^sha256:/, '').replace(/[:\s]/g, '');
  return `sha256:${hex}`;
}

/**
 * Parses every CERTIFICATE block of a PEM text. Throws when the text holds no
 * certificate, a block is not valid base64 / DER, or holds another PEM type.
 */
export function parseCertificates(pemText: string, source: string): IdpCertificate[] {
  const out: IdpCertificate[] = [];
  let index = 0;
  const blocks = pemBlocks(pemText);
  if (!blocks) throw new Error(`${source}: more than ${MAX_PEM_BLOCKS} PEM blocks`);
  for (const m of blocks) {
    const label = m[1] ?? '';
    const body = (m[2] ?? '').replace(/\s+/g, '');
    const where = `${source} (PEM block ${index + 1})`;
    index++;
    if (label !== 'CERTIFICATE') {
      throw new Error(`${where}: expected a CERTIFICATE block, found ${label}`);
    }
    if (body.length === 0 || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      throw new Error(`${where}: the certificate is not valid base64`);
    }
    const der = Buffer.from(body, 'base64');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch (err) {
      throw new Error(`${where}: not a valid X.509 certificate (${(err as Error).message})`);
    }
    out.push({
      pem: `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`,
      fingerprint: fingerprintOf(der),
      subject: cert.subject.replace(/\n/g, ', '),
      notAfter: new Date(cert.validTo).toISOString(),
      source,
    });
  }
  if (out.length === 0) {
    throw new Error(`${source}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)`);
  }
  // A single certificate keeps the plain source name; several get an index each.
  if (out.length > 1) out.forEach((c, i) => (c.source = `${source}[${i}]`));
  return out;
}

/** True when there are no pins, or the certificate's fingerprint equals one of them. */
export function matchesPins(cert: IdpCertificate, pins: readonly string[] | undefined): boolean {
  if (pins == null || pins.length === 0) return true;
  return pins.some((p) => normaliseFingerprint(p) === cert.fingerprint);
}

/** The bare base64 DER of a PEM certificate (used to compare with a KeyInfo certificate). */
export function derBase64Of(cert: IdpCertificate): string {
  return cert.pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}
