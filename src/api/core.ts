// Minimal core/v1 Secret and ConfigMap: just what the operator reads.

import { Type, type Static } from '@sinclair/typebox';
import { CONFIG_KEY, ObjectMeta } from './common.ts';

const KEY_NAMES = {
  minLength: 1,
  maxLength: 253,
  pattern: CONFIG_KEY,
  errorMessage: "keys must consist of alphanumeric characters, '-', '_' or '.'",
};

/** A string-to-string map whose keys are Secret/ConfigMap keys; `value` constrains the values. */
function KeyMap(value: Record<string, unknown>) {
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    propertyNames: KEY_NAMES,
    additionalProperties: { type: 'string', ...value },
  });
}

const Base64 = { format: 'byte', errorMessage: 'must be valid base64' };

export const Secret = Type.Object(
  {
    apiVersion: Type.Literal('v1'),
    kind: Type.Literal('Secret'),
    metadata: ObjectMeta,
    type: Type.Optional(Type.String({ maxLength: 253 })),
    immutable: Type.Optional(Type.Boolean()),
    /** Base64 values. After admission this also holds `stringData`, encoded (as the apiserver does). */
    data: Type.Optional(KeyMap(Base64)),
    stringData: Type.Optional(KeyMap({})),
  },
  { additionalProperties: false },
);
export type Secret = Static<typeof Secret>;

export const ConfigMap = Type.Object(
  {
    apiVersion: Type.Literal('v1'),
    kind: Type.Literal('ConfigMap'),
    metadata: ObjectMeta,
    immutable: Type.Optional(Type.Boolean()),
    data: Type.Optional(KeyMap({})),
    binaryData: Type.Optional(KeyMap(Base64)),
  },
  { additionalProperties: false },
);
export type ConfigMap = Static<typeof ConfigMap>;
