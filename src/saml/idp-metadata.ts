// Reading an IdP's SAML metadata document (saml.idp.metadata): an uploaded
// file (ConfigMap or Secret) or a discovery endpoint's answer. What it gives a
// connector: the IdP's entityID, its SSO and SLO endpoints with their
// bindings, every signing certificate it publishes (so a next key the IdP
// announces works at once), and the NameID formats it offers.
//
// What this defends against:
// - a document changed on the way or at rest, when the admin names the
//   certificates that sign it (metadata.signingCertificates): the root must
//   carry an enveloped signature by one of them, checked by the project's
//   strict signature code (signature.ts: one Reference to the root's ID,
//   exclusive c14n, no SHA-1 unless allowed); everything is then read from
//   the canonical octets that signature covers, never from the received text;
// - entity expansion, external entities and DTD defaults: a DOCTYPE or any
//   markup declaration is refused before parsing, and parsing is strict;
// - oversized documents: refused above maxBytes before parsing;
// - an expired document: validUntil in the past is refused (MetadataExpired);
// - an aggregate (EntitiesDescriptor) carrying many IdPs: only the entity the
//   connector names (idp.entityID) is used; without one, the aggregate must
//   hold exactly one IdP;
// - endpoints on plain http off loopback (SSO, SLO): dropped, as the
//   manifest's own URL rules would refuse them.
//
// samlify, the SAML library the project's users named, reads the entity's
// endpoints and NameID formats (its IdentityProvider metadata API). It is not
// used for the certificates: samlify 2.13.1 drops a KeyDescriptor without a
// `use` attribute when a `use="signing"` one is beside it (1 of 2 signing
// certificates returned), and returns none at all for two KeyDescriptors
// without `use` (0 of 2), while SAML metadata 2.4.1.1 says a KeyDescriptor
// without `use` is for signing too. Losing the second one loses an IdP's
// announced next key, and a rotation would fail logins; so KeyDescriptors are
// read here. samlify also refuses aggregates (ERR_MULTIPLE_METADATA_ENTITYDESCRIPTOR),
// so it is given the one chosen EntityDescriptor, serialised from the
// verified DOM.

import type { Element } from './xml.ts';
import { canonicalise } from './c14n.ts';
import * as samlify from 'samlify';
import { parseCertificates } from './certificates.ts';
import { BINDING_URN } from './nameid.ts';
import { verifyEnvelopedSignature } from './signature.ts';
import type { IdpCertificate, SamlBinding } from './types.ts';
import { NS, XmlParseError, attr, childElements, descendants, hasDoctypeOrDeclarations, parseXmlStrict } from './xml.ts';

export type IdpMetadataReason =
  | 'MetadataTooLarge'
  | 'MetadataInvalid'
  | 'DoctypeForbidden'
  | 'MetadataSignatureMissing'
  | 'MetadataSignatureInvalid'
  | 'MetadataExpired'
  | 'EntityNotFound'
  | 'NoSingleSignOnService'
  | 'NoSigningCertificate';

export interface IdpMetadata {
  entityID: string;
  /** HTTP-Redirect first when offered, else HTTP-POST. */
  sso: { url: string; binding: SamlBinding };
  slo?: { url: string; binding: SamlBinding };
  /** Every signing certificate published (use="signing" or no use), in document order. */
  certificates: IdpCertificate[];
  nameIDFormats: string[];
  /** Epoch ms of validUntil (the nearest of the entity's and its aggregate's), if any. */
  validUntil?: number;
  /** cacheDuration in ms (the shortest given), if any. */
  cacheDurationMs?: number;
  /** The certificate that signed the document, when it was signed and checked. */
  signedBy?: string;
}

export type IdpMetadataResult = { ok: true; metadata: IdpMetadata } | { ok: false; reason: IdpMetadataReason; message: string };

