// SP metadata. A small escaped template rather than samlify's
// ServiceProvider().getMetadata(): samlify 2.13.1 writes NameIDFormat before
// SingleLogoutService, which breaks the schema order of SSODescriptorType.
import { BINDING_URN, NAMEID_FORMAT_URN } from './nameid.ts';
import type { SamlConnectorConfig } from './types.ts';
import { NS, escapeXml as x } from './xml.ts';

/** Content and key-transport algorithms accepted in encrypted assertions, as published (SAML metadata EncryptionMethod). */
export const ENCRYPTION_METHODS = [
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#rsa-oaep',
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
] as const;
/** Accepted only with saml.security.allowLegacyEncryption. */
export const LEGACY_ENCRYPTION_METHODS = ['http://www.w3.org/2001/04/xmlenc#aes256-cbc', 'http://www.w3.org/2001/04/xmlenc#aes128-cbc', 'http://www.w3.org/2001/04/xmlenc#rsa-1_5'] as const;

export function buildSpMetadata(cfg: SamlConnectorConfig): string {
  const lines: string[] = [];
  lines.push('<?xml version="1.0" encoding="UTF-8"?>');
  lines.push(`<md:EntityDescriptor xmlns:md="${NS.metadata}" entityID="${x(cfg.spEntityID)}">`);
  lines.push(
    `  <md:SPSSODescriptor AuthnRequestsSigned="${cfg.spSigning && cfg.signAuthnRequests ? 'true' : 'false'}" WantAssertionsSigned="${cfg.security.requireSignedAssertions ? 'true' : 'false'}" protocolSupportEnumeration="${NS.protocol}">`,
  );
  // The certificates of the SP signing keys, how the IdP checks our signed
  // requests: the current one and, during a rotation, the next, so an IdP
  // that reads this metadata trusts the next key before it signs anything.
  for (const signing of [cfg.spSigning, cfg.spSigningNext]) {
    if (!signing) continue;
    const der = signing.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    lines.push(`    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="${NS.dsig}"><ds:X509Data><ds:X509Certificate>${der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`);
  }
  if (cfg.encryption.mode !== 'None') {
    // The encryption keys (the current one, then the next during a rotation):
    // the IdP encrypts assertions to one of them, with one of the methods
    // listed (strongest first; the legacy ones only when allowed).
    const methods = [...ENCRYPTION_METHODS, ...(cfg.encryption.allowLegacy ? LEGACY_ENCRYPTION_METHODS : [])];
    for (const k of cfg.encryption.keys) {
      const der = k.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
      lines.push(`    <md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="${NS.dsig}"><ds:X509Data><ds:X509Certificate>${der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>`);
      for (const m of methods) lines.push(`      <md:EncryptionMethod Algorithm="${m}"/>`);
      lines.push('    </md:KeyDescriptor>');
    }
  }
  if (cfg.sloURL !== undefined) {
    lines.push(`    <md:SingleLogoutService Binding="${BINDING_URN.HTTPRedirect}" Location="${x(cfg.sloURL)}"/>`);
    lines.push(`    <md:SingleLogoutService Binding="${BINDING_URN.HTTPPost}" Location="${x(cfg.sloURL)}"/>`);
  }
  const format = cfg.nameIDPolicy?.format;
  if (format !== undefined) lines.push(`    <md:NameIDFormat>${x(NAMEID_FORMAT_URN[format])}</md:NameIDFormat>`);
  lines.push(`    <md:AssertionConsumerService Binding="${BINDING_URN.HTTPPost}" Location="${x(cfg.acsURL)}" index="0" isDefault="true"/>`);
  lines.push('  </md:SPSSODescriptor>');
  lines.push('</md:EntityDescriptor>');
  return `${lines.join('\n')}\n`;
}
