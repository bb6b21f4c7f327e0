// SsoConnector: one identity-provider registration (DESIGN.md section 1).
// Only fields whose behaviour ships are declared here.

import { Type, type Static } from '@sinclair/typebox';
import {
  Conditions,
  Dns1123Subdomain,
  Duration,
  FINGERPRINT_PATTERN,
  GROUP_VERSION,
  HttpURL,
  ObjectMeta,
  REFERENCE_PATTERN,
  SecretKeySelector,
  StringEnum,
  type CelRule,
} from './common.ts';
import { OAUTH2_PROVIDERS } from '../oidc/oauth2-presets.ts';

const rules = (...r: CelRule[]) => ({ 'x-kubernetes-validations': r });

export const PROTOCOLS = ['SAML2', 'OIDC', 'OAuth2'] as const;

const IdpCertificate = Type.Object(
  {
    secretRef: Type.Optional(SecretKeySelector),
    pem: Type.Optional(
      Type.String({
        description: 'Inline PEM; may hold several certificates.',
        minLength: 1,
        maxLength: 262144,
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'An IdP signing certificate: a Secret key holding PEM, or inline PEM. Exactly one of the two.',
    ...rules({ rule: 'has(self.secretRef) != has(self.pem)', message: 'exactly one of secretRef or pem must be set' }),
  },
);

/** https, or http on a loopback host (a provider on the same machine, tests). */
const SECURE_URL_RULE: CelRule = {
  rule: "self.startsWith('https://') || self.matches('^http://(127\\\\.0\\\\.0\\\\.1|localhost|\\\\[::1\\\\])(:[0-9]+)?(/.*)?$')",
  message: 'must be an https:// URL (http:// only on 127.0.0.1, localhost or [::1])',
};

const ConfigMapKeySelector = Type.Object(
  {
    name: Dns1123Subdomain('Name of a ConfigMap in the same namespace.'),
    key: Type.String({
      description: 'Key inside the ConfigMap.',
      minLength: 1,
      maxLength: 253,
      pattern: '^[-._a-zA-Z0-9]+$',
      errorMessage: "must consist of alphanumeric characters, '-', '_' or '.'",
    }),
  },
  { additionalProperties: false, description: 'A key of a ConfigMap in the same namespace.' },
);

const IdpMetadataSource = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        description:
          "The IdP's metadata discovery endpoint: fetched and refreshed in reconcile (never on a sign-in), every refreshInterval or sooner when the document's cacheDuration or validUntil says so; the last good copy is kept while the IdP is down or answers with an invalid document.",
        minLength: 1,
        maxLength: 2048,
        ...rules(SECURE_URL_RULE),
      }),
    ),
    configMapRef: Type.Optional(ConfigMapKeySelector),
    secretRef: Type.Optional(SecretKeySelector),
    refreshInterval: Type.Optional(Duration('How often the metadata url is fetched again (default 1h).')),
    signingCertificates: Type.Optional(
      Type.Array(IdpCertificate, {
        description:
          'Certificates that sign the metadata document (a federation or the IdP itself): when given, a document not signed by one of them is refused. Without them an unsigned document is accepted, and the MetadataUnsigned condition says so.',
        minItems: 1,
        maxItems: 16,
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "The IdP's SAML metadata: an uploaded file (configMapRef or secretRef) or its discovery endpoint (url). It fills entityID, ssoURL and ssoBinding, sloURL, the signing certificates (every one published, so an announced next key works at once) and the NameID format; fields given in idp override it.",
    ...rules(
      {
        rule: '(has(self.url) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1',
        message: 'exactly one of url, configMapRef or secretRef must be set',
      },
      { rule: '!has(self.refreshInterval) || has(self.url)', message: 'refreshInterval applies to url only', fieldPath: '.refreshInterval' },
      {
        rule: "!has(self.refreshInterval) || duration(self.refreshInterval) >= duration('5s')",
        message: 'refreshInterval must be at least 5s',
        fieldPath: '.refreshInterval',
      },
    ),
  },
);

const SamlIdp = Type.Object(
  {
    entityID: Type.Optional(Type.String({ description: 'IdP issuer (EntityID); from metadata when absent; picks the entity of an aggregate metadata document.', minLength: 1, maxLength: 1024 })),
    ssoURL: Type.Optional(HttpURL('Where AuthnRequests are sent (SAML login endpoint); from metadata when absent.')),
    ssoBinding: Type.Optional(
      StringEnum(['HTTPRedirect', 'HTTPPost'] as const, {
        description: 'How AuthnRequests are sent: HTTPRedirect or HTTPPost (default HTTPRedirect, or the binding of the metadata endpoint).',
      }),
    ),
    sloURL: Type.Optional(HttpURL('IdP single-logout endpoint; from metadata when absent.')),
    certificates: Type.Optional(
      Type.Array(IdpCertificate, {
        description: 'Certificates the IdP signs with; each is tried in turn, so listing an additional one allows seamless rotation. From metadata when absent.',
        minItems: 1,
        maxItems: 16,
      }),
    ),
    metadata: Type.Optional(IdpMetadataSource),
    fingerprints: Type.Optional(
      Type.Array(
        Type.String({
          pattern: FINGERPRINT_PATTERN,
          maxLength: 102,
          errorMessage: 'must be sha256: followed by 64 hex digits (colons and upper case allowed)',
        }),
        {
          description: 'Optional pins: a certificate (given or from metadata) is trusted only if its SHA-256 fingerprint (sha256:<hex>) is listed.',
          maxItems: 16,
          'x-kubernetes-list-type': 'set',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'The identity provider.',
    ...rules({
      rule: 'has(self.metadata) || (has(self.entityID) && has(self.ssoURL) && has(self.certificates))',
      message: 'give entityID, ssoURL and certificates, or metadata to fill them',
      reason: 'FieldValueRequired',
    }),
  },
);

const SamlSecurity = Type.Object(
  {
    requireSignedAssertions: Type.Optional(
      Type.Boolean({
        description: 'Require a signature on each Assertion; false also accepts a signature on the Response alone.',
        default: true,
      }),
    ),
    allowSHA1: Type.Optional(Type.Boolean({ description: 'Accept SHA-1 signatures.', default: false })),
    allowLegacyEncryption: Type.Optional(
      Type.Boolean({
        description:
          'Accept assertions encrypted with AES-CBC content encryption or RSA-1_5 key transport (for a legacy IdP; both are open to padding-oracle attacks). Shown as the LegacyEncryptionAllowed condition.',
        default: false,
      }),
    ),
    maxResponseBytes: Type.Optional(
      Type.Integer({
        description: 'Largest SAMLResponse accepted, in bytes (decoded).',
        format: 'int64',
        default: 262144,
        minimum: 1024,
        maximum: 10485760,
      }),
    ),
  },
  { additionalProperties: false, description: 'Response validation policy.', default: {} },
);

const SamlSp = Type.Object(
  {
    entityID: Type.Optional(
      Type.String({
        description: 'SP EntityID; defaults to {publicURL}/saml/{namespace}/{name}/metadata.',
        minLength: 1,
        maxLength: 1024,
      }),
    ),
    nameIDPolicy: Type.Optional(
      Type.Object(
        {
          format: StringEnum(['EmailAddress', 'Unspecified', 'Persistent', 'Transient'] as const, {
            description: 'Requested NameID format.',
          }),
          allowCreate: Type.Optional(Type.Boolean({ description: 'Let the IdP create a new identifier for the user.' })),
        },
        { additionalProperties: false, description: 'NameIDPolicy sent in the AuthnRequest.' },
      ),
    ),
    authnContext: Type.Optional(
      Type.Object(
        {
          classRefs: Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
            description: 'AuthnContextClassRef values requested.',
            minItems: 1,
            maxItems: 16,
          }),
          comparison: Type.Optional(
            StringEnum(['exact', 'minimum', 'maximum', 'better'] as const, {
              description: 'How the IdP compares the classRefs.',
              default: 'exact',
            }),
          ),
        },
        { additionalProperties: false, description: 'RequestedAuthnContext; absent means none is sent.' },
      ),
    ),
    acsParameterStyle: Type.Optional(
      StringEnum(['RelayState', 'Query'] as const, {
        description:
          'How the login state travels to the ACS: RelayState, or Query (an s=<state id> parameter on the AssertionConsumerServiceURL, for IdPs that drop RelayState).',
        default: 'RelayState',
      }),
    ),
    forceAuthn: Type.Optional(Type.Boolean({ description: 'Ask the IdP to authenticate the user afresh.', default: false })),
    isPassive: Type.Optional(Type.Boolean({ description: 'Ask the IdP not to interact with the user.', default: false })),
    signingKeySecretRef: Type.Optional(
      Type.Object(
        { name: Dns1123Subdomain('Name of a kubernetes.io/tls Secret in the same namespace (keys tls.key and tls.crt).') },
        {
          additionalProperties: false,
          description:
            'The SP signing key: logout messages are signed with it, AuthnRequests too with signAuthnRequests, and its certificate is published in the SP metadata. RSA (2048 bits or more) or EC P-256/384/521.',
        },
      ),
    ),
    nextSigningKeySecretRef: Type.Optional(
      Type.Object(
        { name: Dns1123Subdomain('Name of a kubernetes.io/tls Secret in the same namespace (keys tls.key and tls.crt).') },
        {
          additionalProperties: false,
          description:
            'The next SP signing key, during a rotation: its certificate is published in the SP metadata beside the current one (never used to sign), so IdPs that read the metadata trust it first; then make it signingKeySecretRef.',
        },
      ),
    ),
    signAuthnRequests: Type.Optional(
      Type.Boolean({ description: 'Sign AuthnRequests with the key of signingKeySecretRef (AuthnRequestsSigned in the SP metadata).', default: false }),
    ),
    encryptionKeySecretRef: Type.Optional(
      Type.Object(
        { name: Dns1123Subdomain('Name of a kubernetes.io/tls Secret in the same namespace (keys tls.key and tls.crt).') },
        {
          additionalProperties: false,
          description:
            'The SP encryption key (RSA, 2048 bits or more): the IdP encrypts assertions to its certificate, published in the SP metadata as KeyDescriptor use="encryption".',
        },
      ),
    ),
    nextEncryptionKeySecretRef: Type.Optional(
      Type.Object(
        { name: Dns1123Subdomain('Name of a kubernetes.io/tls Secret in the same namespace (keys tls.key and tls.crt).') },
        {
          additionalProperties: false,
          description:
            'The next SP encryption key, during a rotation: published in the SP metadata beside the current one and tried in turn, so the IdP may switch to it at any time; then make it encryptionKeySecretRef.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'This service provider, as the IdP sees it.',
    default: {},
    ...rules(
      {
        rule: '!(has(self.forceAuthn) && self.forceAuthn && has(self.isPassive) && self.isPassive)',
        message: 'forceAuthn and isPassive cannot both be true',
        reason: 'FieldValueForbidden',
        fieldPath: '.isPassive',
      },
      {
        rule: '!has(self.signAuthnRequests) || !self.signAuthnRequests || has(self.signingKeySecretRef)',
        message: 'signAuthnRequests needs signingKeySecretRef',
        reason: 'FieldValueRequired',
        fieldPath: '.signingKeySecretRef',
      },
      {
        rule: '!has(self.nextSigningKeySecretRef) || has(self.signingKeySecretRef)',
        message: 'nextSigningKeySecretRef needs signingKeySecretRef',
        reason: 'FieldValueRequired',
        fieldPath: '.signingKeySecretRef',
      },
      {
        rule: '!has(self.nextEncryptionKeySecretRef) || has(self.encryptionKeySecretRef)',
        message: 'nextEncryptionKeySecretRef needs encryptionKeySecretRef',
        reason: 'FieldValueRequired',
        fieldPath: '.encryptionKeySecretRef',
      },
    ),
  },
);

const RedirectPath = Type.String({
  description: 'Where users land after an unsolicited (IdP-initiated) login: a relative path such as /app.',
  minLength: 1,
  maxLength: 2048,
  ...rules(
    {
      rule: "self.startsWith('/') && !self.startsWith('//')",
      message: "must be a relative path starting with a single '/' (an absolute URL or //host is not allowed)",
    },
    { rule: "!self.contains('\\\\')", message: 'must not contain a backslash' },
    { rule: "!self.matches('[\\\\x00-\\\\x20\\\\x7f]')", message: 'must not contain spaces or control characters' },
  ),
});

const IdpInitiated = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Accept unsolicited responses.', default: false })),
    redirectPath: Type.Optional(RedirectPath),
  },
  {
    additionalProperties: false,
    description: 'IdP-initiated sessions.',
    default: {},
    ...rules({
      rule: '!has(self.enabled) || !self.enabled || has(self.redirectPath)',
      message: 'redirectPath is required when enabled is true',
      reason: 'FieldValueRequired',
      fieldPath: '.redirectPath',
    }),
  },
);

const Saml = Type.Object(
  {
    idp: SamlIdp,
    security: Type.Optional(SamlSecurity),
    sp: Type.Optional(SamlSp),
    encryption: Type.Optional(
      StringEnum(['None', 'Optional', 'Required'] as const, {
        description:
          'Encrypted assertions (the "Encrypted SAML 2.0" method): None refuses them; Optional accepts plain and encrypted ones; Required refuses a plain assertion. Optional and Required need sp.encryptionKeySecretRef.',
        default: 'None',
      }),
    ),
    clockSkew: Type.Optional(Duration('Tolerance for IdP clock differences.', '60s')),
    userIdentity: Type.Optional(
      Type.Object(
        {
          attribute: Type.String({
            description: 'Attribute whose value identifies the user (default: the NameID); matched against UserBinding spec.user.',
            minLength: 1,
            maxLength: 1024,
          }),
        },
        { additionalProperties: false, description: 'Which part of the assertion identifies the user.' },
      ),
    ),
    groupsAttribute: Type.Optional(
      Type.String({
        description:
          "Attribute whose values are the user's groups at the IdP: handed to applications beside the binding's groups (X-Auth-Request-Groups), and matched against access.allowedIdPGroups.",
        minLength: 1,
        maxLength: 1024,
      }),
    ),
    idpInitiated: Type.Optional(IdpInitiated),
    accountID: Type.Optional(
      Type.String({
        description: 'Tenant hint appended as idptoken=<accountID> to the IdP login URL.',
        minLength: 1,
        maxLength: 256,
        pattern: REFERENCE_PATTERN,
        errorMessage: "must consist of letters, digits and '_', '.', '+', '@', '-'",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'SAML 2.0 settings; required when protocol is SAML2.',
    ...rules({
      rule: "!has(self.encryption) || self.encryption == 'None' || (has(self.sp) && has(self.sp.encryptionKeySecretRef))",
      message: 'encryption Optional or Required needs sp.encryptionKeySecretRef',
      reason: 'FieldValueRequired',
      fieldPath: '.sp.encryptionKeySecretRef',
    }),
  },
);


/** Authorize parameters an admin may add; the ones the flow itself sets (state, nonce, PKCE, redirect_uri, ...) are never among them. */
export const OIDC_AUTHORIZE_PARAMETERS = ['prompt', 'acr_values', 'login_hint', 'max_age', 'ui_locales', 'display', 'hd', 'domain_hint', 'organization', 'resource', 'audience', 'access_type'] as const;

const Oidc = Type.Object(
  {
    issuer: Type.String({
      description: 'The OpenID Provider issuer; its discovery document ({issuer}/.well-known/openid-configuration) is fetched and refreshed in reconcile, never on a sign-in.',
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://[^\\s]+$',
      errorMessage: 'must be an absolute http:// or https:// URL',
      ...rules(SECURE_URL_RULE, { rule: "!self.contains('/.well-known/')", message: 'must be the issuer itself, not its discovery document' }),
    }),
    clientID: Type.String({ description: 'The client_id registered at the provider.', minLength: 1, maxLength: 1024 }),
    clientSecretRef: Type.Optional(SecretKeySelector),
    privateKeyJWTSecretRef: Type.Optional(
      Type.Object(
        { name: Dns1123Subdomain('Name of a kubernetes.io/tls Secret in the same namespace (keys tls.key and tls.crt).') },
        {
          additionalProperties: false,
          description:
            'Authenticate to the token endpoint with private_key_jwt instead of a client secret: RSA (2048 bits or more, RS256) or EC P-256/384/521 (ES256/384/512). Register its certificate (or its public key, kid in status.clientKeyID) at the provider.',
        },
      ),
    ),
    scopes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$', errorMessage: 'must be a scope token (printable, no spaces, quotes or backslashes)' }), {
        description: 'Scopes requested; openid must be among them.',
        default: ['openid', 'email', 'profile'],
        minItems: 1,
        maxItems: 32,
        'x-kubernetes-list-type': 'set',
        ...rules({ rule: "self.exists(s, s == 'openid')", message: 'must include openid' }),
      }),
    ),
    claims: Type.Optional(
      Type.Object(
        {
          username: Type.Optional(
            Type.String({
              description: 'The ID token claim that identifies the user, matched against UserBinding spec.user. With email (the default), email_verified must be true.',
              minLength: 1,
              maxLength: 256,
              default: 'email',
            }),
          ),
          groups: Type.Optional(Type.String({ description: 'The ID token claim holding the user\'s groups at the provider (recorded in the login log).', minLength: 1, maxLength: 256 })),
        },
        { additionalProperties: false, description: 'Which claims identify the user.', default: {} },
      ),
    ),
    authorizeParameters: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: StringEnum(OIDC_AUTHORIZE_PARAMETERS, { description: 'Parameter name.' }),
            value: Type.String({ description: 'Parameter value.', minLength: 1, maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        {
          description: 'Extra parameters of the authorization request (prompt, acr_values, login_hint, tenant hints such as hd or domain_hint).',
          maxItems: 16,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
        },
      ),
    ),
    clockSkew: Type.Optional({
      ...Duration('Tolerance for provider clock differences when checking ID token times (at most 5m).', '60s'),
      ...rules({ rule: "duration(self) <= duration('5m')", message: 'must be at most 5m: a larger tolerance would let expired ID tokens through' }),
    }),
    idTokenSigningAlgorithm: Type.Optional(
      StringEnum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const, {
        description: 'The one algorithm the provider signs ID tokens with (asymmetric only).',
        default: 'RS256',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'OpenID Connect settings; required when protocol is OIDC.',
    ...rules({ rule: 'has(self.clientSecretRef) != has(self.privateKeyJWTSecretRef)', message: 'exactly one of clientSecretRef or privateKeyJWTSecretRef must be set' }),
  },
);

const SecureURL = (description: string) =>
  Type.String({ description, minLength: 1, maxLength: 2048, pattern: '^https?://[^\\s]+$', errorMessage: 'must be an absolute http:// or https:// URL', ...rules(SECURE_URL_RULE) });

const OAuth2 = Type.Object(
  {
    provider: Type.Optional(
      StringEnum(OAUTH2_PROVIDERS, {
        description: 'The authentication method: a provider preset (endpoints, scopes and identity field filled in), or Generic with all of them given.',
        default: 'Generic',
      }),
    ),
    host: Type.Optional(
      Type.String({
        description: 'Salesforce: login.salesforce.com (default), test.salesforce.com or the My Domain host; Zoho: the data-centre accounts host (default accounts.zoho.com).',
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$',
        errorMessage: 'must be a host name',
      }),
    ),
    subdomain: Type.Optional(
      Type.String({ description: 'Zendesk: the account subdomain ({subdomain}.zendesk.com).', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', errorMessage: 'must be a DNS label' }),
    ),
    authorizationURL: Type.Optional(SecureURL('Authorization endpoint (overrides the preset).')),
    tokenURL: Type.Optional(SecureURL('Token endpoint (overrides the preset).')),
    userinfoURL: Type.Optional(SecureURL('Where the user is read with the access token (overrides the preset).')),
    revocationURL: Type.Optional(
      SecureURL('RFC 7009 token revocation endpoint (overrides the preset): with session.passAccessToken, logout revokes the tokens there.'),
    ),
    identityField: Type.Optional(
      Type.String({ description: 'Dotted path into the user-info answer that identifies the user, matched against UserBinding spec.user (e.g. email, user.email).', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$', errorMessage: 'must be a dotted path such as user.email' }),
    ),
    clientID: Type.String({ description: 'The client_id registered at the provider.', minLength: 1, maxLength: 1024 }),
    clientSecretRef: SecretKeySelector,
    scopes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$', errorMessage: 'must be a scope token (printable, no spaces, quotes or backslashes)' }), {
        description: 'Scopes requested (default: the preset\'s).',
        maxItems: 32,
        'x-kubernetes-list-type': 'set',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'OAuth 2 settings without OpenID Connect; required when protocol is OAuth2.',
    ...rules(
      {
        rule: "(has(self.provider) && self.provider != 'Generic') || (has(self.authorizationURL) && has(self.tokenURL) && has(self.userinfoURL) && has(self.identityField))",
        message: 'Generic needs authorizationURL, tokenURL, userinfoURL and identityField',
      },
      { rule: "!has(self.provider) || self.provider != 'Zendesk' || has(self.subdomain)", message: 'Zendesk needs subdomain' },
    ),
  },
);

export const SsoConnectorSpec = Type.Object(
  {
    displayName: Type.Optional(Type.String({ description: 'Human name of the connector.', maxLength: 256 })),
    description: Type.Optional(Type.String({ description: 'Free-form notes.', maxLength: 4096 })),
    reference: Type.Optional(
      Type.String({
        description: 'Optional external identifier, unique per namespace; shown in lists, logs and status.',
        minLength: 1,
        maxLength: 256,
        pattern: REFERENCE_PATTERN,
        errorMessage: "must consist of letters, digits and '_', '.', '+', '@', '-'",
      }),
    ),
    enabled: Type.Optional(
      Type.Boolean({ description: 'false turns SSO off: all routes of this connector answer 404.', default: true }),
    ),
    stage: Type.Optional(
      StringEnum(['Production', 'Provisioning'] as const, {
        description: 'Production logs one line per attempt; Provisioning adds the decision trail and attributes received.',
        default: 'Production',
      }),
    ),
    protocol: StringEnum(PROTOCOLS, { description: 'Sign-in protocol; exactly the matching block (saml, oidc or oauth2) is present.' }),
    session: Type.Optional(
      Type.Object(
        {
          ttl: Type.Optional(Duration('Session lifetime, never longer than the IdP SessionNotOnOrAfter.', '8h')),
          passAccessToken: Type.Optional(
            Type.Boolean({
              description:
                "OIDC and OAuth2: forward-auth hands the provider's access token to the application in X-Auth-Request-Access-Token; kept encrypted on the server side, refreshed with the refresh token before it expires, revoked at logout.",
              default: false,
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Sessions created by this connector.',
          default: {},
          ...rules({
            rule: "!has(self.ttl) || duration(self.ttl) > duration('0s')",
            message: 'ttl must be a positive duration',
            fieldPath: '.ttl',
          }),
        },
      ),
    ),
    saml: Type.Optional(Saml),
    oidc: Type.Optional(Oidc),
    oauth2: Type.Optional(OAuth2),
    access: Type.Optional(
      Type.Object(
        {
          admins: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
              description: 'Users who may use the admin test sign-in of this connector.',
              maxItems: 256,
              'x-kubernetes-list-type': 'set',
            }),
          ),
          allowedIdPGroups: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
              description:
                'Members of these IdP groups (saml.groupsAttribute, oidc.claims.groups) are let in without a UserBinding; their sessions record the group, and stop verifying once it leaves this list.',
              maxItems: 64,
              'x-kubernetes-list-type': 'set',
            }),
          ),
          identityExpression: Type.Optional(
            Type.String({
              description:
                "CEL expression giving the user (matched against UserBinding spec.user) from `user`, `attributes` (map of lists of strings: SAML attributes or OIDC/OAuth2 claims) and `groups`, e.g. attributes['mail'][0].lowerAscii(). Compiled when reconciled: an invalid one makes the connector Ready=False ExpressionInvalid.",
              minLength: 1,
              maxLength: 4096,
            }),
          ),
          groupsExpression: Type.Optional(
            Type.String({
              description: "CEL expression giving the IdP groups handed on (a list of strings), from the same variables, e.g. groups.filter(g, g.startsWith('app-')).",
              minLength: 1,
              maxLength: 4096,
            }),
          ),
          requests: Type.Optional(
            StringEnum(['Disabled', 'Enabled'] as const, {
              description:
                'Enabled: a user who signs in without an Active UserBinding may request access, which creates a UserBinding with approval: Pending for an administrator to approve or deny (cluster mode: on the apiserver; standalone: in --requests-dir).',
              default: 'Disabled',
            }),
          ),
        },
        { additionalProperties: false, description: 'Who may do what with this connector.' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Desired state of the connector.',
    ...rules(
      {
        rule: "self.protocol != 'SAML2' || has(self.saml)",
        message: 'saml is required when protocol is SAML2',
        reason: 'FieldValueRequired',
        fieldPath: '.saml',
      },
      {
        rule: "!has(self.saml) || self.protocol == 'SAML2'",
        message: 'saml is allowed only when protocol is SAML2',
        reason: 'FieldValueForbidden',
        fieldPath: '.saml',
      },
      {
        rule: "self.protocol != 'OIDC' || has(self.oidc)",
        message: 'oidc is required when protocol is OIDC',
        reason: 'FieldValueRequired',
        fieldPath: '.oidc',
      },
      {
        rule: "!has(self.oidc) || self.protocol == 'OIDC'",
        message: 'oidc is allowed only when protocol is OIDC',
        reason: 'FieldValueForbidden',
        fieldPath: '.oidc',
      },
      {
        rule: "self.protocol != 'OAuth2' || has(self.oauth2)",
        message: 'oauth2 is required when protocol is OAuth2',
        reason: 'FieldValueRequired',
        fieldPath: '.oauth2',
      },
      {
        rule: "!has(self.oauth2) || self.protocol == 'OAuth2'",
        message: 'oauth2 is allowed only when protocol is OAuth2',
        reason: 'FieldValueForbidden',
        fieldPath: '.oauth2',
      },
      {
        rule: "self.protocol != 'SAML2' || !has(self.session) || !has(self.session.passAccessToken) || !self.session.passAccessToken",
        message: 'session.passAccessToken needs protocol OIDC or OAuth2: a SAML IdP issues no access token',
        reason: 'FieldValueForbidden',
        fieldPath: '.session.passAccessToken',
      },
    ),
  },
);
export type SsoConnectorSpec = Static<typeof SsoConnectorSpec>;

export const SsoConnectorStatus = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The .metadata.generation this status reflects.', format: 'int64', minimum: 0 }),
    ),
    conditions: Type.Optional(Conditions),
    loginURL: Type.Optional(Type.String({ description: 'The address to hand users to sign in.' })),
    entityID: Type.Optional(Type.String({ description: 'The SP EntityID in effect.' })),
    acsURL: Type.Optional(Type.String({ description: 'Assertion Consumer Service URL.' })),
    metadataURL: Type.Optional(Type.String({ description: 'SP metadata URL.' })),
    callbackURL: Type.Optional(Type.String({ description: 'OIDC: the redirect URI to register at the provider.' })),
    logoutCallbackURL: Type.Optional(Type.String({ description: 'OIDC: the post-logout redirect URI to register at the provider (RP-initiated logout).' })),
    clientKeyID: Type.Optional(Type.String({ description: 'OIDC with private_key_jwt: the kid of the client key (its RFC 7638 thumbprint).' })),
    issuer: Type.Optional(Type.String({ description: 'OIDC: the issuer in effect.' })),
    certificates: Type.Optional(
      Type.Array(
        Type.Object(
          {
            fingerprint: Type.String({ description: 'sha256:<hex> fingerprint.' }),
            subject: Type.String({ description: 'Certificate subject.' }),
            notAfter: Type.String({ description: 'Expiry time.', format: 'date-time' }),
            source: Type.String({ description: 'Where the certificate came from.' }),
          },
          { additionalProperties: false },
        ),
        { description: 'IdP certificates currently trusted.' },
      ),
    ),
    idpMetadata: Type.Optional(
      Type.Object(
        {
          source: Type.String({ description: 'Where the IdP metadata in use came from: its url, configmap/<name>#<key> or secret/<name>#<key>.' }),
          entityID: Type.String({ description: 'The IdP entity the metadata describes.' }),
          fetchedAt: Type.Optional(Type.String({ description: 'When the copy in use was fetched (url).', format: 'date-time' })),
          validUntil: Type.Optional(Type.String({ description: 'The validUntil of the copy in use: the connector stops serving with it then.', format: 'date-time' })),
          signedBy: Type.Optional(Type.String({ description: 'sha256:<hex> fingerprint of the certificate that signed the metadata, when it was signed.' })),
          filled: Type.Array(Type.String(), { description: 'The idp fields taken from the metadata (the others were given in the spec).' }),
        },
        { additionalProperties: false, description: 'SAML: the IdP metadata in use (saml.idp.metadata).' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Observed state of the connector.' },
);
export type SsoConnectorStatus = Static<typeof SsoConnectorStatus>;

export const SsoConnector = Type.Object(
  {
    apiVersion: Type.Literal(GROUP_VERSION),
    kind: Type.Literal('SsoConnector'),
    metadata: ObjectMeta,
    spec: SsoConnectorSpec,
    status: Type.Optional(SsoConnectorStatus),
  },
  { additionalProperties: false },
);
export type SsoConnector = Static<typeof SsoConnector>;