export interface ReadIdpMetadataOptions {
  /** The entity to use from an aggregate (and to check a single entity against). */
  entityID?: string;
  /** When given, the document must be signed by one of them. */
  signingCertificates?: readonly IdpCertificate[];
  allowSHA1?: boolean;
  /** Default 1 MiB. */
  maxBytes?: number;
  now?: Date;
  /** Where the document came from, for certificate sources (`metadata <url>`). */
  source: string;
}

export const DEFAULT_MAX_METADATA_BYTES = 1024 * 1024;

const fail = (reason: IdpMetadataReason, message: string): IdpMetadataResult => ({ ok: false, reason, message });
const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/;
const endpointAllowed = (url: string) => url.startsWith('https://') || LOOPBACK_HTTP.test(url);

/** xs:duration as SAML metadata's cacheDuration uses it (PnYnMnDTnHnMnS), in ms; undefined when unreadable. */
export function parseXsDuration(value: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value.trim());
  if (!m || value.trim() === 'P' || value.trim().endsWith('T')) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const days = Number(y ?? 0) * 365 + Number(mo ?? 0) * 30 + Number(d ?? 0);
  return ((days * 24 + Number(h ?? 0)) * 60 + Number(mi ?? 0)) * 60_000 + Math.round(Number(s ?? 0) * 1000);
}

export function readIdpMetadata(xml: string, o: ReadIdpMetadataOptions): IdpMetadataResult {
  try {
    return read(xml, o);
  } catch (err) {
    // Fail closed on anything unexpected, with a message that quotes nothing of the document.
    return fail('MetadataInvalid', `the metadata could not be read (${err instanceof Error ? err.name : 'error'})`);
  }
}

