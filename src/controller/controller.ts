// The controller: store events -> per-key queue -> level-based reconcile ->
// registry swap, then status. Reconcile reads the current state for a key and
// makes the registry and status match it, so a missed or repeated event is
// harmless.
//
// Trust changes first, whatever the backlog. What we defend against: a
// removed IdP certificate, a disabled connector or a denied binding staying
// trusted while the change waits behind bookkeeping (a burst of 100,000 new
// bindings once kept a replaced certificate valid for more than 5 s).
// - Bindings are applied to the registry's index as their events arrive: one
//   O(1) step, never queued. Only their status waits, in its own queue.
// - Connector reconciles wait in two lanes: `trust` for changes that can
//   narrow trust (a referenced Secret changed, a spec changed, a deletion, a
//   manifest refused) and `reconcile` for the rest (new connectors, retries,
//   scheduled requeues). A trust change runs next, however long the other
//   lane is.
// - Status and Events go to the StatusWriter after the registry is updated,
//   and nothing here waits for them (status-writer.ts).

import type { Logger } from 'pino';
import type { SsoConnector, UserBinding } from '../api/index.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { forgetConnector, setIdpCertificates } from '../metrics/metrics.ts';
import { objectKey } from '../store/object-key.ts';
import type { Store, StoreEvent, StoredObject } from '../store/types.ts';
import { compileConnector, connectorURLs, referencedConfigMapNames, referencedSecretNames, type SecretLookup } from './compile-connector.ts';
import { MetadataFetcher, type FetchedMetadata } from '../saml/metadata-fetcher.ts';
import { type ConditionInput, mergeConditions, type Condition } from './conditions.ts';
import { InterestCount } from './interest.ts';
import type { BindingPhase, ConnectorRuntime, Registry } from './registry.ts';
import type { QueueStats } from '../metrics/metrics.ts';
import type { StatusKind } from './status-sink.ts';
import type { StatusWriter } from './status-writer.ts';
import { WorkQueue, type ReconcileResult } from './work-queue.ts';
import { OidcDiscovery } from '../oidc/discovery.ts';

export interface ControllerOptions {
  store: Store;
  registry: Registry;
  /** Status and Events go here, after the registry; never awaited. */
  status: StatusWriter;
  metrics: Metrics;
  logger: Logger;
  publicURL: string;
  now?: () => Date;
  /** OIDC discovery (default: openid-client over the network, refreshed hourly). */
  discovery?: OidcDiscovery;
  /** IdP metadata urls (default: fetched over the network). */
  metadataFetcher?: MetadataFetcher;
}

const CONNECTOR = 'SsoConnector';
const BINDING = 'UserBinding';
const LANES = ['trust', 'reconcile'] as const;
/** Connector reconciles at once (besides the one reserved for trust changes). */
const CONNECTOR_WORKERS = 8;
/**
 * Binding statuses computed ahead of their write (the writer's queue); the
 * rest wait as keys (#reconcileBindingStatus). Thousands, so writes never
 * wait for a computation, and a backlog still shows in status_bindings.
 */
const BINDING_STATUS_BACKLOG = 5000;
/**
 * The binding-status queue's lanes. `check`: a binding changed, or every one
 * is looked at after a start or a leader change; its status is computed and
 * compared with what it carries, and most need no write. `write`: one that
 * needs a write while the writer holds BINDING_STATUS_BACKLOG waits here as
 * its key, and is computed again once there is room. Before, one key waiting
 * for room held up every key behind it: after a restart with 5,000 statuses
 * out of date, the other 95,000 bindings, which needed nothing, stayed
 * queued for the ~50 s the writes took at --kube-qps 100 (about 9 MB of keys,
 * and a binding_status depth of 100,000 that meant nothing).
 */
const BINDING_LANES = ['check', 'write'] as const;
type BindingLane = (typeof BINDING_LANES)[number];
type Lane = (typeof LANES)[number];

