// From an object as the apiserver sends it to the store's form: the
// apiserver's own identity and versions (uid, generation, resourceVersion,
// creationTimestamp) are kept exactly; bulky or sensitive bookkeeping is
// dropped (managedFields, status, and kubectl's last-applied annotation,
// which on a Secret is a second copy of its data).

import type { RawMeta, RawObject } from './kube-list-watch.ts';
import { sharedList } from './shared-lists.ts';
import type { Kind, ObjectMeta, StoredObject } from './types.ts';

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export function keptMetadata(raw: RawMeta): ObjectMeta {
  const namespace = intern(raw.namespace ?? '');
  const { uid, generation, resourceVersion, creationTimestamp } = raw;
  // What the apiserver always sends a custom resource, in one literal: V8
  // gives an object built so all its fields in place, while fields added one
  // by one go to a separate property array (~60 bytes more per object,
  // 6 MB for 100,000 bindings). Same fields, same order, as below.
  if (typeof uid === 'string' && typeof generation === 'number' && typeof resourceVersion === 'string' && typeof creationTimestamp === 'string' && !hasEntries(raw.labels) && !hasEntries(raw.annotations)) {
    return { name: raw.name, namespace, uid, generation, resourceVersion, creationTimestamp };
  }
  const meta: ObjectMeta = { name: raw.name, namespace };
  if (typeof raw.uid === 'string') meta.uid = raw.uid;
  if (typeof raw.generation === 'number') meta.generation = raw.generation;
  if (typeof raw.resourceVersion === 'string') meta.resourceVersion = raw.resourceVersion;
  if (typeof raw.creationTimestamp === 'string') meta.creationTimestamp = raw.creationTimestamp;
  if (isStringMap(raw.labels) && Object.keys(raw.labels).length > 0) meta.labels = { ...raw.labels };
  if (isStringMap(raw.annotations)) {
    const { [LAST_APPLIED]: _dropped, ...rest } = raw.annotations;
    if (Object.keys(rest).length > 0) meta.annotations = rest;
  }
  return meta;
}

/** A Secret or ConfigMap read in full (only referenced ones are). */
export function storedCoreObject(kind: 'Secret' | 'ConfigMap', raw: RawObject): StoredObject {
  const object: StoredObject = { apiVersion: 'v1', kind, metadata: keptMetadata(raw.metadata) };
  if (isStringMap(raw.data)) object.data = { ...raw.data };
  if (kind === 'Secret' && typeof raw.type === 'string') object.type = raw.type;
  return object;
}

/** A custom resource after admission: spec as admitted (defaults applied), metadata from the apiserver. */
export function storedCustomObject(kind: Kind, apiVersion: string, raw: RawMeta, admitted: Record<string, unknown>): StoredObject {
  const metadata = keptMetadata(raw);
  if (admitted.spec === undefined) return { apiVersion, kind, metadata };
  // One literal, for the same reason as in keptMetadata.
  return { apiVersion, kind, metadata, spec: kind === 'UserBinding' ? internBindingSpec(admitted.spec as Record<string, unknown>) : admitted.spec };
}

/** Labels or annotations that keptMetadata keeps (an annotation map of only last-applied is dropped). */
function hasEntries(map: unknown): boolean {
  if (typeof map !== 'object' || map === null) return false;
  for (const key in map) if (key !== LAST_APPLIED) return true;
  return false;
}

/** The input for `admit`: the object without what admission does not look at. */
export function admissionInput(kind: Kind, apiVersion: string, raw: RawObject): Record<string, unknown> {
  const { managedFields: _m, ...metadata } = raw.metadata;
  const { status: _s, ...rest } = raw;
  return { ...rest, apiVersion, kind, metadata };
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/**
 * One copy of each string many objects repeat: JSON.parse gives every
 * object its own. Only values drawn from a small set go here (namespaces,
 * connector names, group names, approval), never per-user ones, so the pool
 * stays as small as that set.
 */
const pool = new Map<string, string>();

function intern(value: string): string {
  const held = pool.get(value);
  if (held !== undefined) return held;
  pool.set(value, value);
  return value;
}

/** A UserBinding's spec with its connector and group names and approval shared (100,000 bindings name the same few). */
function internBindingSpec(spec: Record<string, unknown>): Record<string, unknown> {
  const out = { ...spec };
  for (const field of ['connectors', 'groups']) {
    const list = out[field];
    if (!Array.isArray(list)) continue;
    const names = list.map((v) => (typeof v === 'string' ? intern(v) : v));
    // The whole list shared too, when it is one of names (admission guarantees that; anything else stays as it came).
    out[field] = names.every((v) => typeof v === 'string') ? sharedList(names as string[]) : names;
  }
  if (typeof out.approval === 'string') out.approval = intern(out.approval);
  return out;
}
