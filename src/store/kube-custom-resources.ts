// SsoConnectors and UserBindings from the informers, each run through
// `admit`: it applies defaults the CRD may not have applied (objects stored
// before a schema change) and refuses what the current rules refuse. A
// refused object is not served (fail closed, like the directory store) and
// shows in problems() with its identity until it is fixed or deleted.

import { isDeepStrictEqual } from 'node:util';
import type { Admit, AdmitResult } from './admission.ts';
import { admissionInput, keptMetadata, storedCustomObject } from './kube-convert.ts';
import type { ListWatchHandler, RawObject, WatchEventType } from './kube-list-watch.ts';
import type { KubeObjectTable } from './kube-object-table.ts';
import { objectPath, type KubeResource } from './kube-resources.ts';
import type { StoreLogger } from './logger.ts';
import { objectKey } from './object-key.ts';
import type { ObjectMeta, SourceProblem, StoredObject } from './types.ts';

export interface CustomResourcesOptions {
  resource: KubeResource;
  table: KubeObjectTable;
  admit: Admit;
  logger: StoreLogger;
}

export class CustomResources {
  readonly #o: CustomResourcesOptions;
  /** Refused objects: their problems and identity (as a stub StoredObject, no spec). */
  readonly #refused = new Map<string, { problems: SourceProblem[]; stub: StoredObject }>();

  constructor(options: CustomResourcesOptions) {
    this.#o = options;
  }

  problems(): SourceProblem[] {
    return [...this.#refused.values()].flatMap((r) => r.problems);
  }

  /** The handler for one informer; `namespace` undefined = cluster-wide. */
  handler(namespace: string | undefined): ListWatchHandler {
    // The keys a list in progress has delivered; its pages are applied as they
    // come. Let go once the list is done: the watch's closures keep this
    // scope for the informer's life, and 100,000 keys were ~10 MB.
    let present = new Set<string>();
    return {
      replace: (items) => {
        const listed = new Set<string>();
        this.#page(listed, items);
        this.#listed(namespace, listed);
      },
      pages: {
        begin: () => {
          present = new Set();
        },
        page: (items) => this.#page(present, items),
        end: () => {
          const listed = present;
          present = new Set();
          this.#listed(namespace, listed);
        },
      },
      event: (type, object) => this.#event(type, object),
    };
  }

  #page(present: Set<string>, items: RawObject[]): void {
    const { kind } = this.#o.resource;
    for (const item of items) {
      present.add(objectKey(kind, item.metadata.namespace ?? '', item.metadata.name));
      this.#apply(item);
    }
  }

  /** A list is complete: `present` holds every key it had. */
  #listed(namespace: string | undefined, present: ReadonlySet<string>): void {
    const { kind } = this.#o.resource;
    // Whatever this informer held before and the list no longer has was deleted meanwhile.
    for (const object of this.#o.table.list(kind, namespace)) {
      const { namespace: ns, name } = object.metadata;
      if (!present.has(objectKey(kind, ns, name))) this.#o.table.delete(kind, ns, name);
    }
    for (const [key, refused] of [...this.#refused]) {
      const ns = refused.stub.metadata.namespace;
      if ((namespace === undefined || ns === namespace) && !present.has(key)) this.#forgetRefused(key, refused.stub);
    }
  }

  #event(type: WatchEventType, raw: RawObject): void {
    if (type !== 'DELETED') {
      this.#apply(raw);
      return;
    }
    const { kind } = this.#o.resource;
    const { namespace = '', name } = raw.metadata;
    const key = objectKey(kind, namespace, name);
    const refused = this.#refused.get(key);
    if (refused !== undefined) this.#forgetRefused(key, refused.stub);
    else this.#o.table.delete(kind, namespace, name);
  }

  #apply(raw: RawObject): void {
    const { kind, apiVersion } = this.#o.resource;
    const namespace = raw.metadata.namespace ?? '';
    const { name } = raw.metadata;
    const key = objectKey(kind, namespace, name);
    // Every status write the leader makes comes back to every replica through
    // the watch: with 100,000 bindings, admitting each again took CPU the
    // sign-ins needed. Same object, same generation, same labels and
    // annotations: the spec is unchanged (generation moves with every spec
    // change), so what was admitted stands.
    const held = this.#o.table.get(kind, namespace, name);
    if (held !== undefined && unchangedButStatus(held.metadata, keptMetadata(raw.metadata))) {
      this.#o.table.touch(kind, namespace, name, raw.metadata.resourceVersion, (raw as { status?: unknown }).status);
      return;
    }
    const result = runAdmit(this.#o.admit, admissionInput(kind, apiVersion, raw));
    if (result.ok) {
      if (this.#refused.delete(key)) {
        this.#o.logger.info({ kind, namespace, name }, 'object admitted again; serving it');
      }
      this.#o.table.upsert(storedCustomObject(kind, apiVersion, raw.metadata, result.object), (raw as { status?: unknown }).status);
      return;
    }
    const problems: SourceProblem[] = result.errors.map((e) => ({
      file: objectPath(this.#o.resource, namespace, name),
      documentIndex: 0,
      path: e.path,
      reason: e.reason,
      message: e.message,
      object: { kind, namespace, name },
    }));
    const before = this.#refused.get(key);
    const stub: StoredObject = { apiVersion, kind, metadata: keptMetadata(raw.metadata) };
    this.#refused.set(key, { problems, stub });
    const sameProblems = before !== undefined && JSON.stringify(before.problems) === JSON.stringify(problems);
    if (!sameProblems) {
      this.#o.logger.warn(
        { kind, namespace, name, resourceVersion: raw.metadata.resourceVersion, problems: problems.map(({ path, reason, message }) => ({ path, reason, message })) },
        'object refused by admission; not serving it',
      );
    }
    // Problems are recorded before the event, so a listener seeing it can already ask why.
    if (this.#o.table.has(kind, namespace, name)) this.#o.table.delete(kind, namespace, name);
    else if (!sameProblems) this.#o.table.announceNotServed(stub);
  }

  /** A refused object is gone: its problem goes, and listeners hear of it once more. */
  #forgetRefused(key: string, stub: StoredObject): void {
    this.#refused.delete(key);
    this.#o.table.announceNotServed(stub);
  }
}

function unchangedButStatus(held: ObjectMeta, next: ObjectMeta): boolean {
  return (
    held.uid !== undefined &&
    held.uid === next.uid &&
    held.generation !== undefined &&
    held.generation === next.generation &&
    isDeepStrictEqual(held.labels, next.labels) &&
    isDeepStrictEqual(held.annotations, next.annotations)
  );
}

function runAdmit(admit: Admit, doc: unknown): AdmitResult {
  try {
    const result = admit(doc);
    if (result.ok || result.errors.length > 0) return result;
    return { ok: false, errors: [{ path: '$', reason: 'Invalid', message: 'the object was refused' }] };
  } catch (err) {
    return {
      ok: false,
      errors: [{ path: '$', reason: 'AdmissionFailed', message: `admission failed: ${err instanceof Error ? err.message : String(err)}` }],
    };
  }
}