export class Controller {
  readonly #o: ControllerOptions;
  /** Connector reconciles. */
  readonly #queue: WorkQueue<Lane>;
  /** Binding status: bookkeeping (their serving state is applied as their events arrive). */
  readonly #bindingStatus: WorkQueue<BindingLane>;
  readonly #now: () => Date;
  /** `ns/secretName` -> connector keys that read it (an index, not a scan). */
  readonly #secretIndex = new Map<string, Set<string>>();
  /** connector key -> secret index keys it is listed under, to unindex on change. */
  readonly #connectorSecrets = new Map<string, string[]>();
  /**
   * The Secrets the store must hold: one hold per connector listed in
   * #secretIndex, and one per reconcile in flight about to read it (so a
   * Secret being read stays wanted whatever another reconcile sends).
   */
  readonly #secretInterest = new InterestCount();
  /** The same three for ConfigMaps (an IdP metadata file). */
  readonly #configMapIndex = new Map<string, Set<string>>();
  readonly #connectorConfigMaps = new Map<string, string[]>();
  readonly #configMapInterest = new InterestCount();
  /** IdP metadata urls, fetched apart from reconciles (saml/metadata-fetcher.ts). */
  readonly #metadata: MetadataFetcher;
  /** connector key -> the last copy of its metadata url that passed every check. */
  readonly #lastGoodMetadata = new Map<string, FetchedMetadata>();
  readonly #conditions = new Map<string, Condition[]>();
  /** Connectors the store holds, as last told by its events: bindings need a second look only when this set changes. */
  readonly #connectorsInStore = new Set<string>();
  /** Refused connector manifests already reconciled, with the problem seen, so each is queued once per change. */
  readonly #problemsSeen = new Map<string, string>();
  /**
   * False while the store's first lists are still coming in. Until then
   * events are ignored: nothing is indexed, reconciled or given a status
   * (start() looks at everything once they are complete), because a connector whose Secret is not listed yet would be
   * written as SecretNotFound (and announced) a moment before it is Ready.
   */
  #storeSynced = false;
  #unsubscribe: (() => void) | undefined;
  /** OpenID Providers' metadata, fetched apart from reconciles (oidc/discovery.ts). */
  readonly #discovery: OidcDiscovery;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    const onError = (key: string, err: unknown) => this.#o.logger.error({ key, err: (err as Error).message }, 'reconcile failed; retrying with backoff');
    // Several workers for any lane (1,000 connectors created at once each
    // wait for their Secret to be read: one at a time that took 22 s) and one
    // only for trust changes: a trust change never waits for a reconcile
    // that is reading a new Secret from the apiserver.
    this.#queue = new WorkQueue<Lane>((key) => this.#reconcile(key, () => this.#reconcileConnector(key)), {
      lanes: LANES,
      concurrency: CONNECTOR_WORKERS,
      reservedFor: 'trust',
      onError,
    });
    // One worker for `check` only, so keys that need no write never wait behind one waiting for room.
    this.#bindingStatus = new WorkQueue<BindingLane>((key, lane) => this.#reconcile(key, () => this.#reconcileBindingStatus(key, lane)), {
      lanes: BINDING_LANES,
      reservedFor: 'check',
      onError,
    });
    // A provider's metadata changed, appeared or failed: its connectors are compiled
    // again at once (new endpoints or keys are trust changes).
    this.#discovery =
      options.discovery ??
      new OidcDiscovery({
        logger: options.logger,
        onChange: (issuer) => {
          const inUse = new Set<string>();
          for (const c of this.#o.store.list(CONNECTOR) as unknown as SsoConnector[]) {
            if (c.spec.oidc) inUse.add(c.spec.oidc.issuer);
            if (c.spec.oidc?.issuer === issuer) this.#queue.add(keyOf(CONNECTOR, c as unknown as StoredObject), 'trust');
          }
          // Providers no connector names any more are not fetched again.
          this.#discovery.retain(inUse);
        },
      });
    // An IdP's metadata changed, appeared or failed: the same, for SAML connectors.
    this.#metadata =
      options.metadataFetcher ??
      new MetadataFetcher({
        logger: options.logger,
        onChange: (url) => {
          const inUse = new Set<string>();
          for (const c of this.#o.store.list(CONNECTOR) as unknown as SsoConnector[]) {
            const u = c.spec.saml?.idp.metadata?.url;
            if (u !== undefined) inUse.add(u);
            if (u === url) this.#queue.add(keyOf(CONNECTOR, c as unknown as StoredObject), 'trust');
          }
          this.#metadata.retain(inUse);
        },
      });
  }

  /**
   * Starts the store and resolves once the registry serves what it holds:
   * every binding indexed and every connector compiled. Binding status is
   * bookkeeping and goes on afterwards (readiness does not wait for it).
   */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.store.onChange((ev) => this.#onEvent(ev));
    // A store that lists the bindings in the background (cluster mode):
    // start() returns once the connectors are compiled, and every decision
    // that reads the binding index waits until the last binding is in it.
    const index = this.#o.registry.current().bindings;
    const bindingsListed = this.#o.store.whenSynced?.bind(this.#o.store);
    if (bindingsListed) index.loading();
    await this.#o.store.start();
    this.#storeSynced = true;
    this.#connectorsInStore.clear();
    const connectors = this.#o.store.list(CONNECTOR);
    // Every Secret the connectors reference is read at once (in parallel,
    // as many at a time as the store allows) before they are compiled,
    // rather than one reconcile after another each waiting for its own.
    const wanted: string[] = [];
    for (const c of connectors) for (const n of referencedSecretNames(c as unknown as SsoConnector)) wanted.push(`${c.metadata.namespace}/${n}`);
    this.#secretInterest.hold(wanted);
    try {
      await this.#flushInterest('Secret', wanted);
      for (const c of connectors) {
        this.#connectorsInStore.add(keyOf(CONNECTOR, c));
        this.#queue.add(keyOf(CONNECTOR, c), 'reconcile');
      }
      for (const b of this.#o.store.list(BINDING)) this.#bindingChanged(b.metadata.namespace, b.metadata.name);
      this.#enqueueProblemConnectors();
      await this.#queue.idle();
    } finally {
      this.#secretInterest.release(wanted);
    }
    // Secrets no connector took up after all (one changed meanwhile) are dropped.
    await this.#flushInterest('Secret');
    // Now the bindings' list starts. They are indexed as their pages arrive
    // (#onEvent): the connectors they name are all known. Complete once the
    // list is: its last page was applied (synchronously) before whenSynced
    // resolves.
    if (bindingsListed) {
      void bindingsListed(BINDING).then(() => {
        index.markComplete();
        // Their status, held back while they were listed (it competes for the CPU the list needs).
        this.republishBindingStatuses();
      });
    }
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#queue.stop();
    this.#bindingStatus.stop();
    this.#discovery.stop();
    this.#metadata.stop();
    await this.#o.store.stop();
  }

  /**
   * This replica became leader: every binding's status is computed and
   * published again (the writer keeps none that matched what the object
   * carried; another leader may have written since). While the first list
   * is coming in, its end does this.
   */
  republishBindingStatuses(): void {
    if (!this.#storeSynced || !this.#o.registry.current().bindings.complete) return;
    for (const b of this.#o.store.list(BINDING)) this.#bindingStatus.add(objectKey(BINDING, b.metadata.namespace, b.metadata.name), 'check');
  }

  /** Resolves once every queued reconcile has run and its status is written (tests). */
  async idle(): Promise<void> {
    for (;;) {
      await this.#queue.idle();
      await this.#bindingStatus.idle();
      await this.#o.status.idle();
      if (this.#queue.depth('trust') + this.#queue.depth('reconcile') + this.#bindingStatusDepth() === 0) return;
    }
  }

  /** Depth and age of the oldest key of each queue (metrics). */
  queueStats(): QueueStats[] {
    return [
      { queue: 'reconcile_trust', depth: this.#queue.depth('trust'), oldestSeconds: this.#queue.oldestAgeSeconds('trust') },
      { queue: 'reconcile', depth: this.#queue.depth('reconcile'), oldestSeconds: this.#queue.oldestAgeSeconds('reconcile') },
      {
        queue: 'binding_status',
        depth: this.#bindingStatusDepth(),
        oldestSeconds: Math.max(this.#bindingStatus.oldestAgeSeconds('check'), this.#bindingStatus.oldestAgeSeconds('write')),
      },
      { queue: 'status_connectors', depth: this.#o.status.depth(CONNECTOR), oldestSeconds: this.#o.status.oldestAgeSeconds(CONNECTOR) },
      { queue: 'status_bindings', depth: this.#o.status.depth(BINDING), oldestSeconds: this.#o.status.oldestAgeSeconds(BINDING) },
    ];
  }

  #onEvent(ev: StoreEvent): void {
    const obj = ev.object;
    const ns = obj.metadata.namespace;
    // During the first sync start() looks at everything once it is complete
    // (nothing is served before): indexing 100,000 bindings as they came,
    // before their connectors were listed, then again, cost seconds.
    if (!this.#storeSynced) return;
    switch (obj.kind) {
      case CONNECTOR: {
        const key = keyOf(CONNECTOR, obj);
        const serving = this.#o.registry.current().connectors.get(`${ns}/${obj.metadata.name}`);
        // A deletion, a refused manifest or a changed spec may narrow trust; a
        // connector the registry does not have yet can only widen it.
        const narrows = serving !== undefined && (ev.type === 'delete' || serving.generation !== obj.metadata.generation);
        this.#queue.add(key, narrows ? 'trust' : 'reconcile');
        // Reference ownership: the others holding the reference this one had
        // or has now may win or lose it (an older connector taking up a
        // reference, a tie on creation time), so they are trust changes too.
        const references = new Set([serving?.reference, ev.type === 'delete' ? undefined : (obj.spec as SsoConnector['spec']).reference]);
        references.delete(undefined);
        if (references.size > 0) {
          for (const c of this.#o.store.list(CONNECTOR, ns)) {
            if (c.metadata.name !== obj.metadata.name && references.has((c.spec as SsoConnector['spec']).reference)) this.#queue.add(keyOf(CONNECTOR, c), 'trust');
          }
        }
        // A binding's phase depends on whether its connectors exist: only an
        // appearing or vanishing connector changes it, not an edit (20,000
        // bindings of one connector need no second look when it is disabled).
        const existed = this.#connectorsInStore.has(key);
        if (ev.type === 'delete') this.#connectorsInStore.delete(key);
        else this.#connectorsInStore.add(key);
        if (existed !== (ev.type !== 'delete')) {
          for (const b of this.#o.registry.current().bindings.bindingsOf(`${ns}/${obj.metadata.name}`)) {
            const [bns, bname] = b.split('/') as [string, string];
            this.#bindingChanged(bns, bname);
          }
        }
        this.#enqueueProblemConnectors();
        break;
      }
      case 'Secret':
        for (const key of this.#secretIndex.get(`${ns}/${obj.metadata.name}`) ?? []) this.#queue.add(key, 'trust');
        break;
      case 'ConfigMap':
        for (const key of this.#configMapIndex.get(`${ns}/${obj.metadata.name}`) ?? []) this.#queue.add(key, 'trust');
        break;
      case BINDING:
        this.#bindingChanged(ns, obj.metadata.name);
        break;
      default:
        break;
    }
  }

  /**
   * Connectors whose manifest is currently refused must show Ready=False and
   * answer 503, not vanish: each new problem is queued once, as a trust change.
   */
  #enqueueProblemConnectors(): void {
    for (const p of this.#o.store.problems()) {
      if (p.object?.kind === CONNECTOR && p.object.name) {
        const ns = p.object.namespace ?? 'default';
        // A problem beside a served definition (a duplicate of it) changes nothing served.
        if (this.#o.store.get(CONNECTOR, ns, p.object.name) !== undefined) continue;
        const key = objectKey(CONNECTOR, ns, p.object.name);
        if (this.#problemsSeen.get(key) !== problemText(p)) this.#queue.add(key, 'trust');
      }
    }
  }

  /**
   * A binding changed (or one of its connectors appeared or went): the index
   * the request path reads is updated now, in one synchronous step; its
   * status is queued as bookkeeping.
   */
  #bindingChanged(ns: string, name: string): void {
    const obj = this.#o.store.get(BINDING, ns, name) as unknown as UserBinding | undefined;
    const bindings = this.#o.registry.current().bindings;
    if (!obj) bindings.remove(ns, name);
    else {
      const { phase } = bindingPhase(obj, (c) => this.#o.store.get(CONNECTOR, ns, c) !== undefined);
      bindings.upsert({
        namespace: ns,
        name,
        user: obj.spec.user,
        connectors: obj.spec.connectors.map((c) => `${ns}/${c}`),
        groups: obj.spec.groups ?? [],
        phase,
      });
    }
    // While the first list is coming in, statuses wait for its end (start() queues them all then).
    if (bindings.complete) this.#bindingStatus.add(objectKey(BINDING, ns, name), 'check');
  }

  async #reconcile(queueKey: string, run: () => Promise<ReconcileResult>): Promise<ReconcileResult> {
    const kind = queueKey.slice(0, queueKey.indexOf('/'));
    const started = process.hrtime.bigint();
    let result = 'success';
    try {
      return await run();
    } catch (err) {
      result = 'error';
      throw err;
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.#o.metrics.reconcileTotal.inc({ kind, result });
      this.#o.metrics.reconcileDuration.observe({ kind }, seconds);
    }
  }

  #secretLookup: SecretLookup = (namespace, name, key) => {
    const s = this.#o.store.get('Secret', namespace, name);
    if (!s) return { missing: 'SecretNotFound' };
    const b64 = s.data?.[key];
    if (b64 === undefined) return { missing: 'SecretKeyNotFound' };
    return { value: Buffer.from(b64, 'base64').toString('utf8') };
  };

  #configMapLookup: SecretLookup = (namespace, name, key) => {
    const c = this.#o.store.get('ConfigMap', namespace, name);
    if (!c) return { missing: 'SecretNotFound' };
    const v = c.data?.[key];
    return v === undefined ? { missing: 'SecretKeyNotFound' } : { value: v };
  };

  #indexConfigMaps(connectorKey: string, namespace: string, names: readonly string[]): void {
    reindex(this.#configMapIndex, this.#connectorConfigMaps, this.#configMapInterest, connectorKey, names.map((n) => `${namespace}/${n}`));
  }

  #indexSecrets(connectorKey: string, namespace: string, secretNames: readonly string[]): void {
    reindex(this.#secretIndex, this.#connectorSecrets, this.#secretInterest, connectorKey, secretNames.map((s) => `${namespace}/${s}`));
  }

  /**
   * Tells the store which Secrets or ConfigMaps became wanted or unwanted
   * since it was last told; resolves once those of `wait` are readable.
   */
  async #flushInterest(kind: 'Secret' | 'ConfigMap', wait: readonly string[] = []): Promise<void> {
    if (!this.#o.store.changeInterest) return;
    const { add, remove } = (kind === 'Secret' ? this.#secretInterest : this.#configMapInterest).take();
    if (add.length === 0 && remove.length === 0 && wait.length === 0) return;
    await this.#o.store.changeInterest(kind, add, remove, wait);
  }

  async #reconcileConnector(queueKey: string): Promise<ReconcileResult> {
    const [, ns, name] = queueKey.split('/') as [string, string, string];
    const key = `${ns}/${name}`;
    const obj = this.#o.store.get(CONNECTOR, ns, name) as unknown as SsoConnector | undefined;
    const now = this.#now();
    if (!obj) {
      // The registry first: the I/O below (interest, metrics) must not keep a
      // deleted or refused connector trusted while it runs.
      const problem = this.#o.store
        .problems()
        .find((p) => p.object?.kind === CONNECTOR && p.object.name === name && (p.object.namespace ?? 'default') === ns);
      if (!problem) {
        this.#o.registry.setConnector(key, undefined);
        this.#conditions.delete(queueKey);
        this.#problemsSeen.delete(queueKey);
        this.#o.status.forget(CONNECTOR, ns, name);
      } else {
        this.#problemsSeen.set(queueKey, problemText(problem));
        // Fail closed: a connector whose manifest was replaced by an invalid one
        // answers 503 instead of continuing with a configuration that is gone.
        const urls = connectorURLs(this.#o.publicURL, ns, name);
        // Standalone problems name a file and document; cluster ones an API path.
        const where = problem.file.startsWith('/apis/') ? '' : `${problem.file} document ${problem.documentIndex}: `;
        const message = `${where}${problem.path}: ${problem.message}`;
        this.#o.registry.setConnector(key, {
          key,
          namespace: ns,
          name,
          enabled: true,
          ready: false,
          notReadyReason: 'ManifestInvalid',
          stage: 'Production',
          protocol: 'SAML2',
          sessionTtlSeconds: 0,
          passAccessToken: false,
          admins: [],
          loginURL: urls.loginURL,
          metadataURL: urls.metadataURL,
        });
        const conditions = this.#merge(queueKey, [{ type: 'Ready', status: 'False', reason: 'ManifestInvalid', message }], undefined, now);
        this.#o.status.publish(CONNECTOR, ns, name, undefined, { conditions });
      }
      this.#updateConnectorGauge();
      this.#indexSecrets(queueKey, ns, []);
      this.#indexConfigMaps(queueKey, ns, []);
      this.#lastGoodMetadata.delete(key);
      await this.#flushInterest('Secret');
      await this.#flushInterest('ConfigMap');
      await forgetConnector(this.#o.metrics, ns, name);
      return undefined;
    }
    this.#problemsSeen.delete(queueKey);

    // Tell the store which Secrets are read before reading them: a store that
    // keeps Secret data only for referenced objects loads this one first.
    // (Only for Secrets it did not read before: a trust change to a connector,
    // whose Secrets are known, goes straight to compiling.) They are held
    // until the connector is indexed under them below, so no other
    // reconcile's change drops them in between.
    const wanted = referencedSecretNames(obj).map((name) => `${ns}/${name}`);
    const wantedConfigMaps = referencedConfigMapNames(obj).map((name) => `${ns}/${name}`);
    const holdSecrets = this.#o.store.changeInterest !== undefined && wanted.some((k) => !this.#secretIndex.get(k)?.has(queueKey));
    const holdConfigMaps = this.#o.store.changeInterest !== undefined && wantedConfigMaps.some((k) => !this.#configMapIndex.get(k)?.has(queueKey));
    if (holdSecrets) this.#secretInterest.hold(wanted);
    if (holdConfigMaps) this.#configMapInterest.hold(wantedConfigMaps);
    let out: ReturnType<typeof compileConnector>;
    try {
      if (holdSecrets) await this.#flushInterest('Secret', wanted);
      if (holdConfigMaps) await this.#flushInterest('ConfigMap', wantedConfigMaps);
      // Siblings matter to a connector with a reference only (who owns it):
      // listing 1,000 of them for each of 1,000 reconciles was O(n^2).
      const siblings = obj.spec.reference === undefined ? [] : (this.#o.store.list(CONNECTOR, ns) as unknown as SsoConnector[]);
      const lastGood = this.#lastGoodMetadata.get(key);
      out = compileConnector({
        connector: obj,
        secret: this.#secretLookup,
        configMap: this.#configMapLookup,
        publicURL: this.#o.publicURL,
        siblings,
        now,
        discovery: (issuer) => this.#discovery.get(issuer),
        idpMetadata: (url, refreshMs) => this.#metadata.get(url, refreshMs),
        ...(lastGood ? { lastGoodMetadata: lastGood } : {}),
      });
      if (out.metadataAccepted) this.#lastGoodMetadata.set(key, out.metadataAccepted);
      else if (out.metadataURL === undefined) this.#lastGoodMetadata.delete(key);
      const previous = this.#o.registry.current().connectors.get(key);
      this.#o.registry.setConnector(key, out.runtime);
      this.#logTransition(previous, out.runtime, out.conditions);
      this.#indexSecrets(queueKey, ns, out.secretNames);
      this.#indexConfigMaps(queueKey, ns, out.configMapNames ?? []);
    } finally {
      if (holdSecrets) this.#secretInterest.release(wanted);
      if (holdConfigMaps) this.#configMapInterest.release(wantedConfigMaps);
    }
    await this.#flushInterest('Secret');
    await this.#flushInterest('ConfigMap');

    await setIdpCertificates(this.#o.metrics, ns, name, out.trusted);
    this.#updateConnectorGauge();

    const generation = obj.metadata.generation;
    const conditions = this.#merge(queueKey, out.conditions, generation, now);
    this.#o.status.publish(CONNECTOR, ns, name, obj.metadata.uid, {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions,
      ...out.fields,
    });
    // A certificate expiring (or becoming valid) changes trust: the trust lane.
    if (out.requeueAt) return { requeueAfterMs: Math.max(0, out.requeueAt.getTime() - now.getTime()), lane: 'trust' };
    return undefined;
  }

  #logTransition(previous: ConnectorRuntime | undefined, next: ConnectorRuntime, conditions: ConditionInput[]): void {
    if (previous && previous.ready === next.ready && previous.notReadyReason === next.notReadyReason && previous.generation === next.generation) return;
    const ready = conditions.find((c) => c.type === 'Ready')!;
    const log = { connector: next.key, reference: next.reference, ready: ready.status, reason: ready.reason, message: ready.message };
    if (next.ready) this.#o.logger.info(log, 'connector reconciled');
    else this.#o.logger.warn(log, 'connector not ready');
  }

  #merge(queueKey: string, next: ConditionInput[], generation: number | undefined, now: Date): Condition[] {
    // After a restart or a leader change, start from the status already on the
    // object so transition times stay those of the real transitions.
    // The conditions the object carries come first (as the leader wrote them,
    // with its transition times), so a replica that becomes leader does not
    // rewrite every object for a timestamp a second apart.
    const stored = this.#storedStatus(queueKey)?.conditions as Condition[] | undefined;
    const binding = queueKey.startsWith(`${BINDING}/`);
    // A binding without a status yet: the one the writer holds for it (pending
    // or written this term), rather than a copy of every binding's here.
    const [, ns, name] = binding && stored === undefined ? (queueKey.split('/') as [string, string, string]) : [];
    const held = ns !== undefined && name !== undefined ? (this.#o.status.known(BINDING, ns, name)?.conditions as Condition[] | undefined) : undefined;
    const merged = mergeConditions(stored ?? held ?? this.#conditions.get(queueKey), next, generation, now);
    // Kept only for a connector that carries no status yet: otherwise the one
    // it carries is what the next merge starts from (100,000 bindings, each
    // with a copy here, were tens of MB).
    if (stored === undefined && !binding) this.#conditions.set(queueKey, merged);
    else this.#conditions.delete(queueKey);
    return merged;
  }

  #storedStatus(queueKey: string): Record<string, unknown> | undefined {
    const [kind, ns, name] = queueKey.split('/') as [StatusKind, string, string];
    return this.#o.store.observedStatus?.(kind, ns, name) ?? this.#o.store.get(kind, ns, name)?.status;
  }

  #updateConnectorGauge(): void {
    let ready = 0;
    let notReady = 0;
    let disabled = 0;
    for (const c of this.#o.registry.current().connectors.values()) {
      if (!c.enabled) disabled++;
      else if (c.ready) ready++;
      else notReady++;
    }
    this.#o.metrics.connectors.set({ state: 'ready' }, ready);
    this.#o.metrics.connectors.set({ state: 'not_ready' }, notReady);
    this.#o.metrics.connectors.set({ state: 'disabled' }, disabled);
  }

  #bindingStatusDepth(): number {
    return this.#bindingStatus.depth('check') + this.#bindingStatus.depth('write');
  }

  /**
   * The status of one binding; its serving state was applied when its event
   * came (#bindingChanged). Held by the writer only while it has room: while
   * thousands of writes wait, a binding that needs one more waits as its key
   * in the `write` lane, not as a computed status (BINDING_LANES).
   */
  async #reconcileBindingStatus(queueKey: string, lane: BindingLane): Promise<void> {
    if (lane === 'write') await this.#o.status.room(BINDING, BINDING_STATUS_BACKLOG);
    const [, ns, name] = queueKey.split('/') as [string, string, string];
    const obj = this.#o.store.get(BINDING, ns, name) as unknown as UserBinding | undefined;
    if (!obj) {
      this.#conditions.delete(queueKey);
      this.#o.status.forget(BINDING, ns, name);
      return;
    }
    const { phase, conditions } = bindingPhase(obj, (c) => this.#o.store.get(CONNECTOR, ns, c) !== undefined);
    const generation = obj.metadata.generation;
    const status = {
      phase,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions: this.#merge(queueKey, conditions, generation, this.#now()),
    };
    const { namespace, name: objName, uid } = obj.metadata;
    if (lane === 'check' && !this.#o.status.hasRoom(BINDING, BINDING_STATUS_BACKLOG) && this.#o.status.wouldQueue(BINDING, namespace, objName, uid, status)) {
      // Queued again in `write` once this run ends (a change arriving meanwhile puts it back in `check`).
      this.#bindingStatus.add(queueKey, 'write');
      return;
    }
    // The store's own name strings: the writer keeps them while the status waits (100,000 copies otherwise).
    this.#o.status.publish(BINDING, namespace, objName, uid, status);
  }
}

export function bindingPhase(
  binding: UserBinding,
  connectorExists: (name: string) => boolean,
): { phase: BindingPhase; conditions: ConditionInput[] } {
  const missing = binding.spec.connectors.filter((c) => !connectorExists(c));
  const resolved: ConditionInput =
    missing.length === 0
      ? { type: 'ConnectorsResolved', status: 'True', reason: 'AllConnectorsFound', message: 'every listed connector exists' }
      : { type: 'ConnectorsResolved', status: 'False', reason: 'ConnectorNotFound', message: `no connector named ${missing.join(', ')} in ${binding.metadata.namespace}` };
  let phase: BindingPhase;
  let ready: ConditionInput;
  const approval = binding.spec.approval ?? 'Approved';
  if (approval === 'Denied') {
    phase = 'Denied';
    ready = { type: 'Ready', status: 'False', reason: 'Denied', message: `access was denied by an administrator${binding.spec.reason ? `: ${binding.spec.reason}` : ''}` };
  } else if (approval === 'Pending') {
    phase = 'PendingApproval';
    ready = { type: 'Ready', status: 'False', reason: 'PendingApproval', message: 'waiting for an administrator to approve' };
  } else if (missing.length === binding.spec.connectors.length) {
    phase = 'Invalid';
    ready = { type: 'Ready', status: 'False', reason: 'ConnectorNotFound', message: resolved.message };
  } else {
    phase = 'Active';
    ready = { type: 'Ready', status: 'True', reason: 'Active', message: 'the user may sign in' };
  }
  return { phase, conditions: [ready, resolved] };
}

function problemText(p: { path: string; reason: string; message: string; file: string; documentIndex: number }): string {
  return `${p.file}#${p.documentIndex}:${p.path}:${p.reason}:${p.message}`;
}

/**
 * Lists `connectorKey` under exactly `keys` in `index` (object key -> the
 * connectors that read it), with one interest hold per listing: a key the
 * connector newly reads is held, one it no longer reads is released.
 */
function reindex(index: Map<string, Set<string>>, byConnector: Map<string, string[]>, interest: InterestCount, connectorKey: string, keys: readonly string[]): void {
  const next = new Set(keys);
  for (const old of byConnector.get(connectorKey) ?? []) {
    if (next.has(old)) continue;
    const set = index.get(old);
    if (set?.delete(connectorKey)) {
      interest.release([old]);
      if (set.size === 0) index.delete(old);
    }
  }
  for (const k of next) {
    let set = index.get(k);
    if (!set) index.set(k, (set = new Set()));
    if (!set.has(connectorKey)) {
      set.add(connectorKey);
      interest.hold([k]);
    }
  }
  if (next.size > 0) byConnector.set(connectorKey, [...next]);
  else byConnector.delete(connectorKey);
}

function keyOf(kind: string, obj: StoredObject): string {
  return objectKey(kind, obj.metadata.namespace, obj.metadata.name);
}
