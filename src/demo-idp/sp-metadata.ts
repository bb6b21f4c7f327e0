// How the demo IdP learns what an SP of this operator wants, the way a real
// IdP does: from the SP's metadata. For this operator an SP's entity ID is
// its metadata URL ({publicURL}/saml/{ns}/{name}/metadata), so the demo IdP
// reads the document there when a login comes in: the first
// KeyDescriptor use="encryption" certificate (the assertion is then
// encrypted to it) and the HTTP-POST AssertionConsumerService (where an
// IdP-initiated response goes).
//
// What it defends against:
// - being turned into a fetcher of arbitrary URLs by whoever sends an
//   AuthnRequest (its Issuer is any text): only an entity ID of exactly the
//   shape {publicURL}/saml/{ns}/{name}/metadata is read, and never from the
//   network at large: the path is requested from this very server over
//   loopback (its own listening socket), whatever host the public URL names;
// - a slow or huge answer: each fetch is bounded in time and in bytes, no
//   redirect is followed;
// - repeated fetches: answers (and failures, for less long) are cached for a
//   short time, in a map of bounded size;
// - entity expansion and the like: the document is parsed strictly with any
//   DOCTYPE refused, and its entityID must be the one asked for.
//
// Not samlify's metadata reader: samlify 2.13.1 takes the certificate of a
// lone KeyDescriptor as both signing and encryption certificate (an SP that
// publishes only a signing key would get assertions encrypted to it), and
// returns an array, which its own encryption then cannot use, when an SP
// publishes two encryption keys (a rotation).

import type { AddressInfo } from 'node:net';
import type { Element } from '../saml/xml.ts';
import { NS, XmlParseError, attr, childElements, hasDoctypeOrDeclarations, parseXmlStrict, textOf } from '../saml/xml.ts';

const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
/** Kubernetes object names (DNS-1123 subdomains). */
const NAME = '[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?';
const SP_PATH = new RegExp(`^/saml/${NAME}/${NAME}/metadata$`);

export const SP_METADATA_MAX_BYTES = 256 * 1024;
export const SP_METADATA_TIMEOUT_MS = 3000;
const OK_TTL_MS = 60_000;
const FAILED_TTL_MS = 5000;
const MAX_ENTRIES = 256;

export interface SpMetadata {
  entityID: string;
  /** base64 DER of the first KeyDescriptor use="encryption" certificate. */
  encryptionCertificate?: string;
  /** The HTTP-POST AssertionConsumerService (the default one, else the first). */
  acsURL?: string;
}

export type SpMetadataResult = { ok: true; metadata: SpMetadata } | { ok: false; message: string };

/**
 * The path to read on this server for `entityID`, or undefined when it is not
 * an SP metadata URL of this operator (`publicURL` has no trailing slash).
 */
export function spMetadataPath(publicURL: string, entityID: string): string | undefined {
  if (!entityID.startsWith(`${publicURL}/saml/`)) return undefined;
  const path = entityID.slice(publicURL.length);
  return SP_PATH.test(path) ? path : undefined;
}

/** Reads an SP metadata document: its entityID, first encryption certificate and HTTP-POST ACS. */
export function readSpMetadata(xml: string, expectedEntityID: string): SpMetadataResult {
  if (hasDoctypeOrDeclarations(xml)) return { ok: false, message: 'the SP metadata has a DOCTYPE' };
  let root: Element;
  try {
    root = parseXmlStrict(xml).documentElement as Element;
  } catch (err) {
    if (!(err instanceof XmlParseError)) throw err;
    return { ok: false, message: `the SP metadata is not well-formed XML: ${err.message.split('\n')[0]}` };
  }
  if (root.localName !== 'EntityDescriptor' || root.namespaceURI !== NS.metadata) return { ok: false, message: 'the SP metadata is not an md:EntityDescriptor' };
  if (attr(root, 'entityID') !== expectedEntityID) return { ok: false, message: 'the SP metadata names another entityID' };
  const sp = childElements(root, NS.metadata, 'SPSSODescriptor')[0];
  if (!sp) return { ok: false, message: 'the SP metadata has no SPSSODescriptor' };
  const out: SpMetadata = { entityID: expectedEntityID };
  for (const kd of childElements(sp, NS.metadata, 'KeyDescriptor')) {
    if (attr(kd, 'use') !== 'encryption') continue;
    const keyInfo = childElements(kd, NS.dsig, 'KeyInfo')[0];
    const data = keyInfo && childElements(keyInfo, NS.dsig, 'X509Data')[0];
    const cert = data && childElements(data, NS.dsig, 'X509Certificate')[0];
    const b64 = cert ? textOf(cert).replace(/\s+/g, '') : '';
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      out.encryptionCertificate = b64;
      break;
    }
  }
  const acs = childElements(sp, NS.metadata, 'AssertionConsumerService').filter((e) => attr(e, 'Binding') === BINDING_POST);
  const chosen = acs.find((e) => attr(e, 'isDefault') === 'true') ?? acs[0];
  const location = chosen && attr(chosen, 'Location');
  if (location) out.acsURL = location;
  return { ok: true, metadata: out };
}

