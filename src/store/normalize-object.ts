// What the apiserver does to an accepted object before storing it, apart
// from the bookkeeping metadata (see object-table.ts): default namespace,
// no client-supplied server fields, no status, Secret stringData folded
// into data.

import { childPath } from './json-path.ts';
import type { StoredObject } from './types.ts';

export const DEFAULT_NAMESPACE = 'default';

/** Metadata only the store may set; whatever a manifest says is dropped. */
export const SERVER_METADATA = [
  'uid',
  'generation',
  'resourceVersion',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

export interface FieldProblem {
  path: string;
  reason: string;
  message: string;
}

export type NormalizeResult = { ok: true; object: StoredObject } | { ok: false; problems: FieldProblem[] };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/** Returns a fresh object; the input is not modified. */
export function normalizeObject(input: StoredObject): NormalizeResult {
  const object = structuredClone(input) as StoredObject & { status?: unknown };
  const metadata = object.metadata as unknown as Record<string, unknown>;
  for (const field of SERVER_METADATA) delete metadata[field];
  if (typeof object.metadata.namespace !== 'string' || object.metadata.namespace === '') {
    object.metadata.namespace = DEFAULT_NAMESPACE;
  }
  delete object.status;

  const problems: FieldProblem[] = [];
  if (object.kind === 'Secret' || object.kind === 'ConfigMap') {
    checkStringMap(object, 'data', object.kind === 'Secret', problems);
  }
  if (object.kind === 'Secret') {
    checkStringMap(object, 'stringData', false, problems);
    if (problems.length === 0 && object.stringData !== undefined) {
      const data = { ...(object.data ?? {}) };
      for (const [key, value] of Object.entries(object.stringData)) {
        data[key] = Buffer.from(value, 'utf8').toString('base64');
      }
      object.data = data;
      delete object.stringData;
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, object };
}

function checkStringMap(
  object: StoredObject,
  field: 'data' | 'stringData',
  base64: boolean,
  problems: FieldProblem[],
): void {
  const value: unknown = object[field];
  if (value === undefined || value === null) {
    delete object[field];
    return;
  }
  const path = childPath('$', field);
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ path, reason: 'Invalid', message: `${field} must be a map of strings` });
    return;
  }
  for (const [key, entry] of Object.entries(value)) {
    const entryPath = childPath(path, key);
    if (!DATA_KEY.test(key)) {
      problems.push({ path: entryPath, reason: 'Invalid', message: `key ${JSON.stringify(key)} must consist of alphanumerics, '-', '_' or '.'` });
    } else if (typeof entry !== 'string') {
      problems.push({ path: entryPath, reason: 'Invalid', message: `value must be a string, got ${entry === null ? 'null' : typeof entry}` });
    } else if (base64 && !BASE64.test(entry.replace(/[\r\n]/g, ''))) {
      problems.push({ path: entryPath, reason: 'Invalid', message: 'value is not valid base64 (use stringData for plain text)' });
    } else if (base64) {
      (value as Record<string, string>)[key] = entry.replace(/[\r\n]/g, '');
    }
  }
}
