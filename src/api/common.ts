// Building blocks shared by the resource schemas: constants, patterns,
// ObjectMeta, metav1.Condition, and the duration / fingerprint helpers.
// Keys a schema may carry besides standard JSON Schema:
//   - `x-kubernetes-*`: copied into the CRD; CEL rules are also evaluated
//     in standalone mode (src/api/cel.ts).
//   - `errorMessage`: the human text for a pattern failure (ajv only;
//     dropped from the CRD).

import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const API_GROUP = 'sso.operator.dev' as const;
export const API_VERSION = 'v1alpha1' as const;
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}` as const;

/** A CEL rule as the apiserver takes it in `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  /** Error reason the apiserver reports (k8s >= 1.28). */
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** JSONPath relative to `self` of the field to blame, e.g. `.redirectPath`. */
  fieldPath?: string;
}

export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** Keys of Secret and ConfigMap data. */
export const CONFIG_KEY = '^[-._a-zA-Z0-9]+$';
export const REFERENCE_PATTERN = '^[A-Za-z0-9_.+@-]+$';
export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h))+$';
export const HTTP_URL_PATTERN = '^https?://[^\\s/?#]+([/?#][^\\s]*)?$';
export const FINGERPRINT_PATTERN = '^[Ss][Hh][Aa]256:([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$';

/** A string restricted to the given values (plain `enum`, which both ajv and the CRD take). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export function Duration(description: string, def?: string) {
  return Type.String({
    description: `${description} A duration such as 60s, 8h or 1h30m (units h, m, s, ms).`,
    pattern: DURATION_PATTERN,
    maxLength: 32,
    errorMessage: 'must be a duration such as 60s, 8h or 1h30m (units h, m, s, ms)',
    ...(def !== undefined ? { default: def } : {}),
  });
}

export function HttpURL(description: string) {
  return Type.String({
    description,
    pattern: HTTP_URL_PATTERN,
    maxLength: 2048,
    errorMessage: 'must be an absolute http:// or https:// URL',
  });
}

export function Dns1123Subdomain(description: string) {
  return Type.String({
    description,
    minLength: 1,
    maxLength: 253,
    pattern: DNS1123_SUBDOMAIN,
    errorMessage: "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', starting and ending with an alphanumeric character",
  });
}

/** `{name, key}` of a Secret in the same namespace. */
export const SecretKeySelector = Type.Object(
  {
    name: Dns1123Subdomain('Name of a Secret in the same namespace.'),
    key: Type.String({
      description: 'Key inside the Secret.',
      minLength: 1,
      maxLength: 253,
      pattern: CONFIG_KEY,
      errorMessage: "must consist of alphanumeric characters, '-', '_' or '.'",
    }),
  },
  { additionalProperties: false, description: 'A key of a Secret in the same namespace.' },
);
export type SecretKeySelector = Static<typeof SecretKeySelector>;

const StringMap = Type.Record(Type.String(), Type.String());

/**
 * The metadata admission checks. Other ObjectMeta fields (uid, managedFields,
 * ownerReferences, ...) pass through untouched. `namespace` is filled with
 * `default` before validation when absent, so it is always present after.
 */
export const ObjectMeta = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: DNS1123_SUBDOMAIN,
      errorMessage: "must be a lowercase RFC 1123 subdomain (at most 253 characters of a-z, 0-9, '-' and '.', starting and ending with an alphanumeric character)",
    }),
    namespace: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: DNS1123_LABEL,
      errorMessage: "must be a lowercase RFC 1123 label (at most 63 characters of a-z, 0-9 and '-', starting and ending with an alphanumeric character)",
    }),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Type.String()),
    deletionTimestamp: Type.Optional(Type.String()),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
  },
  { additionalProperties: true },
);
export type ObjectMeta = Static<typeof ObjectMeta>;

/** metav1.Condition, as the apiserver's own types declare it. */
export const Condition = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition in CamelCase, e.g. Ready.',
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition: True, False or Unknown.' }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The .metadata.generation the condition was set from.', format: 'int64', minimum: 0 }),
    ),
    lastTransitionTime: Type.String({ description: 'When the condition last changed status.', format: 'date-time' }),
    reason: Type.String({
      description: 'Machine-readable CamelCase reason for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({ description: 'Human-readable details about the transition.', maxLength: 32768 }),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  description: 'Latest observations of the object state.',
  maxItems: 32,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** Returns a copy of `schema` with extra keywords (TypeBox options are plain keys). */
export function withKeys<T extends TSchema>(schema: T, keys: Record<string, unknown>): T {
  return { ...schema, ...keys };
}

const DURATION_UNITS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };

/** Seconds in a duration string such as `60s`, `8h`, `1h30m`, `500ms`; throws on anything else. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string' || !new RegExp(DURATION_PATTERN).test(s)) {
    throw new Error(`invalid duration ${JSON.stringify(s)}: expected e.g. 60s, 8h or 1h30m (units h, m, s, ms)`);
  }
  let total = 0;
  for (const m of s.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  if (!Number.isFinite(total)) throw new Error(`invalid duration ${JSON.stringify(s)}: too large`);
  // ms components add binary fractions; round to the millisecond.
  return Math.round(total * 1000) / 1000;
}

/** `sha256:` + 64 lowercase hex from any accepted spelling (colons, upper case); throws otherwise. */
export function normaliseFingerprint(fp: string): string {
  if (typeof fp !== 'string' || !new RegExp(FINGERPRINT_PATTERN).test(fp)) {
    throw new Error(`invalid fingerprint ${JSON.stringify(fp)}: expected sha256: followed by 64 hex digits`);
  }
  return `sha256:${fp.slice('sha256:'.length).replaceAll(':', '').toLowerCase()}`;
}

/** One problem with a document: where, a CamelCase reason, and a human message. */
export interface AdmissionError {
  /** JSON path such as `$.spec.saml.idp.ssoURL` or `$.spec.saml.idp.certificates[0]`; `$` is the document. */
  path: string;
  /** `SchemaViolation`, `UnknownField`, `MissingField`, `RuleViolation`, `DuplicateValue`, `UnsupportedKind`, ... */
  reason: string;
  message: string;
}

/** Appends a property name or an array index to a JSON path (`$.a.b`, `$.a[0]`, `$.data['tls.crt']`). */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${base}.${key}`;
  return `${base}['${key.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}']`;
}
