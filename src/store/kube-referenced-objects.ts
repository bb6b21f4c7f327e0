// Secrets (or ConfigMaps) whose data the store holds only while the
// controller says a connector references them (changeInterest; the
// controller counts who wants what, controller/interest.ts).
//
// The informer lists and watches PartialObjectMetadata only, so the data of
// an unreferenced Secret never reaches this process; what is kept per
// object is its key and resourceVersion. An object in the interest set is
// read in full with a GET when interest is gained and again whenever the
// watch reports a new resourceVersion; it is served (get/list, events) only
// from then on. Losing interest drops the data and announces a delete.

import { Backoff, type BackoffOptions } from './kube-backoff.ts';
import { storedCoreObject } from './kube-convert.ts';
import { describeError, type ListWatchHandler, type RawObject } from './kube-list-watch.ts';
import type { KubeObjectTable } from './kube-object-table.ts';
import { ACCEPT_JSON, objectPath, type KubeResource } from './kube-resources.ts';
import { KubeHttpError, type KubeTransport } from './kube-transport.ts';
import type { StoreLogger } from './logger.ts';

export type ReferencedKind = 'Secret' | 'ConfigMap';

/** GETs of referenced objects in flight at once. */
const MAX_READS = 16;

export interface ReferencedObjectsOptions {
  kind: ReferencedKind;
  resource: KubeResource;
  table: KubeObjectTable;
  transport: KubeTransport;
  logger: StoreLogger;
  /** Aborts in-flight GETs when the store stops. */
  signal: AbortSignal;
  backoff?: BackoffOptions;
}

export interface CacheEntry {
  /** `namespace/name` */
  key: string;
  resourceVersion: string | undefined;
  interested: boolean;
  /** The full object (with its data) is held in memory. */
  hasData: boolean;
}

interface Fetch {
  /** A newer version was announced while this GET ran: read once more. */
  again: boolean;
  done: Promise<void>;
}

