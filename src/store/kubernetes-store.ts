// Cluster mode's store: supervised informers (kube-list-watch.ts) for
// SsoConnectors, UserBindings, Secrets and ConfigMaps in the watched
// namespaces (one informer per namespace and resource, or one cluster-wide).
//
// - Custom resources are held in full, each run through `admit`
//   (kube-custom-resources.ts); a refused one is a problem, not served.
// - Secrets and ConfigMaps are watched as metadata only; the data of one is
//   read and held only while it is in the interest set the controller
//   gives (kube-referenced-objects.ts).
// - The apiserver's metadata (uid, generation, resourceVersion,
//   creationTimestamp) is served as it came.
//
// Single use: start() once, stop() once.

import type { KubeAccess } from './kube-access.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Admit } from './admission.ts';
import type { BackoffOptions } from './kube-backoff.ts';
import { CustomResources } from './kube-custom-resources.ts';
import { ListWatch } from './kube-list-watch.ts';
import { KubeObjectTable } from './kube-object-table.ts';
import { ReferencedObjects, type CacheEntry, type ReferencedKind } from './kube-referenced-objects.ts';
import {
  ACCEPT_JSON,
  ACCEPT_METADATA,
  ACCEPT_METADATA_LIST,
  RESOURCE_NAMES,
  RESOURCES,
  collectionPath,
  type KubeResource,
  type ResourceName,
} from './kube-resources.ts';
import { attachStaleness } from './kube-staleness.ts';
import { kubeTransport, type KubeTransport } from './kube-transport.ts';
import { silentLogger, type StoreLogger } from './logger.ts';
import { TableBackedStore } from './table-backed-store.ts';
import type { Kind, SourceProblem, Store } from './types.ts';

export interface KubernetesStoreOptions {
  kubeConfig: KubeAccess;
  /** Namespaces to watch; empty or undefined = all. */
  namespaces?: string[];
  admit: Admit;
  logger?: StoreLogger;
  metrics?: Pick<Metrics, 'informerStaleness'>;
  /** Restart backoff of every informer (default 200 ms doubling to 30 s, reset after 30 s of health). */
  backoff?: BackoffOptions;
  /** How long start() waits for the initial lists (default 60000 ms). */
  syncTimeoutMs?: number;
  /** Server-side watch timeout per watch request (default a random 5-10 min). */
  watchTimeoutSeconds?: () => number;
  /** Replaces the HTTP client built from kubeConfig (tests). */
  transport?: KubeTransport;
  /**
   * Kinds whose first list start() and synced() do not wait for: they go on
   * listing after start() resolved (whenSynced tells when they are complete).
   * Cluster mode lists the 100,000 UserBindings so, serving from the
   * connectors while the binding index fills (its decisions wait for it).
   */
  background?: readonly Kind[];
}

interface Informer {
  kind: Kind;
  resource: ResourceName;
  namespace: string | undefined;
  listWatch: ListWatch;
}

export class KubernetesStore extends TableBackedStore<KubeObjectTable> implements Store {
  readonly #o: KubernetesStoreOptions;
  readonly #logger: StoreLogger;
  readonly #namespaces: (string | undefined)[];
  readonly #transport: KubeTransport;
  readonly #abort = new AbortController();
  readonly #custom = new Map<Kind, CustomResources>();
  readonly #referenced: Record<ReferencedKind, ReferencedObjects>;
  readonly #informers: Informer[] = [];
  #state: 'new' | 'started' | 'stopped' = 'new';
  #detachMetrics: (() => void) | undefined;

  constructor(options: KubernetesStoreOptions) {
    const logger = options.logger ?? silentLogger;
    super(new KubeObjectTable(logger));
    this.#o = options;
    this.#logger = logger;
    const namespaces = [...new Set(options.namespaces ?? [])].filter((n) => n !== '');
    this.#namespaces = namespaces.length > 0 ? namespaces : [undefined];
    this.#transport = options.transport ?? kubeTransport(options.kubeConfig);
    const referenced = (kind: ReferencedKind): ReferencedObjects =>
      new ReferencedObjects({
        kind,
        resource: resourceOf(kind),
        table: this.table,
        transport: this.#transport,
        logger: this.#logger,
        signal: this.#abort.signal,
        backoff: options.backoff,
      });
    this.#referenced = { Secret: referenced('Secret'), ConfigMap: referenced('ConfigMap') };
    for (const resource of RESOURCES) {
      if (resource.metadataOnly) continue;
      this.#custom.set(resource.kind, new CustomResources({ resource, table: this.table, admit: options.admit, logger: this.#logger }));
    }
  }

