// Contract of the SAML service-provider core. src/saml knows nothing of
// Kubernetes or HTTP frameworks: the controller compiles a SamlConnectorConfig
// from a manifest; the HTTP layer calls the functions of this folder with it.

import type { SpSigningKey } from './sign.ts';

export type SamlBinding = 'HTTPRedirect' | 'HTTPPost';
export type NameIDFormat = 'EmailAddress' | 'Unspecified' | 'Persistent' | 'Transient';

/** One trusted IdP signing certificate, parsed once at reconcile time. */
export interface IdpCertificate {
  /** PEM of this single certificate. */
  pem: string;
  /** `sha256:` + 64 lowercase hex digits over the DER. */
  fingerprint: string;
  subject: string;
  /** ISO-8601. */
  notAfter: string;
  /** Where it came from, e.g. `secret/idp-cert#tls.crt` or `inline[0]`. */
  source: string;
}

/** Everything the SP needs for one connector, resolved and immutable. */
export interface SamlConnectorConfig {
  /** `ns/name`, used in logs and errors only. */
  key: string;
  spEntityID: string;
  /** Absolute URL of this connector's ACS. */
  acsURL: string;
  sloURL?: string;
  idp: {
    entityID: string;
    ssoURL: string;
    ssoBinding: SamlBinding;
    sloURL?: string;
    /** Tried in turn; a certificate carried in the message itself is never trusted. */
    certificates: readonly IdpCertificate[];
  };
  nameIDPolicy?: { format?: NameIDFormat; allowCreate?: boolean };
  authnContext?: { classRefs: readonly string[]; comparison?: 'exact' | 'minimum' | 'maximum' | 'better' };
  forceAuthn: boolean;
  isPassive: boolean;
  /** The SP's own signing key (saml.sp.signingKeySecretRef): logout messages are signed with it, AuthnRequests with signAuthnRequests. */
  spSigning?: SpSigningKey;
  /** The next SP signing key (saml.sp.nextSigningKeySecretRef): published in the SP metadata beside the current one, never used to sign. */
  spSigningNext?: SpSigningKey;
  signAuthnRequests: boolean;
  /**
   * Encrypted assertions: None refuses them, Optional accepts plain and
   * encrypted, Required refuses plain. `keys`: the SP encryption keys
   * (current first, then the next during a rotation), tried in turn and
   * published in the SP metadata. `allowLegacy`: AES-CBC and RSA-1_5 too.
   */
  encryption: { mode: 'None' | 'Optional' | 'Required'; keys: readonly SpSigningKey[]; allowLegacy: boolean };
  acsParameterStyle: 'RelayState' | 'Query';
  accountID?: string;
  security: {
    requireSignedAssertions: boolean;
    allowSHA1: boolean;
    maxResponseBytes: number;
  };
  clockSkewSeconds: number;
  idpInitiated: { enabled: boolean; redirectPath?: string };
  /** Attribute whose value identifies the user; undefined = the NameID. */
  userIdentityAttribute?: string;
  /** Attribute whose values are the user's IdP groups (saml.groupsAttribute). */
  groupsAttribute?: string;
}

/** Reason codes shared by the HTTP log line, the metric `reason` label and conditions. */
export type SamlReason =
  | 'ResponseTooLarge'
  | 'MalformedResponse'
  | 'DoctypeForbidden'
  | 'SignatureMissing'
  | 'SignatureInvalid'
  | 'CertificateNotTrusted'
  | 'WeakAlgorithm'
  | 'AssertionNotSigned'
  | 'AssertionCountInvalid'
  | 'EncryptedAssertionUnsupported'
  | 'AssertionNotEncrypted'
  | 'EncryptedAssertionInvalid'
  | 'EncryptionAlgorithmNotAllowed'
  | 'EncryptedIDUnsupported'
  | 'EncryptedAttributeUnsupported'
  | 'IssuerMismatch'
  | 'AudienceMismatch'
  | 'DestinationMismatch'
  | 'RecipientMismatch'
  | 'SubjectConfirmationInvalid'
  | 'AssertionNotYetValid'
  | 'AssertionExpired'
  /**
   * Conditions holds an element or attribute this SP does not understand (a
   * custom saml:Condition, anything else): SAML core 2.5.1.1 makes the
   * assertion indeterminate, which must be rejected like an invalid one.
   */
  | 'ConditionNotUnderstood'
  /**
   * The assertion carries no AuthnStatement, so it does not say that the
   * user authenticated to the IdP (Web Browser SSO profile 4.1.4.2).
   */
  | 'AuthnStatementMissing'
  | 'StatusNotSuccess'
  | 'InResponseToMismatch'
  | 'UnsolicitedResponseRefused'
  | 'ReplayDetected'
  | 'IdentityMissing'
  | 'IdentityAmbiguous';

/** Reason codes of the single-logout messages (src/saml/logout.ts). */
export type LogoutReason =
  | 'LogoutMessageTooLarge'
  | 'MalformedLogoutMessage'
  | 'DoctypeForbidden'
  | 'SignatureMissing'
  | 'SignatureInvalid'
  | 'CertificateNotTrusted'
  | 'WeakAlgorithm'
  | 'IssuerMismatch'
  | 'DestinationMismatch'
  | 'LogoutRequestExpired'
  | 'LogoutRequestNotYetValid'
  | 'NameIDMissing'
  | 'EncryptedIDUnsupported'
  | 'InResponseToMismatch'
  | 'ReplayDetected';

export interface TrailEntry {
  check: string;
  ok: boolean;
  detail?: string;
}

export interface ValidatedAssertion {
  id: string;
  issuer: string;
  nameID: string;
  nameIDFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
  /** Attribute name -> values, read only from the signed assertion. */
  attributes: Record<string, string[]>;
  /** The user identity: the NameID or the configured attribute's first value. */
  identity: string;
  inResponseTo?: string;
  /** Epoch seconds: the earliest of the bearer NotOnOrAfter / Conditions NotOnOrAfter. */
  notOnOrAfter: number;
  /** Epoch seconds from AuthnStatement/@SessionNotOnOrAfter, if any. */
  sessionNotOnOrAfter?: number;
}

export type ValidationResult =
  | { ok: true; assertion: ValidatedAssertion; trail: TrailEntry[] }
  | { ok: false; reason: SamlReason; status: 400 | 401 | 413; message: string; trail: TrailEntry[] };

/** Remembers assertion IDs until they expire; Redis-backed later for several replicas. */
export interface ReplayCache {
  /** true if the id was not seen before (and is now remembered until expiresAt, epoch seconds). */
  remember(id: string, expiresAt: number): Promise<boolean>;
}

export interface ValidateInput {
  /** The form field SAMLResponse as received (base64). */
  samlResponse: string;
  /**
   * The AuthnRequest id this response must answer (from the state cookie), or
   * null when no login is pending: then the response is unsolicited.
   */
  expectedInResponseTo: string | null;
  now: Date;
  replay: ReplayCache;
}
