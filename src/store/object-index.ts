// What both object tables share: objects keyed by kind/namespace/name, the
// reads a store serves (get, list in namespace/name order, onChange) and
// delivery of events to listeners, where one throwing listener is logged and
// does not stop the others. How objects get in (and their metadata) is each
// table's own: object-table.ts for standalone mode, kube-object-table.ts for
// the Kubernetes store.

import type { StoreLogger } from './logger.ts';
import { objectKey } from './object-key.ts';
import type { Kind, StoreEvent, StoredObject } from './types.ts';

export type StoreListener = (event: StoreEvent) => void;

/**
 * Objects by objectKey(), also grouped by kind, so listing the 1,000
 * connectors does not walk the 100,000 bindings (the controller lists a
 * namespace's connectors on every connector change).
 */
class ObjectMap extends Map<string, StoredObject> {
  readonly #byKind = new Map<string, Map<string, StoredObject>>();

  override set(key: string, object: StoredObject): this {
    super.set(key, object);
    let kind = this.#byKind.get(object.kind);
    if (!kind) this.#byKind.set(object.kind, (kind = new Map()));
    kind.set(key, object);
    return this;
  }

  override delete(key: string): boolean {
    const object = super.get(key);
    if (object !== undefined) this.#byKind.get(object.kind)?.delete(key);
    return super.delete(key);
  }

  override clear(): void {
    super.clear();
    this.#byKind.clear();
  }

  ofKind(kind: Kind): Iterable<StoredObject> {
    return this.#byKind.get(kind)?.values() ?? [];
  }
}

export class ObjectIndex {
  /** Keyed by objectKey(); the subclass decides what goes in. */
  protected readonly objects = new ObjectMap();
  readonly #listeners = new Set<StoreListener>();
  readonly #logger: StoreLogger;

  constructor(logger: StoreLogger) {
    this.#logger = logger;
  }

  get(kind: Kind, namespace: string, name: string): StoredObject | undefined {
    return this.objects.get(objectKey(kind, namespace, name));
  }

  has(kind: Kind, namespace: string, name: string): boolean {
    return this.objects.has(objectKey(kind, namespace, name));
  }

  list(kind: Kind, namespace?: string): StoredObject[] {
    const out: StoredObject[] = [];
    for (const object of this.objects.ofKind(kind)) {
      if (namespace === undefined || object.metadata.namespace === namespace) out.push(object);
    }
    return out.sort(
      (a, b) => compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name),
    );
  }

  size(): number {
    return this.objects.size;
  }

  onChange(listener: StoreListener): () => void {
    // Wrapped, so subscribing the same function twice gives two subscriptions.
    const entry: StoreListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Delivers each event, in order, to the listeners subscribed at that moment. */
  protected emit(events: readonly StoreEvent[]): void {
    for (const event of events) {
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
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
