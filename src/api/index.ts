// Resource model for sso.operator.dev/v1alpha1: one TypeBox source for the
// TypeScript types, admission (ajv + CEL) and the generated CRDs.

export {
  API_GROUP,
  API_VERSION,
  GROUP_VERSION,
  normaliseFingerprint,
  parseDuration,
  type AdmissionError,
  type CelRule,
  type Condition,
  type ObjectMeta,
  type SecretKeySelector,
} from './common.ts';
export { SsoConnector, SsoConnectorSpec, SsoConnectorStatus, PROTOCOLS } from './connector.ts';
export { UserBinding, UserBindingSpec, UserBindingStatus } from './binding.ts';
export { Secret, ConfigMap } from './core.ts';
export { admit, type AdmissionResult, type KnownObject } from './admission.ts';
export { collectRules, evaluateRule, type CollectedRule } from './cel.ts';
export { renderCrds } from './crd.ts';
