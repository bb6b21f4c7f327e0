// What the Kubernetes store serves: objects keyed by kind/namespace/name,
// with the apiserver's metadata as it came (unlike object-table.ts, which
// invents it for standalone mode), and the events listeners get. Reads and
// event delivery come from ObjectIndex (object-index.ts).
//
// An update that changes nothing but resourceVersion (a status write, which
// the store drops) replaces the object silently: listeners reconcile on
// content, and the next get() still sees the current resourceVersion.

import { isDeepStrictEqual } from 'node:util';
import { deepFreeze, ObjectIndex } from './object-index.ts';
import { objectKey } from './object-key.ts';
import type { Kind, StoredObject } from './types.ts';

export class KubeObjectTable extends ObjectIndex {
  /**
   * The status each custom object carries, as JSON text: read rarely (after a
   * restart or a leader change, to write only what differs and keep condition
   * transition times), so kept compact, apart from the objects, and never
   * compared for change: a status write is no event.
   */
  readonly #statuses = new Map<string, string>();
  /**
   * One copy of each status text, counted: 100,000 binding statuses written
   * at --kube-qps differ only by their transition times (to the second) and
   * generation, so ~100 of them share each text, and each copy is ~430 bytes.
   */
  readonly #texts = new Map<string, { text: string; refs: number }>();

  /**
   * Stores the object; emits an upsert unless only its resourceVersion (or
   * its status) changed. The table takes `input` over (and freezes it): the
   * callers build it fresh from what the apiserver sent, so it is not copied
   * again (100,000 copies at every list).
   */
  upsert(input: StoredObject, status?: unknown): void {
    const key = objectKey(input.kind, input.metadata.namespace, input.metadata.name);
    this.#setStatus(key, status);
    const previous = this.objects.get(key);
    const object = deepFreeze(input);
    this.objects.set(key, object);
    if (previous !== undefined && isDeepStrictEqual(withoutVersion(previous), withoutVersion(object))) return;
    this.emit([{ type: 'upsert', object }]);
  }

  /**
   * The object came again with nothing of its own changed but its
   * resourceVersion and status (a status write echoing back through the
   * watch): record those, emit nothing, copy nothing else. False when the
   * object is not held.
   */
  touch(kind: Kind, namespace: string, name: string, resourceVersion: string | undefined, status: unknown): boolean {
    const key = objectKey(kind, namespace, name);
    const previous = this.objects.get(key);
    if (previous === undefined) return false;
    this.#setStatus(key, status);
    const metadata = Object.freeze({ ...previous.metadata, ...(resourceVersion !== undefined ? { resourceVersion } : {}) });
    this.objects.set(key, Object.freeze({ ...previous, metadata }));
    return true;
  }

  /** Removes the object; emits a delete when it was there. */
  delete(kind: Kind, namespace: string, name: string): void {
    const key = objectKey(kind, namespace, name);
    this.#setStatus(key, undefined);
    const previous = this.objects.get(key);
    if (previous === undefined) return;
    this.objects.delete(key);
    this.emit([{ type: 'delete', object: previous }]);
  }

  /**
   * Emits a delete for an object that is not served (admission refused it),
   * so listeners look at it again and find why in problems().
   */
  announceNotServed(object: StoredObject): void {
    this.emit([{ type: 'delete', object: deepFreeze(structuredClone(object)) }]);
  }

  clear(): void {
    this.objects.clear();
    this.#statuses.clear();
    this.#texts.clear();
  }

  /** Records the status `key` carries (its pooled text), or that it carries none. */
  #setStatus(key: string, status: unknown): void {
    const before = this.#statuses.get(key);
    const text = status !== undefined && status !== null && typeof status === 'object' ? JSON.stringify(status) : undefined;
    if (text === before) return;
    if (before !== undefined) {
      const held = this.#texts.get(before);
      if (held !== undefined && --held.refs === 0) this.#texts.delete(before);
    }
    if (text === undefined) {
      this.#statuses.delete(key);
      return;
    }
    let held = this.#texts.get(text);
    if (held === undefined) this.#texts.set(text, (held = { text, refs: 0 }));
    held.refs++;
    this.#statuses.set(key, held.text);
  }

  /** Distinct status texts held (tests). */
  get distinctStatuses(): number {
    return this.#texts.size;
  }

  /** The status the object carried when last seen, or undefined. */
  status(kind: Kind, namespace: string, name: string): Record<string, unknown> | undefined {
    const text = this.#statuses.get(objectKey(kind, namespace, name));
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  }
}

function withoutVersion(object: StoredObject): StoredObject {
  const { resourceVersion: _rv, ...metadata } = object.metadata;
  return { ...object, metadata };
}
