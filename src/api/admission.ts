// Admission for standalone mode and the controller: the same checks the
// apiserver applies through the CRD (schema, defaults, list types, CEL
// rules), plus metadata and Secret/ConfigMap checks.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { ConfigMap, Secret } from './core.ts';
import { UserBinding } from './binding.ts';
import { SsoConnector } from './connector.ts';
import { checkListTypes, checkRules, type SchemaNode } from './cel.ts';
import { GROUP_VERSION, joinPath, type AdmissionError } from './common.ts';

export type KnownObject = SsoConnector | UserBinding | Secret | ConfigMap;
export type AdmissionResult = { ok: true; object: KnownObject } | { ok: false; errors: AdmissionError[] };

const KINDS = {
  SsoConnector: { apiVersion: GROUP_VERSION, schema: SsoConnector, custom: true },
  UserBinding: { apiVersion: GROUP_VERSION, schema: UserBinding, custom: true },
  Secret: { apiVersion: 'v1', schema: Secret, custom: false },
  ConfigMap: { apiVersion: 'v1', schema: ConfigMap, custom: false },
} as const;
type KindName = keyof typeof KINDS;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

let ajv: Ajv | undefined;
const validators = new Map<KindName, ValidateFunction>();

function validator(kind: KindName): ValidateFunction {
  let v = validators.get(kind);
  if (v) return v;
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictTypes: false });
    // ajv-formats is CommonJS; its default export is the plugin itself at runtime.
    const plugin = addFormatsPlugin as unknown as { default?: unknown };
    const addFormats = (plugin.default ?? plugin) as (ajv: Ajv, formats: string[]) => Ajv;
    addFormats(ajv, ['date-time', 'int64']);
    // Go's base64 decoder (used for Secret data) skips line breaks.
    ajv.addFormat('byte', { type: 'string', validate: (s: string) => BASE64.test(s.replace(/[\r\n]/g, '')) });
    for (const keyword of [
      'x-kubernetes-validations',
      'x-kubernetes-list-type',
      'x-kubernetes-list-map-keys',
      'x-kubernetes-map-type',
      'x-kubernetes-int-or-string',
      'x-kubernetes-preserve-unknown-fields',
      'errorMessage',
    ]) {
      ajv.addKeyword({ keyword, schemaType: ['string', 'array', 'boolean', 'object'] });
    }
  }
  v = ajv.compile(KINDS[kind].schema);
  validators.set(kind, v);
  return v;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** `/spec/saml/idp/certificates/0` -> `$.spec.saml.idp.certificates[0]`, using the data to tell indices from keys. */
function toPath(pointer: string, doc: unknown): string {
  let path = '$';
  let node: unknown = doc;
  if (pointer === '') return path;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      path = joinPath(path, Number(seg));
      node = node[Number(seg)];
    } else {
      path = joinPath(path, seg);
      node = isObject(node) ? node[seg] : undefined;
    }
  }
  return path;
}

function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function closest(word: string, candidates: string[]): string | undefined {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = c.toLowerCase() === word.toLowerCase() ? 0 : dist(word, c);
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 4)) ? best : undefined;
}

function describe(err: ErrorObject, doc: unknown, redact: (path: string) => boolean): AdmissionError | undefined {
  const at = toPath(err.instancePath, doc);
  const p = err.params as Record<string, unknown>;
  const parent = (err.parentSchema ?? {}) as Record<string, unknown>;
  if (err.propertyName !== undefined) {
    // A bad key inside a map (propertyNames): blame the key itself.
    return { path: joinPath(at, err.propertyName), reason: 'SchemaViolation', message: `invalid key: ${parent['errorMessage'] ?? err.message}` };
  }
  const got = redact(at) ? '' : ` (got ${show(err.data)})`;
  switch (err.keyword) {
    case 'propertyNames':
      return undefined; // reported by the inner error above
    case 'additionalProperties': {
      const field = String(p['additionalProperty']);
      const hint = closest(field, Object.keys((parent['properties'] ?? {}) as object));
      return {
        path: joinPath(at, field),
        reason: 'UnknownField',
        message: `unknown field "${field}"${hint ? ` (did you mean "${hint}"?)` : ''}`,
      };
    }
    case 'required':
      return { path: joinPath(at, String(p['missingProperty'])), reason: 'MissingField', message: `required field "${String(p['missingProperty'])}" is missing` };
    case 'type':
      return { path: at, reason: 'SchemaViolation', message: `must be of type ${String(p['type'])} (got ${typeName(err.data)})` };
    case 'enum':
      return { path: at, reason: 'SchemaViolation', message: `must be one of ${(p['allowedValues'] as unknown[]).map((v) => show(v)).join(', ')}${got}` };
    case 'const':
      return { path: at, reason: 'SchemaViolation', message: `must be ${show(p['allowedValue'])}${got}` };
    case 'pattern':
      return { path: at, reason: 'SchemaViolation', message: `${String(parent['errorMessage'] ?? `must match the pattern ${String(p['pattern'])}`)}${got}` };
    case 'format':
      return { path: at, reason: 'SchemaViolation', message: `${String(parent['errorMessage'] ?? `must be a valid ${String(p['format'])}`)}${got}` };
    case 'minLength':
      return { path: at, reason: 'SchemaViolation', message: p['limit'] === 1 ? 'must not be empty' : `must be at least ${String(p['limit'])} characters long` };
    case 'maxLength':
      return { path: at, reason: 'SchemaViolation', message: `must be at most ${String(p['limit'])} characters long (got ${(err.data as string).length})` };
    case 'minItems':
      return { path: at, reason: 'SchemaViolation', message: `must have at least ${String(p['limit'])} item${p['limit'] === 1 ? '' : 's'}` };
    case 'maxItems':
      return { path: at, reason: 'SchemaViolation', message: `must have at most ${String(p['limit'])} items (got ${(err.data as unknown[]).length})` };
    case 'minimum':
    case 'maximum':
      return { path: at, reason: 'SchemaViolation', message: `must be ${String(p['comparison'])} ${String(p['limit'])}${got}` };
    default:
      return { path: at, reason: 'SchemaViolation', message: err.message ?? `fails ${err.keyword}` };
  }
}

