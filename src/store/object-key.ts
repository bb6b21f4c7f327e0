import type { Kind } from './types.ts';

export const KINDS: readonly Kind[] = ['SsoConnector', 'UserBinding', 'Secret', 'ConfigMap'];

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

/**
 * Identity of an object inside the store: kind, namespace, name. Built with
 * join, which gives one flat string: a template literal gives a tree of
 * concatenated strings, which V8 keeps as it is until something compares it.
 * A key held only in a queue was never compared: 100,000 binding statuses
 * waiting after a restart held ~130 bytes of string tree each, against ~40
 * flat (a heap snapshot: 13 MB of the 300 MiB budget).
 */
export function objectKey(kind: string, namespace: string, name: string): string {
  return [kind, namespace, name].join('/');
}

/** `kind namespace/name`, for messages. */
export function describeObject(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace}/${name}`;
}
