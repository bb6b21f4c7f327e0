// Where objects come from: a Kubernetes informer cache or a folder of
// manifests. The store knows nothing of SAML; it hands out plain objects.

export type Kind = 'SsoConnector' | 'UserBinding' | 'Secret' | 'ConfigMap';

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  /** ISO-8601; orders "first created" decisions such as ReferenceUnique. */
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface StoredObject {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  spec?: unknown;
  /** Secret: base64 values; ConfigMap: plain values. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
  /** The status as last written (Kubernetes store only; manifests carry none). */
  status?: Record<string, unknown>;
}

export interface StoreEvent {
  type: 'upsert' | 'delete';
  object: StoredObject;
}

/** A document the store refused (standalone mode's admission). */
export interface SourceProblem {
  file: string;
  /** 0-based index of the YAML document inside the file. */
  documentIndex: number;
  /** JSON path of the offending field, `$` for the whole document. */
  path: string;
  reason: string;
  message: string;
  /** Identity of the object when it could be read. */
  object?: { kind: string; namespace?: string; name?: string };
}

export interface Store {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once the initial load/list is complete (of what start() waits for). */
  synced(): boolean;
  /**
   * Resolves once the first list of `kind` is complete, for a store whose
   * start() does not wait for every kind (the Kubernetes store lists
   * UserBindings in the background). Absent: start() waits for everything.
   */
  whenSynced?(kind: Kind): Promise<void>;
  list(kind: Kind, namespace?: string): StoredObject[];
  get(kind: Kind, namespace: string, name: string): StoredObject | undefined;
  /** Subscribe to changes; returns an unsubscribe function. */
  onChange(listener: (event: StoreEvent) => void): () => void;
  /** Documents or objects currently refused by admission. */
  problems(): SourceProblem[];
  /**
   * Which Secrets / ConfigMaps (`ns/name`) the controller reads, as a change:
   * `add` wanted from now, `remove` no longer. A store that keeps data only
   * for those (the Kubernetes store) loads what is new; stores that hold
   * everything leave it out. Resolves once the objects of `wait` (default
   * `add`) are readable. The change is
   * applied before the call returns (before any await), so changes sent by
   * concurrent reconciles apply in the order they were sent.
   */
  changeInterest?(kind: 'Secret' | 'ConfigMap', add: readonly string[], remove: readonly string[], wait?: readonly string[]): void | Promise<void>;
  /**
   * The status the object carries (cluster mode: as the apiserver last sent
   * it), so status writes compare with what is there and transition times
   * survive a restart. Default: the object's own `status`.
   */
  observedStatus?(kind: Kind, namespace: string, name: string): Record<string, unknown> | undefined;
}
