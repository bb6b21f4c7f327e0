// The read side every store serves straight from its table: list, get and
// onChange. The subclass fills the table (files, code or informers) and
// implements the rest of Store.

import type { ObjectIndex, StoreListener } from './object-index.ts';
import type { Kind, StoredObject } from './types.ts';

export abstract class TableBackedStore<Table extends ObjectIndex> {
  protected readonly table: Table;

  constructor(table: Table) {
    this.table = table;
  }

  list(kind: Kind, namespace?: string): StoredObject[] {
    return this.table.list(kind, namespace);
  }

  get(kind: Kind, namespace: string, name: string): StoredObject | undefined {
    return this.table.get(kind, namespace, name);
  }

  onChange(listener: StoreListener): () => void {
    return this.table.onChange(listener);
  }
}
