// The controller: store events -> per-key queue -> level-based reconcile ->
// registry swap + status. Reconcile reads the current state for a key and makes
// the registry and status match it, so a missed or repeated event is harmless.

import type { Logger } from 'pino';
import type { SsoConnector, UserBinding } from '../api/index.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { forgetConnector, setIdpCertificates } from '../metrics/metrics.ts';
import type { Store, StoreEvent, StoredObject } from '../store/types.ts';
import { compileConnector, connectorURLs, referencedSecretNames, type SecretLookup } from './compile-connector.ts';
import { type ConditionInput, mergeConditions, type Condition } from './conditions.ts';
import type { BindingEntry, BindingPhase, ConnectorRuntime, Registry } from './registry.ts';
import type { StatusKind, StatusSink } from './status-sink.ts';
import { transitionEvents, type StatusView } from './events.ts';
import { WorkQueue, type ReconcileResult } from './work-queue.ts';

export interface ControllerOptions {
  store: Store;
  registry: Registry;
  status: StatusSink;
  metrics: Metrics;
  logger: Logger;
  publicURL: string;
  now?: () => Date;
  /** Records Kubernetes Events on status transitions (cluster mode). */
  events?: {
    record(obj: { kind: string; namespace: string; name: string; uid?: string }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  };
  /**
   * Whether Events can be recorded now (cluster mode: this replica holds the
   * Lease). Transitions seen while it is false are recorded by
   * announcePending() once it becomes true. Default: always.
   */
  isLeader?: () => boolean;
}

const CONNECTOR = 'SsoConnector';
const BINDING = 'UserBinding';

export class Controller {
  readonly #o: ControllerOptions;
  readonly #queue: WorkQueue;
  readonly #now: () => Date;
  /** `ns/secretName` -> connector keys that read it (an index, not a scan). */
  readonly #secretIndex = new Map<string, Set<string>>();
  /** connector key -> secret index keys it is listed under, to unindex on change. */
  readonly #connectorSecrets = new Map<string, string[]>();
  readonly #conditions = new Map<string, Condition[]>();
  /** The status this controller last published per key: the "before" of transition events. */
  readonly #published = new Map<string, Record<string, unknown>>();
  /** Statuses published while not leader: their transitions are announced on leadership. */
  readonly #unannounced = new Map<string, { uid: string | undefined; status: Record<string, unknown> }>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#queue = new WorkQueue((key) => this.#reconcile(key), {
      onError: (key, err) => this.#o.logger.error({ key, err: (err as Error).message }, 'reconcile failed; retrying with backoff'),
    });
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#o.store.onChange((ev) => this.#onEvent(ev));
    await this.#o.store.start();
    for (const c of this.#o.store.list(CONNECTOR)) this.#queue.add(keyOf(CONNECTOR, c));
    for (const b of this.#o.store.list(BINDING)) this.#queue.add(keyOf(BINDING, b));
    this.#enqueueProblemConnectors();
    await this.#queue.idle();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#queue.stop();
    await this.#o.store.stop();
  }

  /** Resolves once every queued reconcile has run (tests, readiness). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  #onEvent(ev: StoreEvent): void {
    const obj = ev.object;
    const ns = obj.metadata.namespace;
    switch (obj.kind) {
      case CONNECTOR:
        this.#queue.add(keyOf(CONNECTOR, obj));
        // Reference ownership and binding phases depend on the set of connectors.
        for (const c of this.#o.store.list(CONNECTOR, ns)) {
          if ((c.spec as SsoConnector['spec']).reference !== undefined) this.#queue.add(keyOf(CONNECTOR, c));
        }
        for (const b of this.#o.store.list(BINDING, ns)) {
          if ((b.spec as UserBinding['spec']).connectors.includes(obj.metadata.name)) this.#queue.add(keyOf(BINDING, b));
        }
        break;
      case 'Secret':
        for (const key of this.#secretIndex.get(`${ns}/${obj.metadata.name}`) ?? []) this.#queue.add(key);
        break;
      case BINDING:
        this.#queue.add(keyOf(BINDING, obj));
        break;
      default:
        break;
    }
    this.#enqueueProblemConnectors();
  }

  /** Connectors whose manifest is currently refused must show Ready=False, not vanish. */
  #enqueueProblemConnectors(): void {
    for (const p of this.#o.store.problems()) {
      if (p.object?.kind === CONNECTOR && p.object.name) {
        this.#queue.add(`${CONNECTOR}/${p.object.namespace ?? 'default'}/${p.object.name}`);
      }
    }
  }

  async #reconcile(queueKey: string): Promise<ReconcileResult> {
    const [kind, ns, name] = queueKey.split('/') as [string, string, string];
    const started = process.hrtime.bigint();
    let result = 'success';
    try {
      if (kind === CONNECTOR) return await this.#reconcileConnector(ns, name);
      await this.#reconcileBinding(ns, name);
      return undefined;
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

  #interestingSecrets(): Set<string> {
    const keys = new Set<string>();
    for (const [k, connectors] of this.#secretIndex) if (connectors.size > 0) keys.add(k);
    return keys;
  }

  #indexSecrets(connectorKey: string, namespace: string, secretNames: readonly string[]): void {
    for (const old of this.#connectorSecrets.get(connectorKey) ?? []) this.#secretIndex.get(old)?.delete(connectorKey);
    const keys = secretNames.map((s) => `${namespace}/${s}`);
    for (const k of keys) {
      let set = this.#secretIndex.get(k);
      if (!set) this.#secretIndex.set(k, (set = new Set()));
      set.add(connectorKey);
    }
    if (keys.length) this.#connectorSecrets.set(connectorKey, keys);
    else this.#connectorSecrets.delete(connectorKey);
  }

  async #reconcileConnector(ns: string, name: string): Promise<ReconcileResult> {
    const queueKey = `${CONNECTOR}/${ns}/${name}`;
    const key = `${ns}/${name}`;
    const obj = this.#o.store.get(CONNECTOR, ns, name) as unknown as SsoConnector | undefined;
    const now = this.#now();
    if (!obj) {
      this.#indexSecrets(queueKey, ns, []);
      await this.#o.store.setInterest?.('Secret', this.#interestingSecrets());
      await forgetConnector(this.#o.metrics, ns, name);
      const problem = this.#o.store
        .problems()
        .find((p) => p.object?.kind === CONNECTOR && p.object.name === name && (p.object.namespace ?? 'default') === ns);
      if (!problem) {
        this.#o.registry.setConnector(key, undefined);
        this.#conditions.delete(queueKey);
        this.#published.delete(queueKey);
        this.#unannounced.delete(queueKey);
        await this.#o.status.forget(CONNECTOR, ns, name);
        this.#updateConnectorGauge();
        return undefined;
      }
      // Fail closed: a connector whose manifest was replaced by an invalid one
      // answers 503 instead of continuing with a configuration that is gone.
      const urls = connectorURLs(this.#o.publicURL, ns, name);
      // Standalone problems name a file and document; cluster ones an API path.
      const where = problem.file.startsWith('/apis/') ? '' : `${problem.file} document ${problem.documentIndex}: `;
      const message = `${where}${problem.path}: ${problem.message}`;
      const conditions = this.#merge(queueKey, [{ type: 'Ready', status: 'False', reason: 'ManifestInvalid', message }], undefined, now);
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
        admins: [],
        loginURL: urls.loginURL,
        metadataURL: urls.metadataURL,
      });
      await this.#publish(CONNECTOR, ns, name, undefined, { conditions });
      this.#updateConnectorGauge();
      return undefined;
    }

    // Tell the store which Secrets are read before reading them: a store that
    // keeps Secret data only for referenced objects loads this one first.
    const wanted = referencedSecretNames(obj).map((name) => `${ns}/${name}`);
    if (this.#o.store.setInterest && wanted.some((k) => !this.#secretIndex.get(k)?.has(queueKey))) {
      await this.#o.store.setInterest('Secret', new Set([...this.#interestingSecrets(), ...wanted]));
    }
    const siblings = this.#o.store.list(CONNECTOR, ns) as unknown as SsoConnector[];
    const out = compileConnector({ connector: obj, secret: this.#secretLookup, publicURL: this.#o.publicURL, siblings, now });
    this.#indexSecrets(queueKey, ns, out.secretNames);
    await this.#o.store.setInterest?.('Secret', this.#interestingSecrets());
    const previous = this.#o.registry.current().connectors.get(key);
    this.#o.registry.setConnector(key, out.runtime);
    this.#logTransition(previous, out.runtime, out.conditions);

    await setIdpCertificates(this.#o.metrics, ns, name, out.trusted);
    this.#updateConnectorGauge();

    const generation = obj.metadata.generation;
    const conditions = this.#merge(queueKey, out.conditions, generation, now);
    await this.#publish(CONNECTOR, ns, name, obj.metadata.uid, {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions,
      ...out.fields,
    });
    if (out.requeueAt) return { requeueAfterMs: Math.max(0, out.requeueAt.getTime() - now.getTime()) };
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
    const merged = mergeConditions(this.#conditions.get(queueKey) ?? this.#storedStatus(queueKey)?.conditions as Condition[] | undefined, next, generation, now);
    this.#conditions.set(queueKey, merged);
    return merged;
  }

  #storedStatus(queueKey: string): Record<string, unknown> | undefined {
    const [kind, ns, name] = queueKey.split('/') as [StatusKind, string, string];
    return this.#o.store.get(kind, ns, name)?.status;
  }

  async #publish(kind: StatusKind, ns: string, name: string, uid: string | undefined, status: Record<string, unknown>): Promise<void> {
    const queueKey = `${kind}/${ns}/${name}`;
    const before = this.#published.get(queueKey) ?? this.#storedStatus(queueKey);
    await this.#o.status.publish(kind, ns, name, status);
    if (this.#o.events && this.#o.isLeader && !this.#o.isLeader()) {
      // Not leader: the Event would be dropped. Keep the transition for
      // announcePending(), and let the status on the object (written by the
      // leader, if any) be the "before" from now on.
      this.#published.delete(queueKey);
      this.#unannounced.set(queueKey, { uid, status });
      return;
    }
    this.#unannounced.delete(queueKey);
    this.#published.set(queueKey, status);
    if (!this.#o.events) return;
    for (const e of transitionEvents(before as StatusView | undefined, status as StatusView)) {
      await this.#o.events.record({ kind, namespace: ns, name, ...(uid ? { uid } : {}) }, e.type, e.reason, e.message);
    }
  }

  /**
   * Records the Events of transitions seen while this replica was not leader
   * (call on becoming leader). The "before" of each is the status the object
   * carries, as written by the previous leader, so nothing that leader already
   * announced is repeated; a replica that starts alone and wins the Lease after
   * its first reconcile still announces ConnectorReady. The "befores" are taken
   * at once, before the status flush that leadership triggers can land.
   */
  async announcePending(): Promise<void> {
    const events = this.#o.events;
    if (!events) return;
    const pending = [...this.#unannounced].map(([queueKey, p]) => ({
      queueKey,
      ...p,
      before: this.#published.get(queueKey) ?? this.#storedStatus(queueKey),
    }));
    this.#unannounced.clear();
    for (const p of pending) this.#published.set(p.queueKey, p.status);
    for (const p of pending) {
      const [kind, namespace, name] = p.queueKey.split('/') as [string, string, string];
      for (const e of transitionEvents(p.before as StatusView | undefined, p.status as StatusView)) {
        await events.record({ kind, namespace, name, ...(p.uid ? { uid: p.uid } : {}) }, e.type, e.reason, e.message);
      }
    }
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

  async #reconcileBinding(ns: string, name: string): Promise<void> {
    const queueKey = `${BINDING}/${ns}/${name}`;
    const obj = this.#o.store.get(BINDING, ns, name) as unknown as UserBinding | undefined;
    // The index is rebuilt from every binding: cheap, and it can never drift.
    this.#o.registry.setBindings(this.#bindingEntries());
    if (!obj) {
      this.#conditions.delete(queueKey);
      this.#published.delete(queueKey);
      this.#unannounced.delete(queueKey);
      await this.#o.status.forget(BINDING, ns, name);
      return;
    }
    const { phase, conditions } = bindingPhase(obj, (c) => this.#o.store.get(CONNECTOR, ns, c) !== undefined);
    const generation = obj.metadata.generation;
    await this.#publish(BINDING, ns, name, obj.metadata.uid, {
      phase,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions: this.#merge(queueKey, conditions, generation, this.#now()),
    });
  }

  #bindingEntries(): BindingEntry[] {
    return this.#o.store.list(BINDING).map((b) => {
      const binding = b as unknown as UserBinding;
      const ns = b.metadata.namespace;
      const { phase } = bindingPhase(binding, (c) => this.#o.store.get(CONNECTOR, ns, c) !== undefined);
      return {
        namespace: ns,
        name: b.metadata.name,
        user: binding.spec.user,
        connectors: binding.spec.connectors.map((c) => `${ns}/${c}`),
        groups: binding.spec.groups ?? [],
        phase,
      };
    });
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
    ready = { type: 'Ready', status: 'False', reason: 'Denied', message: 'access was denied by an administrator' };
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

function keyOf(kind: string, obj: StoredObject): string {
  return `${kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
}
