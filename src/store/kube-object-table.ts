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
  /** Stores the object; emits an upsert unless only its resourceVersion changed. */
  upsert(input: StoredObject): void {
    const key = objectKey(input.kind, input.metadata.namespace, input.metadata.name);
    const previous = this.objects.get(key);
    const object = deepFreeze(structuredClone(input));
    this.objects.set(key, object);
    if (previous !== undefined && isDeepStrictEqual(withoutVersion(previous), withoutVersion(object))) return;
    this.emit([{ type: 'upsert', object }]);
  }

  /** Removes the object; emits a delete when it was there. */
  delete(kind: Kind, namespace: string, name: string): void {
    const key = objectKey(kind, namespace, name);
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
  }
}

function withoutVersion(object: StoredObject): StoredObject {
  const { resourceVersion: _rv, ...metadata } = object.metadata;
  return { ...object, metadata };
}