/** Where this server listens, as a loopback base URL when it listens on every interface. */
export function ownBaseURL(addresses: readonly AddressInfo[]): string | undefined {
  const tcp = addresses.filter((a) => typeof a.port === 'number' && a.port > 0);
  const host = (a: AddressInfo): string => {
    if (a.address === '0.0.0.0') return '127.0.0.1';
    if (a.address === '::') return '[::1]';
    return a.family === 'IPv6' ? `[${a.address}]` : a.address;
  };
  const loopback = tcp.find((a) => a.address === '127.0.0.1' || a.address === '::1' || a.address === '0.0.0.0' || a.address === '::');
  const chosen = loopback ?? tcp[0];
  return chosen ? `http://${host(chosen)}:${chosen.port}` : undefined;
}

async function boundedText(url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/samlmetadata+xml' } });
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP ${res.status}`);
  }
  if (Number(res.headers.get('content-length') ?? 0) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`over ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`over ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface SpMetadataLookupOptions {
  publicURL: string;
  /** This server's listening addresses (fastify's server.addresses()), read at each fetch. */
  addresses: () => readonly AddressInfo[];
  timeoutMs?: number;
  maxBytes?: number;
  now?: () => number;
}

/** SP metadata of this operator's connectors, read over loopback and cached briefly. */
export class SpMetadataLookup {
  readonly #o: SpMetadataLookupOptions;
  readonly #cache = new Map<string, { expires: number; result: Promise<SpMetadataResult> }>();

  constructor(o: SpMetadataLookupOptions) {
    this.#o = o;
  }

  /** The metadata of `entityID`; never rejects. Starting it early (prefetch) and awaiting it later is fine. */
  get(entityID: string): Promise<SpMetadataResult> {
    const now = (this.#o.now ?? Date.now)();
    const hit = this.#cache.get(entityID);
    if (hit && hit.expires > now) return hit.result;
    const path = spMetadataPath(this.#o.publicURL, entityID);
    if (!path) return Promise.resolve({ ok: false, message: 'the entity ID is not an SP metadata URL of this operator' });
    for (const [k, v] of this.#cache) if (v.expires <= now) this.#cache.delete(k);
    while (this.#cache.size >= MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    const entry = { expires: now + OK_TTL_MS, result: this.#fetch(path, entityID) };
    this.#cache.set(entityID, entry);
    void entry.result.then((r) => {
      if (!r.ok) entry.expires = Math.min(entry.expires, (this.#o.now ?? Date.now)() + FAILED_TTL_MS);
    });
    return entry.result;
  }

  async #fetch(path: string, entityID: string): Promise<SpMetadataResult> {
    const base = ownBaseURL(this.#o.addresses());
    if (!base) return { ok: false, message: 'the server is not listening' };
    try {
      const text = await boundedText(`${base}${path}`, this.#o.timeoutMs ?? SP_METADATA_TIMEOUT_MS, this.#o.maxBytes ?? SP_METADATA_MAX_BYTES);
      return readSpMetadata(text, entityID);
    } catch (err) {
      const e = err as Error;
      return { ok: false, message: `SP metadata not read: ${e.name === 'TimeoutError' ? 'no answer in time' : e.message}` };
    }
  }
}
