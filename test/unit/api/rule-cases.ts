// Cases for the CRD's cross-field (CEL) rules, as whole manifests: the unit
// tests run them through standalone admission (@bufbuild/cel), and an
// integration test can apply the same manifests to a real kube-apiserver,
// so both enforcements are held to one table.

export type Manifest = Record<string, any>;

export function validConnector(): Manifest {
  return {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'SsoConnector',
    metadata: { name: 'okta', namespace: 'team-a' },
    spec: {
      protocol: 'SAML2',
      saml: {
        idp: {
          entityID: 'http://www.okta.com/exk123',
          ssoURL: 'https://example.okta.com/app/exk123/sso/saml',
          certificates: [{ secretRef: { name: 'okta-idp', key: 'tls.crt' } }],
        },
      },
    },
  };
}

export interface RuleCase {
  name: string;
  mutate: (m: Manifest) => void;
  /** undefined: accepted; otherwise the path of the RuleViolation expected. */
  rejectAt?: string;
}

const initiated = (redirectPath: string) => (m: Manifest) => {
  m.spec.saml.idpInitiated = { enabled: true, redirectPath };
};

export const RULE_CASES: RuleCase[] = [
  { name: 'valid connector', mutate: () => {} },
  { name: 'SAML2 without saml block', mutate: (m) => delete m.spec.saml, rejectAt: '$.spec.saml' },
  { name: 'relative redirectPath', mutate: initiated('/apps/portal?x=1') },
  { name: 'root redirectPath', mutate: initiated('/') },
  { name: 'absolute https redirectPath', mutate: initiated('https://evil.example/'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  { name: 'scheme-relative //host redirectPath', mutate: initiated('//evil.example/x'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  { name: 'javascript: redirectPath', mutate: initiated('javascript:alert(1)'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  { name: 'relative without leading slash', mutate: initiated('app'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  { name: 'backslash redirectPath', mutate: initiated('/\\evil.example'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  { name: 'tab redirectPath (/<TAB>/host)', mutate: initiated('/\t/evil.example'), rejectAt: '$.spec.saml.idpInitiated.redirectPath' },
  {
    name: 'idpInitiated enabled without redirectPath',
    mutate: (m) => (m.spec.saml.idpInitiated = { enabled: true }),
    rejectAt: '$.spec.saml.idpInitiated.redirectPath',
  },
  { name: 'idpInitiated disabled without redirectPath', mutate: (m) => (m.spec.saml.idpInitiated = { enabled: false }) },
  { name: 'certificate with pem only', mutate: (m) => (m.spec.saml.idp.certificates = [{ pem: '-----BEGIN CERTIFICATE-----' }]) },
  {
    name: 'certificate with both secretRef and pem',
    mutate: (m) => (m.spec.saml.idp.certificates = [{ secretRef: { name: 's', key: 'k' }, pem: 'x' }]),
    rejectAt: '$.spec.saml.idp.certificates[0]',
  },
  {
    name: 'certificate with neither secretRef nor pem',
    mutate: (m) => (m.spec.saml.idp.certificates = [{ pem: 'x' }, {}]),
    rejectAt: '$.spec.saml.idp.certificates[1]',
  },
  {
    name: 'forceAuthn and isPassive',
    mutate: (m) => (m.spec.saml.sp = { forceAuthn: true, isPassive: true }),
    rejectAt: '$.spec.saml.sp.isPassive',
  },
  { name: 'forceAuthn alone', mutate: (m) => (m.spec.saml.sp = { forceAuthn: true }) },
  {
    name: 'signAuthnRequests without a signing key',
    mutate: (m) => (m.spec.saml.sp = { signAuthnRequests: true }),
    rejectAt: '$.spec.saml.sp.signingKeySecretRef',
  },
  { name: 'signAuthnRequests with a signing key', mutate: (m) => (m.spec.saml.sp = { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } }) },
  { name: 'a signing key for logout messages only', mutate: (m) => (m.spec.saml.sp = { signingKeySecretRef: { name: 'sp-signing' } }) },
  { name: 'zero session ttl', mutate: (m) => (m.spec.session = { ttl: '0s' }), rejectAt: '$.spec.session.ttl' },
  { name: 'session ttl 1h30m', mutate: (m) => (m.spec.session = { ttl: '1h30m' }) },
];