export class ReferencedObjects {
  readonly #o: ReferencedObjectsOptions;
  /** Every object the metadata informers know of: key -> resourceVersion. */
  readonly #meta = new Map<string, string | undefined>();
  readonly #interest = new Set<string>();
  readonly #fetches = new Map<string, Fetch>();
  readonly #retries = new Map<string, { timer?: NodeJS.Timeout; backoff: Backoff }>();
  /** GETs in flight, and the reads waiting for a slot. */
  #reading = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: ReferencedObjectsOptions) {
    this.#o = options;
  }

  /** The handler for one metadata informer; `namespace` undefined = cluster-wide. */
  handler(namespace: string | undefined): ListWatchHandler {
    return {
      replace: (items) => {
        const present = new Set<string>();
        for (const item of items) present.add(this.#seen(item));
        for (const key of [...this.#meta.keys()]) {
          if ((namespace === undefined || splitKey(key)[0] === namespace) && !present.has(key)) this.#gone(key);
        }
      },
      event: (type, object) => {
        if (type === 'DELETED') this.#gone(keyOf(object));
        else this.#seen(object);
      },
    };
  }

  /**
   * Changes the interest set by what was added and removed (the controller
   * counts who wants what: controller/interest.ts), at a cost of the change,
   * not of the whole set. Resolves once every object of `wait` that is
   * wanted and exists has been read (or its read failed and a retry is
   * scheduled), a read already under way included.
   */
  async changeInterest(add: readonly string[], remove: readonly string[], wait: readonly string[] = add): Promise<void> {
    for (const key of remove) {
      if (!this.#interest.delete(key)) continue;
      this.#cancelRetry(key);
      const [namespace, name] = splitKey(key);
      this.#o.table.delete(this.#o.kind, namespace, name);
    }
    for (const key of add) {
      if (this.#interest.has(key)) continue;
      this.#interest.add(key);
      this.#readNewlyWanted(key);
    }
    const waits: Promise<void>[] = [];
    for (const key of wait) {
      const running = this.#interest.has(key) ? this.#fetches.get(key) : undefined;
      if (running !== undefined) waits.push(running.done);
    }
    await Promise.all(waits);
  }

  debug(): CacheEntry[] {
    return [...this.#meta]
      .map(([key, resourceVersion]) => {
        const [namespace, name] = splitKey(key);
        return {
          key,
          resourceVersion,
          interested: this.#interest.has(key),
          hasData: this.#o.table.has(this.#o.kind, namespace, name),
        };
      })
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  stop(): void {
    for (const key of [...this.#retries.keys()]) this.#cancelRetry(key);
    // Reads waiting for a slot go on, see the store stopped and return.
    const waiting = this.#waiting.splice(0);
    this.#reading += waiting.length;
    for (const wake of waiting) wake();
  }

  #seen(object: RawObject): string {
    const key = keyOf(object);
    this.#meta.set(key, object.metadata.resourceVersion);
    if (this.#interest.has(key) && !this.#current(key)) void this.#fetch(key);
    return key;
  }

  #gone(key: string): void {
    this.#meta.delete(key);
    this.#cancelRetry(key);
    const [namespace, name] = splitKey(key);
    this.#o.table.delete(this.#o.kind, namespace, name);
  }

  /** The held object is the version the watch last announced. */
  #current(key: string): boolean {
    const [namespace, name] = splitKey(key);
    const held = this.#o.table.get(this.#o.kind, namespace, name);
    return held !== undefined && held.metadata.resourceVersion === this.#meta.get(key);
  }

  /**
   * A key just added to the interest set: read it, unless it is held current.
   * A read still running began while the key was unwanted (removed and added
   * again meanwhile) and may already have passed its last check and stored
   * nothing: it reads once more (#fetch).
   */
  #readNewlyWanted(key: string): void {
    if (this.#fetches.has(key) || (this.#meta.has(key) && !this.#current(key))) void this.#fetch(key);
  }

  /** One GET at a time per object; a request during one makes it read once more after. */
  #fetch(key: string): Promise<void> {
    const running = this.#fetches.get(key);
    if (running !== undefined) {
      running.again = true;
      return running.done;
    }
    const fetch: Fetch = { again: false, done: Promise.resolve() };
    fetch.done = (async () => {
      try {
        do {
          fetch.again = false;
          await this.#fetchOnce(key);
        } while (fetch.again && !this.#o.signal.aborted);
      } finally {
        this.#fetches.delete(key);
      }
    })();
    this.#fetches.set(key, fetch);
    return fetch.done;
  }

  async #fetchOnce(key: string): Promise<void> {
    if (!this.#wanted(key) || this.#o.signal.aborted) return;
    const [namespace, name] = splitKey(key);
    const { kind } = this.#o;
    let raw: unknown;
    await this.#slot();
    try {
      // Wanted still: it may have waited for its slot behind hundreds of others.
      if (!this.#wanted(key) || this.#o.signal.aborted) return;
      raw = await this.#o.transport.getJSON(objectPath(this.#o.resource, namespace, name), {
        accept: ACCEPT_JSON,
        signal: this.#o.signal,
      });
    } catch (err) {
      if (this.#o.signal.aborted) return;
      if (err instanceof KubeHttpError && err.status === 404) {
        // Deleted since the watch saw it; its DELETED event follows.
        this.#o.table.delete(kind, namespace, name);
        return;
      }
      this.#scheduleRetry(key, describeError(err));
      return;
    } finally {
      this.#release();
    }
    // Interest lost or the object deleted while the GET ran: keep nothing.
    if (!this.#wanted(key) || !isObject(raw)) return;
    this.#cancelRetry(key);
    this.#o.table.upsert(storedCoreObject(kind, raw));
  }

  /**
   * Waits for one of MAX_READS slots: 1,000 connectors created (or listed at
   * start) at once want 1,000 Secrets, read in parallel but not as 1,000
   * requests at the same moment.
   */
  async #slot(): Promise<void> {
    if (this.#reading < MAX_READS) {
      this.#reading++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(); // the slot passes on
    else this.#reading--;
  }

  #wanted(key: string): boolean {
    return this.#interest.has(key) && this.#meta.has(key);
  }

  #scheduleRetry(key: string, reason: string): void {
    let retry = this.#retries.get(key);
    if (retry === undefined) this.#retries.set(key, (retry = { backoff: new Backoff(this.#o.backoff) }));
    clearTimeout(retry.timer);
    const delay = retry.backoff.next();
    this.#o.logger.warn({ resource: this.#o.resource.plural, key, reason, retryInMs: delay }, 'reading a referenced object failed; retrying');
    retry.timer = setTimeout(() => {
      if (retry !== undefined) retry.timer = undefined;
      void this.#fetch(key);
    }, delay);
  }

  #cancelRetry(key: string): void {
    clearTimeout(this.#retries.get(key)?.timer);
    this.#retries.delete(key);
  }
}

function keyOf(object: RawObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function isObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && typeof (value as RawObject).metadata?.name === 'string';
}
