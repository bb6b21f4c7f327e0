// A store held in memory, fed by code: for unit tests of the controller
// (and anything else that needs a Store without files or a cluster). Same
// metadata rules as the other stores (see object-table.ts).

import { silentLogger, type StoreLogger } from './logger.ts';
import { normalizeObject } from './normalize-object.ts';
import { ObjectTable } from './object-table.ts';
import { TableBackedStore } from './table-backed-store.ts';
import type { Kind, SourceProblem, Store, StoreEvent, StoredObject } from './types.ts';

export interface MemoryStoreOptions {
  /** Loaded at construction, in creation order. */
  objects?: MemoryObject[];
  logger?: StoreLogger;
  /** Clock for creationTimestamp, in ms. */
  now?: () => number;
}

/** What `upsert` accepts: a StoredObject whose namespace may be left out (`default`). */
export type MemoryObject = Omit<StoredObject, 'metadata'> & {
  metadata: Omit<StoredObject['metadata'], 'namespace'> & { namespace?: string };
};

export class MemoryStore extends TableBackedStore<ObjectTable> implements Store {
  #problems: SourceProblem[] = [];
  #synced = false;

  constructor(options: MemoryStoreOptions = {}) {
    super(new ObjectTable({ logger: options.logger ?? silentLogger, now: options.now }));
    for (const object of options.objects ?? []) this.upsert(object);
  }

  async start(): Promise<void> {
    this.#synced = true;
  }

  async stop(): Promise<void> {}

  synced(): boolean {
    return this.#synced;
  }

  problems(): SourceProblem[] {
    return this.#problems.map((p) => structuredClone(p));
  }

  /**
   * Creates or replaces an object; returns the stored form (frozen, with
   * uid/generation/resourceVersion/creationTimestamp). Emits `upsert` only
   * when something changed. Throws on a Secret/ConfigMap with bad data.
   */
  upsert(object: MemoryObject): StoredObject {
    const result = normalizeObject(object as StoredObject);
    if (!result.ok) {
      const first = result.problems[0];
      throw new Error(`MemoryStore.upsert: ${first?.path}: ${first?.message}`);
    }
    const { kind, metadata } = result.object;
    this.table.upsert(result.object);
    return this.table.get(kind, metadata.namespace, metadata.name) as StoredObject;
  }

  /** Removes an object; returns the delete event, or undefined if it was not there. */
  delete(kind: Kind, namespace: string, name: string): StoreEvent | undefined {
    return this.table.delete(kind, namespace, name);
  }

  /** Sets what problems() returns (to test how refused manifests show). */
  setProblems(problems: SourceProblem[]): void {
    this.#problems = problems.map((p) => structuredClone(p));
  }
}
