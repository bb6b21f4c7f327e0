// What compiling a connector is the same for, whatever its protocol: the
// Ready condition from the first failing one, and the part of the runtime
// every connector has. Used by compile-connector.ts (SAML) and
// compile-oidc.ts (OIDC, OAuth2).

import type { SsoConnector } from '../api/index.ts';
import type { SecretLookup } from './compile-connector.ts';
import type { ConditionInput } from './conditions.ts';
import type { ConnectorRuntime } from './registry.ts';

export function cond(type: string, status: ConditionInput['status'], reason: string, message: string): ConditionInput {
  return { type, status, reason, message };
}

/** Ready: False with the reason of `failing`, else True (Serving, or Disabled when spec.enabled is false). */
export function readyCondition(failing: ConditionInput | undefined, enabled: boolean, loginURL: string): ConditionInput {
  if (failing) return cond('Ready', 'False', failing.reason, failing.message);
  return enabled
    ? cond('Ready', 'True', 'Serving', `serving at ${loginURL}`)
    : cond('Ready', 'True', 'Disabled', 'SSO is off for this connector (spec.enabled is false); its routes answer 404');
}

/** The runtime fields every connector has; the protocol's own config is added by its compiler. */
export function runtimeBase(
  connector: SsoConnector,
  o: { failing: ConditionInput | undefined; protocol: ConnectorRuntime['protocol']; sessionTtlSeconds: number; loginURL: string },
): ConnectorRuntime {
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  const spec = connector.spec;
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    ...(spec.displayName !== undefined ? { displayName: spec.displayName } : {}),
    ...(spec.reference !== undefined ? { reference: spec.reference } : {}),
    ...(connector.metadata.generation !== undefined ? { generation: connector.metadata.generation } : {}),
    enabled: spec.enabled !== false,
    ready: o.failing === undefined,
    ...(o.failing ? { notReadyReason: o.failing.reason } : {}),
    stage: spec.stage ?? 'Production',
    protocol: o.protocol,
    sessionTtlSeconds: o.sessionTtlSeconds,
    // Only a protocol with an access token passes one; admission refuses it on SAML2.
    passAccessToken: o.protocol !== 'SAML2' && spec.session?.passAccessToken === true,
    admins: spec.access?.admins ?? [],
    accessRequests: spec.access?.requests === 'Enabled',
    allowedIdPGroups: spec.access?.allowedIdPGroups ?? [],
    loginURL: o.loginURL,
  };
}

/** ClientCredentialsValid for a client secret in a Secret key; the value when it is there and not empty. */
export function clientSecretCondition(secret: SecretLookup, namespace: string, ref: { name: string; key: string }): { condition: ConditionInput; value?: string } {
  const got = secret(namespace, ref.name, ref.key);
  if ('missing' in got) {
    return { condition: cond('ClientCredentialsValid', 'False', got.missing, got.missing === 'SecretNotFound' ? `Secret ${namespace}/${ref.name} not found` : `Secret ${namespace}/${ref.name} has no key ${ref.key}`) };
  }
  if (got.value.length === 0) return { condition: cond('ClientCredentialsValid', 'False', 'ClientSecretEmpty', `Secret ${namespace}/${ref.name} key ${ref.key} is empty`) };
  return { condition: cond('ClientCredentialsValid', 'True', 'SecretFound', `client secret from Secret ${namespace}/${ref.name} key ${ref.key}`), value: got.value };
}
