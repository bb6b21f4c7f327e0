// The demo IdP's SAML Responses, built by samlify (IdentityProvider
// createLoginResponse) rather than by this project's own saml-idp.ts, so the
// demo exercises the SP against an implementation it does not share code
// with. saml-idp.ts stays the tests' fixture builder.
//
// What samlify does here: fills the template (replaceTagsByValue, which
// XML-escapes every value), signs the Assertion (RSA-SHA256, exclusive c14n,
// signature after the Assertion's Issuer), encrypts it when asked
// (@authenio/xml-encryption: AES-256-GCM, RSA-OAEP with MGF1-SHA1) and signs
// the Response over the result (signature after the Response's Issuer).
//
// What samlify 2.13.1 needs told, and why:
// - encryptThenSign: true. Its default order signs the Response over the
//   plain assertion and then swaps in the EncryptedAssertion, which breaks
//   the Response signature (our ACS refuses it: SignatureInvalid). Setting
//   messageSigningOrder on the entity does nothing for createLoginResponse.
// - dataEncryptionAlgorithm: its default is aes256-cbc, which our ACS takes
//   only with allowLegacyEncryption. (Its Constants list no aes256-gcm,
//   although xml-encryption implements it; the settings type lacks both
//   encryption fields, hence the widened type below.)
// - the template (loginResponseTemplate + customTagReplacement): its default
//   one has no AuthnStatement (no SessionIndex) and NotBefore = now; this one
//   is its default with an AuthnStatement and an AttributeStatement.
//   `attributes: []` is given because without an attributes array the
//   constructor console.warns "Invalid login response template"; the
//   AttributeStatement placeholder is not samlify's `{AttributeStatement}`
//   (it would be replaced by an empty, schema-invalid AttributeStatement).
// - braces in values: replaceTagsByValue substitutes one tag after another,
//   so a value that contains `{SomeLaterTag}` (a user attribute, or the
//   Issuer of an AuthnRequest) would be substituted too. Braces in values
//   are swapped for private-use characters and swapped back afterwards.
// - it logs with console.warn when an entity has no SingleLogoutService:
//   the demo IdP's SLO endpoint is given.
//
// Nothing here parses a message: samlify's schema validator
// (setSchemaValidator) is only consulted by its parse flows (isValidXml), so
// none is set; samlify refuses to parse without one, and that stays so.

import { randomBytes } from 'node:crypto';
import * as samlify from 'samlify';
import type { SigningIdentity } from './keys.ts';

const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const EMAIL_ADDRESS = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const TRANSFORMS = ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'];
export const DATA_ENCRYPTION = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
export const KEY_ENCRYPTION = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

/** Validity windows, as the demo IdP had them before samlify. */
const NOT_BEFORE_SKEW_MS = 30_000;
const VALIDITY_MS = 5 * 60_000;

const TEMPLATE =
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">' +
  '<saml:Issuer>{Issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>' +
  '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">' +
  '<saml:Issuer>{Issuer}</saml:Issuer>' +
  '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>' +
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}" InResponseTo="{InResponseTo}"/></saml:SubjectConfirmation></saml:Subject>' +
  '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}"><saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>' +
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}" SessionNotOnOrAfter="{SessionNotOnOrAfter}"><saml:AuthnContext><saml:AuthnContextClassRef>{AuthnContextClassRef}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
  '<saml:AttributeStatement>{DemoAttributes}</saml:AttributeStatement>' +
  '</saml:Assertion></samlp:Response>';

/** samlify's default attribute template, with one AttributeValue per value and every part a tag (its own builder writes the name unescaped). */
function attributesTemplate(attributes: ReadonlyArray<readonly [string, readonly string[]]>): string {
  return attributes
    .map(
      ([, values], i) =>
        `<saml:Attribute Name="{AttrName${i}}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` +
        values.map((_v, j) => `<saml:AttributeValue xsi:type="xs:string">{AttrValue${i}x${j}}</saml:AttributeValue>`).join('') +
        '</saml:Attribute>',
    )
    .join('');
}

// Braces in values would be read as tags by the substitutions that follow.
const OPEN = '\uE000';
const CLOSE = '\uE001';
function hideBraces(v: string): string {
  if (v.includes(OPEN) || v.includes(CLOSE)) throw new Error('a value holds a private-use character U+E000/U+E001');
  return v.replaceAll('{', OPEN).replaceAll('}', CLOSE);
}
function showBraces(xml: string): string {
  return xml.replaceAll(OPEN, '{').replaceAll(CLOSE, '}');
}

type IdentityProviderSettings = Parameters<typeof samlify.IdentityProvider>[0];
type ServiceProviderSettings = Parameters<typeof samlify.ServiceProvider>[0];
/** The encryption settings samlify reads (entitySetting) but its IdentityProviderSettings type does not declare. */
type IdpSettings = IdentityProviderSettings & { dataEncryptionAlgorithm?: string; keyEncryptionAlgorithm?: string };

