// What the Kubernetes store serves: objects keyed by kind/namespace/name,
// with the apiserver's metadata as it came (unlike object-table.ts, which
// invents it for standalone mode), and the events listeners get.
//
// An update that changes nothing but resourceVersion (a status write, which
// the store drops) replaces the object silently: listeners reconcile on
// content, and the next get() still sees the current resourceVersion.

import { isDeepStrictEqual } from 'node:util';
import type { StoreLogger } from './logger.ts';
import { objectKey } from './object-key.ts';
import type { StoreListener } from './object-table.ts';
import type { Kind, StoreEvent, StoredObject } from './types.ts';

export class KubeObjectTable {
  readonly #objects = new Map<string, StoredObject>();
  readonly #listeners = new Set<StoreListener>();
  readonly #logger: StoreLogger;

  constructor(logger: StoreLogger) {
    this.#logger = logger;
  }

  get(kind: Kind, namespace: string, name: string): StoredObject | undefined {
    return this.#objects.get(objectKey(kind, namespace, name));
  }

  has(kind: Kind, namespace: string, name: string): boolean {
    return this.#objects.has(objectKey(kind, namespace, name));
  }

  list(kind: Kind, namespace?: string): StoredObject[] {
    const out: StoredObject[] = [];
    for (const object of this.#objects.values()) {
      if (object.kind === kind && (namespace === undefined || object.metadata.namespace === namespace)) out.push(object);
    }
    return out.sort(
      (a, b) => compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name),
    );
  }

  onChange(listener: StoreListener): () => void {
    // Wrapped, so subscribing the same function twice gives two subscriptions.
    const entry: StoreListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Stores the object; emits an upsert unless only its resourceVersion changed. */
  upsert(input: StoredObject): void {
    const key = objectKey(input.kind, input.metadata.namespace, input.metadata.name);
    const previous = this.#objects.get(key);
    const object = deepFreeze(structuredClone(input));
    this.#objects.set(key, object);
    if (previous !== undefined && isDeepStrictEqual(withoutVersion(previous), withoutVersion(object))) return;
    this.#emit({ type: 'upsert', object });
  }

  /** Removes the object; emits a delete when it was there. */
  delete(kind: Kind, namespace: string, name: string): void {
    const key = objectKey(kind, namespace, name);
    const previous = this.#objects.get(key);
    if (previous === undefined) return;
    this.#objects.delete(key);
    this.#emit({ type: 'delete', object: previous });
  }

  /**
   * Emits a delete for an object that is not served (admission refused it),
   * so listeners look at it again and find why in problems().
   */
  announceNotServed(object: StoredObject): void {
    this.#emit({ type: 'delete', object: deepFreeze(structuredClone(object)) });
  }

  clear(): void {
    this.#objects.clear();
  }

  #emit(event: StoreEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        const { kind, metadata } = event.object;
        this.#logger.error(
          { err, event: event.type, kind, namespace: metadata.namespace, name: metadata.name },
          'store listener failed',
        );
      }
    }
  }
}

function withoutVersion(object: StoredObject): StoredObject {
  const { resourceVersion: _rv, ...metadata } = object.metadata;
  return { ...object, metadata };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
