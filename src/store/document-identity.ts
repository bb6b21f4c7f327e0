// Best-effort identity of a raw document, so a refused one can still be
// named (kind, namespace, name) in problems.

import { DEFAULT_NAMESPACE } from './normalize-object.ts';
import type { SourceProblem } from './types.ts';

export type DocumentIdentity = NonNullable<SourceProblem['object']>;

export function readIdentity(kind: unknown, namespace: unknown, name: unknown): DocumentIdentity | undefined {
  const identity: DocumentIdentity = { kind: typeof kind === 'string' ? kind : '' };
  if (typeof name === 'string' && name !== '') {
    identity.name = name;
    identity.namespace = typeof namespace === 'string' && namespace !== '' ? namespace : DEFAULT_NAMESPACE;
  } else if (typeof namespace === 'string' && namespace !== '') {
    identity.namespace = namespace;
  }
  if (identity.kind === '' && identity.name === undefined) return undefined;
  return identity;
}

export function identityOf(doc: unknown): DocumentIdentity | undefined {
  if (!isRecord(doc)) return undefined;
  const metadata = isRecord(doc.metadata) ? doc.metadata : {};
  return readIdentity(doc.kind, metadata.namespace, metadata.name);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