function fail(path: string, reason: string, message: string): AdmissionResult {
  return { ok: false, errors: [{ path, reason, message }] };
}

/**
 * Checks one manifest. On success returns a new object with defaults applied
 * and `metadata.namespace` filled (`default` when absent); for a Secret,
 * `stringData` is merged into `data` as the apiserver does. The input is
 * never modified. `status` of a custom resource is passed through unchecked.
 */
export function admit(doc: unknown): AdmissionResult {
  if (!isObject(doc)) return fail('$', 'SchemaViolation', `a manifest must be an object (got ${typeName(doc)})`);
  const { apiVersion, kind } = doc;
  if (typeof kind !== 'string' || kind === '') {
    return fail('$.kind', 'UnsupportedKind', 'kind is missing: expected SsoConnector, UserBinding, Secret or ConfigMap');
  }
  if (!Object.hasOwn(KINDS, kind)) {
    return fail('$.kind', 'UnsupportedKind', `unsupported kind ${show(kind)}: expected SsoConnector, UserBinding, Secret or ConfigMap`);
  }
  const k = kind as KindName;
  const entry = KINDS[k];
  if (apiVersion !== entry.apiVersion) {
    return fail('$.apiVersion', 'UnsupportedKind', `${k} must have apiVersion ${entry.apiVersion} (got ${show(apiVersion)})`);
  }

  const obj = structuredClone(doc);
  const status = entry.custom ? obj['status'] : undefined;
  if (entry.custom) delete obj['status'];
  if (isObject(obj['metadata']) && obj['metadata']['namespace'] === undefined) obj['metadata']['namespace'] = 'default';

  const validate = validator(k);
  const errors: AdmissionError[] = [];
  const badPaths: string[] = [];
  const redact = (path: string) => k === 'Secret' && /^\$(\.data|\.stringData)\b/.test(path);
  if (!validate(obj)) {
    for (const err of validate.errors ?? []) {
      const e = describe(err, obj, redact);
      if (!e) continue;
      // One error per problem: an empty string fails minLength and pattern alike; report the first.
      if (!errors.some((x) => x.path === e.path && (x.message === e.message || x.reason === e.reason))) errors.push(e);
      // CEL rules above a type or value error would see garbage: skip them. Unknown fields don't matter.
      if (err.keyword !== 'additionalProperties') badPaths.push(e.path);
    }
  }
  if (entry.custom) {
    const skip = (path: string) =>
      badPaths.some((b) => b === path || b.startsWith(`${path}.`) || b.startsWith(`${path}[`));
    const schema = entry.schema as unknown as SchemaNode;
    errors.push(...checkListTypes(schema, obj), ...checkRules(schema, obj, '$', skip));
  }
  if (errors.length > 0) return { ok: false, errors };

  if (k === 'Secret' && isObject(obj['stringData'])) {
    const data: Record<string, string> = { ...(obj['data'] as Record<string, string> | undefined) };
    for (const [key, value] of Object.entries(obj['stringData'] as Record<string, string>)) {
      data[key] = Buffer.from(value, 'utf8').toString('base64');
    }
    obj['data'] = data;
    delete obj['stringData'];
  }
  if (status !== undefined) obj['status'] = status;
  return { ok: true, object: obj as unknown as KnownObject };
}
