// CustomResourceDefinitions generated from the TypeBox schemas.
// The apiserver wants a structural schema from a restricted JSON Schema
// dialect, so every node is rebuilt from an allowlist of keys, in a fixed
// key order (deterministic output). A key the CRD cannot carry fails
// generation unless it is listed in DROPPED below.

import { stringify } from 'yaml';
import { UserBinding } from './binding.ts';
import type { SchemaNode } from './cel.ts';
import { API_GROUP, API_VERSION } from './common.ts';
import { SsoConnector } from './connector.ts';

/** Keys copied to the CRD, in output order. */
const ALLOWED = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'required',
  'properties',
  'items',
  'additionalProperties',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
] as const;

/** Keys only ajv uses: the apiserver rejects or ignores them (unknown fields are pruned/rejected there anyway). */
const DROPPED = new Set(['$id', '$schema', 'errorMessage', 'propertyNames', 'title', 'examples']);

/** One schema node in the apiserver's dialect. */
export function toCrdSchema(node: SchemaNode, path = '$'): Record<string, unknown> {
  const src: Record<string, unknown> = { ...node };
  for (const key of Object.keys(src)) {
    if (DROPPED.has(key)) delete src[key];
    else if (!(ALLOWED as readonly string[]).includes(key) && key !== 'const') {
      throw new Error(`${path}: schema keyword "${key}" cannot be expressed in a CRD`);
    }
  }
  if ('const' in src) {
    src['enum'] = [src['const']];
    delete src['const'];
  }
  // `additionalProperties: false` is forbidden next to `properties` (and `true` is the default).
  if (typeof src['additionalProperties'] === 'boolean') delete src['additionalProperties'];
  if (Array.isArray(src['required']) && src['required'].length === 0) delete src['required'];

  const out: Record<string, unknown> = {};
  for (const key of ALLOWED) {
    if (!(key in src)) continue;
    const v = src[key];
    if (key === 'properties') {
      const props: Record<string, unknown> = {};
      for (const [name, child] of Object.entries(v as Record<string, SchemaNode>)) props[name] = toCrdSchema(child, `${path}.${name}`);
      out[key] = props;
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toCrdSchema(v as SchemaNode, `${path}[*]`);
    } else if (key === 'x-kubernetes-validations') {
      out[key] = (v as Record<string, unknown>[]).map((r) => {
        const rule: Record<string, unknown> = {};
        for (const k of ['rule', 'message', 'messageExpression', 'reason', 'fieldPath', 'optionalOldSelf']) if (k in r) rule[k] = r[k];
        return rule;
      });
    } else {
      out[key] = structuredClone(v);
    }
  }
  return out;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface CrdSpec {
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  schema: SchemaNode;
  description: string;
  columns: PrinterColumn[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const SPECS: CrdSpec[] = [
  {
    kind: 'SsoConnector',
    plural: 'ssoconnectors',
    singular: 'ssoconnector',
    shortNames: ['ssoc'],
    schema: SsoConnector as unknown as SchemaNode,
    description: 'SsoConnector is one identity-provider registration: the operator serves a SAML 2.0 service provider or an OpenID Connect relying party for it.',
    columns: [
      { name: 'Reference', type: 'string', jsonPath: '.spec.reference' },
      { name: 'Type', type: 'string', jsonPath: '.spec.protocol' },
      { name: 'Issuer', type: 'string', jsonPath: '.spec.saml.idp.entityID', priority: 1 },
      { name: 'Endpoint', type: 'string', jsonPath: '.spec.saml.idp.ssoURL', priority: 1 },
      { name: 'OIDC Issuer', type: 'string', jsonPath: '.spec.oidc.issuer', priority: 1 },
      { name: 'Provider', type: 'string', jsonPath: '.spec.oauth2.provider' },
      { name: 'NameID', type: 'string', jsonPath: '.spec.saml.sp.nameIDPolicy.format', priority: 1 },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      AGE,
    ],
  },
  {
    kind: 'UserBinding',
    plural: 'userbindings',
    singular: 'userbinding',
    schema: UserBinding as unknown as SchemaNode,
    description: "UserBinding grants a user access through one or more SsoConnectors of its namespace.",
    columns: [
      { name: 'User', type: 'string', jsonPath: '.spec.user' },
      { name: 'Approval', type: 'string', jsonPath: '.spec.approval' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      AGE,
    ],
  },
];

function openAPIV3Schema(spec: CrdSpec): Record<string, unknown> {
  const props = spec.schema['properties'] as Record<string, SchemaNode>;
  const required = (spec.schema['required'] as string[]).filter((r) => r !== 'apiVersion' && r !== 'kind' && r !== 'metadata');
  return {
    description: spec.description,
    type: 'object',
    required,
    properties: {
      apiVersion: {
        description: 'APIVersion defines the versioned schema of this representation of an object.',
        type: 'string',
      },
      kind: { description: 'Kind is a string value representing the REST resource this object represents.', type: 'string' },
      metadata: { type: 'object' },
      spec: toCrdSchema(props['spec']!, '$.spec'),
      status: toCrdSchema(props['status']!, '$.status'),
    },
  };
}

export function buildCrd(spec: CrdSpec): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${spec.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: spec.kind,
        listKind: `${spec.kind}List`,
        plural: spec.plural,
        singular: spec.singular,
        ...(spec.shortNames ? { shortNames: spec.shortNames } : {}),
        categories: ['sso'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: spec.columns,
          schema: { openAPIV3Schema: openAPIV3Schema(spec) },
        },
      ],
    },
  };
}

/** The additionalPrinterColumns of a kind's CRD: what `kubectl get` shows (the admin CLI's status too). */
export function printerColumns(kind: string): readonly PrinterColumn[] {
  const spec = SPECS.find((s) => s.kind === kind);
  if (!spec) throw new Error(`no CRD for kind ${kind}`);
  return spec.columns;
}

/** File name -> YAML text of every CRD, e.g. `sso.operator.dev_ssoconnectors.yaml`. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const spec of SPECS) {
    const body = stringify(buildCrd(spec), { lineWidth: 0, aliasDuplicateObjects: false });
    files.set(`${API_GROUP}_${spec.plural}.yaml`, `# Generated by tools/gen-crds.ts from src/api. Do not edit.\n---\n${body}`);
  }
  return files;
}