export interface SamlifyIdpOptions {
  entityID: string;
  ssoURL: string;
  sloURL: string;
  identity: SigningIdentity;
}

export interface LoginResponseInput {
  /** The SP entity ID: the Audience. */
  spEntityID: string;
  /** The ACS URL: Destination and Recipient. */
  acsURL: string;
  /** The AuthnRequest ID; absent for an IdP-initiated (unsolicited) response. */
  inResponseTo?: string;
  /** emailAddress NameID. */
  nameID: string;
  attributes: Readonly<Record<string, readonly string[]>>;
  now?: Date;
  sessionNotOnOrAfter: Date;
  /** The SP's encryption certificate (PEM or base64 DER): the assertion is encrypted to it. */
  encryptionCertificate?: string;
}

export interface SamlifyIdp {
  /** The base64 SAMLResponse form value. */
  loginResponse(input: LoginResponseInput): Promise<{ samlResponse: string; encrypted: boolean }>;
}

export function createSamlifyIdp(o: SamlifyIdpOptions): SamlifyIdp {
  const settings = (isAssertionEncrypted: boolean): IdpSettings => ({
    entityID: o.entityID,
    privateKey: o.identity.keyPem,
    signingCert: o.identity.certPem,
    singleSignOnService: [
      { Binding: BINDING_REDIRECT, Location: o.ssoURL },
      { Binding: BINDING_POST, Location: o.ssoURL },
    ],
    singleLogoutService: [{ Binding: BINDING_REDIRECT, Location: o.sloURL }],
    nameIDFormat: [EMAIL_ADDRESS],
    requestSignatureAlgorithm: RSA_SHA256,
    generateID: () => `_${randomBytes(16).toString('hex')}`,
    loginResponseTemplate: { context: TEMPLATE, attributes: [] },
    isAssertionEncrypted,
    dataEncryptionAlgorithm: DATA_ENCRYPTION,
    keyEncryptionAlgorithm: KEY_ENCRYPTION,
  });
  const plain = samlify.IdentityProvider(settings(false));
  const encrypting = samlify.IdentityProvider(settings(true));

  return {
    async loginResponse(input) {
      const now = input.now ?? new Date();
      const at = (ms: number) => new Date(now.getTime() + ms).toISOString();
      const encrypted = input.encryptionCertificate !== undefined;
      const spSettings: ServiceProviderSettings = {
        entityID: input.spEntityID,
        assertionConsumerService: [{ Binding: BINDING_POST, Location: input.acsURL }],
        // Both signatures, as the demo IdP always sent: the assertion's
        // (our ACS requires it) and the Response's.
        wantAssertionsSigned: true,
        wantMessageSigned: true,
        transformationAlgorithms: TRANSFORMS,
        ...(encrypted ? { encryptCert: input.encryptionCertificate } : {}),
      };
      const sp = samlify.ServiceProvider(spSettings);
      const attributes = Object.entries(input.attributes);
      const tags: Record<string, string | undefined> = {
        ID: plain.entitySetting.generateID!(),
        AssertionID: plain.entitySetting.generateID!(),
        IssueInstant: now.toISOString(),
        Destination: input.acsURL,
        Issuer: o.entityID,
        StatusCode: STATUS_SUCCESS,
        SubjectRecipient: input.acsURL,
        SubjectConfirmationDataNotOnOrAfter: at(VALIDITY_MS),
        ConditionsNotBefore: at(-NOT_BEFORE_SKEW_MS),
        ConditionsNotOnOrAfter: at(VALIDITY_MS),
        AuthnInstant: now.toISOString(),
        SessionIndex: `_s${randomBytes(12).toString('hex')}`,
        SessionNotOnOrAfter: input.sessionNotOnOrAfter.toISOString(),
        AuthnContextClassRef: PASSWORD_PROTECTED,
        NameIDFormat: EMAIL_ADDRESS,
        // Undefined drops both InResponseTo attributes (IdP-initiated).
        InResponseTo: input.inResponseTo,
        Audience: input.spEntityID,
        NameID: input.nameID,
      };
      attributes.forEach(([name, values], i) => {
        tags[`AttrName${i}`] = name;
        values.forEach((v, j) => (tags[`AttrValue${i}x${j}`] = v));
      });
      for (const [k, v] of Object.entries(tags)) if (v !== undefined) tags[k] = hideBraces(v);
      const idp = encrypted ? encrypting : plain;
      const out = await idp.createLoginResponse(sp, { extract: { request: { id: input.inResponseTo ?? '' } } }, 'post', { email: input.nameID }, {
        encryptThenSign: true,
        customTagReplacement: (template: string) => {
          const filled = samlify.SamlLib.replaceTagsByValue(template.replace('{DemoAttributes}', attributesTemplate(attributes)), tags);
          return { id: tags.ID!, context: showBraces(filled) };
        },
      });
      return { samlResponse: out.context, encrypted };
    },
  };
}