function read(xml: string, o: ReadIdpMetadataOptions): IdpMetadataResult {
  const max = o.maxBytes ?? DEFAULT_MAX_METADATA_BYTES;
  if (Buffer.byteLength(xml, 'utf8') > max) return fail('MetadataTooLarge', `the metadata is larger than ${max} bytes`);
  if (hasDoctypeOrDeclarations(xml)) return fail('DoctypeForbidden', 'the metadata carries a DOCTYPE or markup declaration');
  let root: Element;
  try {
    root = parseXmlStrict(xml).documentElement as Element;
  } catch (err) {
    if (err instanceof XmlParseError) return fail('MetadataInvalid', `the metadata is not well-formed XML: ${err.message.slice(0, 200)}`);
    throw err;
  }
  if (root.namespaceURI !== NS.metadata || (root.localName !== 'EntityDescriptor' && root.localName !== 'EntitiesDescriptor')) {
    return fail('MetadataInvalid', 'the document is neither an md:EntityDescriptor nor an md:EntitiesDescriptor');
  }

  // The signature, when the admin names its signers: everything after this is
  // read from the canonical octets it covers.
  let signedBy: string | undefined;
  const signers = o.signingCertificates ?? [];
  if (signers.length > 0) {
    if (childElements(root, NS.dsig, 'Signature').length === 0) return fail('MetadataSignatureMissing', 'the metadata is not signed, and metadata.signingCertificates says it must be');
    const sig = verifyEnvelopedSignature(root, signers, o.allowSHA1 ?? false);
    if (sig.status !== 'valid') return fail('MetadataSignatureInvalid', sig.status === 'invalid' ? `${sig.reason}: ${sig.detail}` : 'no signature');
    signedBy = sig.cert.fingerprint;
    root = parseXmlStrict(sig.signedXml).documentElement as Element;
  }

  const now = (o.now ?? new Date()).getTime();
  const entities = root.localName === 'EntityDescriptor' ? [root] : descendants(root, NS.metadata, 'EntityDescriptor');
  const idps = entities.filter((e) => childElements(e, NS.metadata, 'IDPSSODescriptor').length > 0);
  let entity: Element | undefined;
  if (o.entityID !== undefined) entity = idps.find((e) => attr(e, 'entityID') === o.entityID);
  else if (idps.length === 1) entity = idps[0];
  if (!entity) {
    return fail(
      'EntityNotFound',
      o.entityID !== undefined ? `no IdP with entityID ${o.entityID} in the metadata (${idps.length} IdP(s) found)` : `the metadata holds ${idps.length} IdPs: give idp.entityID to choose one`,
    );
  }

  // validUntil and cacheDuration of the entity and every aggregate above it.
  let validUntil: number | undefined;
  let cacheDurationMs: number | undefined;
  for (let el: Element | null = entity; el && el.nodeType === 1; el = el.parentNode as Element | null) {
    const vu = attr(el, 'validUntil');
    if (vu !== undefined) {
      const t = Date.parse(vu);
      if (Number.isNaN(t)) return fail('MetadataInvalid', `validUntil ${vu.slice(0, 64)} is not a date`);
      validUntil = validUntil === undefined ? t : Math.min(validUntil, t);
    }
    const cd = attr(el, 'cacheDuration');
    if (cd !== undefined) {
      const ms = parseXsDuration(cd);
      if (ms !== undefined) cacheDurationMs = cacheDurationMs === undefined ? ms : Math.min(cacheDurationMs, ms);
    }
    if (el === root) break;
  }
  if (validUntil !== undefined && validUntil <= now) return fail('MetadataExpired', `the metadata was valid until ${new Date(validUntil).toISOString()}`);

  const descriptor = childElements(entity, NS.metadata, 'IDPSSODescriptor')[0] as Element;
  // Certificates: every KeyDescriptor for signing (use="signing", or no use).
  const certificates: IdpCertificate[] = [];
  for (const kd of childElements(descriptor, NS.metadata, 'KeyDescriptor')) {
    const use = attr(kd, 'use');
    if (use !== undefined && use !== 'signing') continue;
    for (const c of descendants(kd, NS.dsig, 'X509Certificate')) {
      const body = (c.textContent ?? '').replace(/\s+/g, '');
      try {
        certificates.push(...parseCertificates(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`, `${o.source}#${certificates.length}`));
      } catch (err) {
        return fail('MetadataInvalid', `a signing certificate of the metadata is not valid: ${(err as Error).message.slice(0, 200)}`);
      }
    }
  }
  if (certificates.length === 0) return fail('NoSigningCertificate', 'the IdP publishes no signing certificate');

  // Endpoints and NameID formats through samlify, on the chosen entity alone.
  // Its exclusive canonical form is a standalone document (every namespace it uses declared).
  const entityXml = canonicalise(entity);
  const meta = samlify.IdentityProvider({ metadata: entityXml }).entityMeta;
  const entityID = meta.getEntityID();
  if (typeof entityID !== 'string' || entityID === '') return fail('MetadataInvalid', 'the EntityDescriptor has no entityID');
  const pick = (get: (binding: string) => unknown): { url: string; binding: SamlBinding } | undefined => {
    for (const [key, binding] of [['redirect', 'HTTPRedirect'], ['post', 'HTTPPost']] as const) {
      const url = get(key);
      if (typeof url === 'string' && url !== '' && endpointAllowed(url)) return { url, binding };
    }
    return undefined;
  };
  const sso = pick((b) => meta.getSingleSignOnService(b));
  if (!sso) return fail('NoSingleSignOnService', 'the IdP offers no SingleSignOnService over HTTP-Redirect or HTTP-POST on an https URL');
  const slo = pick((b) => meta.getSingleLogoutService(b));
  const formats = meta.getNameIDFormat() as unknown;
  const nameIDFormats = (Array.isArray(formats) ? formats : formats === undefined ? [] : [formats]).filter((f): f is string => typeof f === 'string');

  return {
    ok: true,
    metadata: {
      entityID,
      sso,
      ...(slo ? { slo } : {}),
      certificates,
      nameIDFormats,
      ...(validUntil !== undefined ? { validUntil } : {}),
      ...(cacheDurationMs !== undefined ? { cacheDurationMs } : {}),
      ...(signedBy !== undefined ? { signedBy } : {}),
    },
  };
}

/** Both bindings' URNs, for tests and messages. */
export const METADATA_BINDINGS = BINDING_URN;
