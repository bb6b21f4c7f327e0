// Manifests for controller tests, admitted by the real admission code so
// defaults are the ones users get.

import { admit, type SsoConnector, type UserBinding } from '../../../src/api/index.ts';

export function connector(name: string, spec: Record<string, unknown> = {}, saml: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): SsoConnector {
  const idp = (saml.idp as Record<string, unknown> | undefined) ?? {};
  const doc = {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'SsoConnector',
    metadata: { name, namespace: 'default', ...meta },
    spec: {
      protocol: 'SAML2',
      ...spec,
      saml: {
        ...saml,
        idp: {
          entityID: 'https://idp.example.test/metadata',
          ssoURL: 'https://idp.example.test/sso',
          certificates: [{ secretRef: { name: 'idp-cert', key: 'tls.crt' } }],
          ...idp,
        },
      },
    },
  };
  const r = admit(doc);
  if (!r.ok) throw new Error(`fixture not admitted: ${JSON.stringify(r.errors)}`);
  return r.object as SsoConnector;
}

export function binding(name: string, user: string, connectors: string[], extra: Record<string, unknown> = {}): UserBinding {
  const r = admit({
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: { name, namespace: 'default' },
    spec: { user, connectors, ...extra },
  });
  if (!r.ok) throw new Error(`fixture not admitted: ${JSON.stringify(r.errors)}`);
  return r.object as UserBinding;
}

export function secret(name: string, data: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Secret' as const,
    metadata: { name, namespace: 'default' },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}