  /** Starts the informers; resolves once every initial list completed. */
  async start(): Promise<void> {
    if (this.#state === 'stopped') throw new Error('a stopped KubernetesStore cannot be started again');
    if (this.#state === 'started') return;
    this.#state = 'started';
    const started = Date.now();
    for (const resource of RESOURCES) {
      for (const namespace of this.#namespaces) {
        const listWatch = new ListWatch({
          transport: this.#transport,
          path: collectionPath(resource, namespace),
          resource: resource.plural,
          namespace,
          accept: resource.metadataOnly
            ? { list: ACCEPT_METADATA_LIST, watch: ACCEPT_METADATA }
            : { list: ACCEPT_JSON, watch: ACCEPT_JSON },
          handler: this.#handler(resource, namespace),
          logger: this.#logger,
          backoff: this.#o.backoff,
          watchTimeoutSeconds: this.#o.watchTimeoutSeconds,
        });
        this.#informers.push({ kind: resource.kind, resource: resource.plural, namespace, listWatch });
      }
    }
    if (this.#o.metrics) this.#detachMetrics = attachStaleness(this.#o.metrics.informerStaleness, () => this.#staleness());
    this.#logger.info({ namespaces: this.#namespaces[0] === undefined ? 'all' : this.#namespaces }, 'starting Kubernetes informers');
    for (const informer of this.#informers) if (!this.#isBackground(informer)) informer.listWatch.start();

    const timeoutMs = this.#o.syncTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const stopped = new Promise<'stopped'>((resolve) => this.#abort.signal.addEventListener('abort', () => resolve('stopped'), { once: true }));
    const foreground = this.#informers.filter((i) => !this.#isBackground(i));
    const synced = Promise.all(foreground.map((i) => i.listWatch.whenSynced())).then(() => 'synced' as const);
    const outcome = await Promise.race([synced, timedOut, stopped]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const pending = describePending(foreground);
      await this.stop();
      throw new Error(`the Kubernetes informers did not sync within ${timeoutMs / 1000} s: ${pending.join('; ')}`);
    }
    if (outcome !== 'synced') return;
    const background = this.#informers.filter((i) => this.#isBackground(i));
    if (background.length === 0) {
      this.#logger.info({ ms: Date.now() - started, informers: this.#informers.length }, 'Kubernetes informers synced');
      return;
    }
    this.#logger.info({ ms: Date.now() - started, informers: foreground.length, listing: [...new Set(background.map((i) => i.resource))] }, 'Kubernetes informers synced but for the background ones; serving');
    // The background lists go on (their informers retry as any other); one
    // that takes longer than the sync timeout is logged as an error, since
    // every decision that needs those objects answers 503 meanwhile.
    const late = setTimeout(() => {
      const pending = describePending(background);
      this.#logger.error({ pending }, `background informers did not sync within ${timeoutMs / 1000} s; still trying`);
    }, timeoutMs);
    late.unref();
    void Promise.race([Promise.all(background.map((i) => i.listWatch.whenSynced())), stopped]).then((r) => {
      clearTimeout(late);
      if (r !== 'stopped') this.#logger.info({ ms: Date.now() - started, informers: this.#informers.length }, 'Kubernetes informers synced');
    });
  }

  /** Aborts every request and timer. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#abort.abort();
    this.#referenced.Secret.stop();
    this.#referenced.ConfigMap.stop();
    await Promise.all(this.#informers.map((i) => i.listWatch.stop()));
    this.#detachMetrics?.();
    this.#detachMetrics = undefined;
  }

  /** Every informer start() waits for has listed once (not those of `background` kinds). */
  synced(): boolean {
    return this.#informers.length > 0 && this.#informers.every((i) => this.#isBackground(i) || i.listWatch.synced);
  }

  /**
   * Resolves once every informer of `kind` has listed once. A background
   * kind's informers start here (after start()): the caller first does what
   * serving needs (compiling the connectors) without their pages competing
   * for the CPU; with them listed at once, /readyz came 10 s later.
   */
  whenSynced(kind: Kind): Promise<void> {
    const informers = this.#informers.filter((i) => i.kind === kind);
    if (this.#state === 'started') for (const i of informers) i.listWatch.start();
    return Promise.all(informers.map((i) => i.listWatch.whenSynced())).then(() => undefined);
  }

  #isBackground(informer: Informer): boolean {
    return this.#o.background?.includes(informer.kind) ?? false;
  }

  problems(): SourceProblem[] {
    return [...this.#custom.values()].flatMap((c) => c.problems()).map((p) => structuredClone(p));
  }

  /**
   * Which Secrets or ConfigMaps (`namespace/name`) the controller needs, by
   * what changed: `add` are read and announced with an upsert, `remove` are
   * dropped (announced with a delete); resolves once the objects of `wait`
   * (default `add`) are readable.
   */
  changeInterest(kind: ReferencedKind, add: readonly string[], remove: readonly string[], wait?: readonly string[]): Promise<void> {
    return this.#referenced[kind].changeInterest(add, remove, wait);
  }

  /** The status a custom object carries, as last seen by the informer (the store's objects leave it out). */
  observedStatus(kind: Kind, namespace: string, name: string): Record<string, unknown> | undefined {
    return this.table.status(kind, namespace, name);
  }

  /** What the store knows of each Secret (or ConfigMap), for tests: never any data. */
  debugCache(kind: ReferencedKind = 'Secret'): CacheEntry[] {
    return this.#referenced[kind].debug();
  }

  #handler(resource: KubeResource, namespace: string | undefined) {
    if (resource.kind === 'Secret' || resource.kind === 'ConfigMap') return this.#referenced[resource.kind].handler(namespace);
    return (this.#custom.get(resource.kind) as CustomResources).handler(namespace);
  }

  /** Per resource, the worst of its informers, in seconds. */
  #staleness(): [string, number][] {
    const now = Date.now();
    return RESOURCE_NAMES.map((resource) => {
      let oldest = now;
      for (const i of this.#informers) if (i.resource === resource) oldest = Math.min(oldest, i.listWatch.lastActivity);
      return [resource, (now - oldest) / 1000];
    });
  }
}

/** The informers that have not listed yet, as the sync logs name them. */
function describePending(informers: readonly Informer[]): string[] {
  return informers.filter((i) => !i.listWatch.synced).map((i) => `${i.resource}${i.namespace ? ` in namespace ${i.namespace}` : ''} (${i.listWatch.lastError ?? 'no answer yet'})`);
}

function resourceOf(kind: Kind): KubeResource {
  return RESOURCES.find((r) => r.kind === kind) as KubeResource;
}
