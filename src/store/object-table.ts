// The objects a store holds and the bookkeeping an apiserver does for them:
// uid, generation, resourceVersion, creationTimestamp; change detection
// (deep-equal, so rewriting the same content is no change). Reads and event
// delivery come from ObjectIndex. Shared by DirectoryStore and MemoryStore.

import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { silentLogger, type StoreLogger } from './logger.ts';
import { SERVER_METADATA } from './normalize-object.ts';
import { deepFreeze, ObjectIndex } from './object-index.ts';
import { objectKey } from './object-key.ts';
import type { Kind, StoreEvent, StoredObject } from './types.ts';

export interface ObjectTableOptions {
  logger?: StoreLogger;
  /** Clock for creationTimestamp, in ms (tests). */
  now?: () => number;
}

export class ObjectTable extends ObjectIndex {
  /** Last state of objects removed while their source is refused; see replaceAll. */
  readonly #tombstones = new Map<string, StoredObject>();
  /** What replaceAll was last given per key (before normalisation), to skip objects handed over unchanged. */
  readonly #inputs = new Map<string, StoredObject>();
  readonly #now: () => number;
  #resourceVersion = 0;
  #lastTimestamp = 0;

  constructor(options: ObjectTableOptions = {}) {
    super(options.logger ?? silentLogger);
    this.#now = options.now ?? Date.now;
  }

  /** Adds or replaces one object (already normalized); emits an event when it changed. */
  upsert(input: StoredObject): StoreEvent | undefined {
    const key = keyOf(input);
    this.#inputs.delete(key);
    const stored = this.#prepare(input, this.objects.get(key));
    if (stored === undefined) return undefined;
    this.objects.set(key, stored);
    const event: StoreEvent = { type: 'upsert', object: stored };
    this.emit([event]);
    return event;
  }

  delete(kind: Kind, namespace: string, name: string): StoreEvent | undefined {
    const key = objectKey(kind, namespace, name);
    this.#inputs.delete(key);
    const previous = this.objects.get(key);
    if (previous === undefined) return undefined;
    this.objects.delete(key);
    const event: StoreEvent = { type: 'delete', object: previous };
    this.emit([event]);
    return event;
  }

  /**
   * Makes the table hold exactly `objects` (normalized, in creation order),
   * then emits the differences: deletes first, then upserts in that order.
   *
   * A removed object whose key is in `keepIdentity` (its manifest is there
   * but currently refused) is still deleted, but its uid, creationTimestamp
   * and generation are remembered, so when the manifest is repaired it
   * comes back as the same object rather than a newer one.
   */
  replaceAll(objects: readonly StoredObject[], keepIdentity: ReadonlySet<string> = new Set()): StoreEvent[] {
    const seen = new Set<string>();
    const upserts: StoreEvent[] = [];
    for (const input of objects) {
      const key = keyOf(input);
      if (seen.has(key)) continue; // callers de-duplicate; first wins regardless
      seen.add(key);
      const previous = this.objects.get(key);
      // The very object given last time (the directory store reuses what an
      // unchanged file gave): nothing to compare, 20,000 times per reload.
      if (previous !== undefined && this.#inputs.get(key) === input) continue;
      const stored = this.#prepare(input, previous ?? this.#tombstones.get(key), previous === undefined);
      this.#inputs.set(key, input);
      if (stored === undefined) continue;
      this.objects.set(key, stored);
      upserts.push({ type: 'upsert', object: stored });
    }
    const deletes: StoreEvent[] = [];
    for (const [key, previous] of this.objects) {
      if (seen.has(key)) continue;
      deletes.push({ type: 'delete', object: previous });
      if (keepIdentity.has(key)) this.#tombstones.set(key, previous);
    }
    for (const event of deletes) {
      const key = keyOf(event.object);
      this.objects.delete(key);
      this.#inputs.delete(key);
    }
    for (const key of this.#tombstones.keys()) {
      if (seen.has(key) || !keepIdentity.has(key)) this.#tombstones.delete(key);
    }
    const events = [...deletes, ...upserts];
    this.emit(events);
    return events;
  }

  /**
   * The stored form of `input`, or undefined when it equals `previous`.
   * `revived`: previous is a tombstone, so even equal content is a change.
   */
  #prepare(input: StoredObject, previous: StoredObject | undefined, revived = false): StoredObject | undefined {
    const content = withoutServerMetadata(input);
    if (previous !== undefined && !revived && isDeepStrictEqual(withoutServerMetadata(previous), content)) return undefined;
    const metadata: StoredObject['metadata'] = {
      ...content.metadata,
      uid: previous?.metadata.uid ?? randomUUID(),
      resourceVersion: String(++this.#resourceVersion),
      creationTimestamp: previous?.metadata.creationTimestamp ?? this.#nextTimestamp(),
    };
    if (input.kind !== 'Secret' && input.kind !== 'ConfigMap') {
      const before = previous?.metadata.generation;
      metadata.generation = before === undefined ? 1 : sameBody(previous as StoredObject, content) ? before : before + 1;
    }
    return deepFreeze(structuredClone({ ...content, metadata }));
  }

  /** Strictly increasing, so objects first seen together keep their order. */
  #nextTimestamp(): string {
    this.#lastTimestamp = Math.max(this.#now(), this.#lastTimestamp + 1);
    return new Date(this.#lastTimestamp).toISOString();
  }
}

export function keyOf(object: StoredObject): string {
  return objectKey(object.kind, object.metadata.namespace, object.metadata.name);
}

function withoutServerMetadata(object: StoredObject): StoredObject {
  const metadata: Record<string, unknown> = { ...object.metadata };
  for (const field of SERVER_METADATA) delete metadata[field];
  return { ...object, metadata: metadata as unknown as StoredObject['metadata'] };
}

/** Generation moves when anything but metadata (and status) changes. */
function sameBody(a: StoredObject, b: StoredObject): boolean {
  const { metadata: _a, status: _sa, ...restA } = a as StoredObject & { status?: unknown };
  const { metadata: _b, status: _sb, ...restB } = b as StoredObject & { status?: unknown };
  return isDeepStrictEqual(restA, restB);
}
