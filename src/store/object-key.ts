import type { Kind } from './types.ts';

export const KINDS: readonly Kind[] = ['SsoConnector', 'UserBinding', 'Secret', 'ConfigMap'];

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

/** Identity of an object inside the store: kind, namespace, name. */
export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** `kind namespace/name`, for messages. */
export function describeObject(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace}/${name}`;
}
