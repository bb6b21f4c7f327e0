// NameID format names of the SsoConnector API and their SAML URNs.
import type { NameIDFormat } from './types.ts';

export const NAMEID_FORMAT_URN: Readonly<Record<NameIDFormat, string>> = {
  EmailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  Unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  Persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  Transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
};

export const BINDING_URN = {
  HTTPRedirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  HTTPPost: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;
