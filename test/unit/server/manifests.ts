// SsoConnector and UserBinding manifests for the server tests, as plain
// objects that go through the real admission (schema + CEL) before the store.

import { IDP_ENTITY_ID, IDP_SSO_URL } from '../../support/saml-fixtures.ts';

export interface ConnectorOptions {
  namespace?: string;
  enabled?: boolean;
  stage?: 'Production' | 'Provisioning';
  ttl?: string;
  reference?: string;
  ssoBinding?: 'HTTPRedirect' | 'HTTPPost';
  acsParameterStyle?: 'RelayState' | 'Query';
  maxResponseBytes?: number;
  idpInitiated?: { enabled: boolean; redirectPath?: string };
  /** Inline PEM (default: the harness IdP certificate) or a Secret reference. */
  certificate?: { pem: string } | { secretRef: { name: string; key: string } };
  userIdentityAttribute?: string;
  /** saml.idp.sloURL: the IdP's single-logout endpoint. */
  sloURL?: string;
}

export function connectorManifest(name: string, pem: string, o: ConnectorOptions = {}): Record<string, unknown> {
  const saml: Record<string, unknown> = {
    idp: {
      entityID: IDP_ENTITY_ID,
      ssoURL: IDP_SSO_URL,
      ssoBinding: o.ssoBinding ?? 'HTTPRedirect',
      certificates: [o.certificate ?? { pem }],
      ...(o.sloURL ? { sloURL: o.sloURL } : {}),
    },
  };
  if (o.acsParameterStyle) saml.sp = { acsParameterStyle: o.acsParameterStyle };
  if (o.maxResponseBytes !== undefined) saml.security = { maxResponseBytes: o.maxResponseBytes };
  if (o.idpInitiated) saml.idpInitiated = o.idpInitiated;
  if (o.userIdentityAttribute) saml.userIdentity = { attribute: o.userIdentityAttribute };
  const spec: Record<string, unknown> = { protocol: 'SAML2', displayName: `Connector ${name}`, saml };
  if (o.enabled !== undefined) spec.enabled = o.enabled;
  if (o.stage) spec.stage = o.stage;
  if (o.ttl) spec.session = { ttl: o.ttl };
  if (o.reference) spec.reference = o.reference;
  return {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'SsoConnector',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec,
  };
}

export interface BindingOptions {
  namespace?: string;
  groups?: string[];
  approval?: 'Approved' | 'Pending' | 'Denied';
}

export function bindingManifest(name: string, user: string, connectors: string[], o: BindingOptions = {}): Record<string, unknown> {
  const spec: Record<string, unknown> = { user, connectors };
  if (o.groups) spec.groups = o.groups;
  if (o.approval) spec.approval = o.approval;
  return {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec,
  };
}
