// Status in cluster mode: the status subresource of SsoConnector / UserBinding,
// written with server-side apply under one field manager.
//
// Why server-side apply: the applied object is the whole status this operator
// owns, so a field it stops sending (loginURL of a connector whose manifest
// became invalid, a certificate that was removed) is removed by the apiserver,
// while fields other managers own are left alone; and it needs no
// resourceVersion, so a status write never races a spec edit.
//
// Only the leader writes (every replica reconciles and keeps the status it
// would write, so a new leader can flush at once), and only what changed:
// a write is skipped when it equals the last status this replica wrote.

import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, kubeRequest, type KubeRequest, type KubeResponse } from './kube-client.ts';
import type { StatusKind, StatusSink } from './status-sink.ts';

const GROUP_VERSION = 'sso.operator.dev/v1alpha1';
const PLURAL: Record<StatusKind, string> = { SsoConnector: 'ssoconnectors', UserBinding: 'userbindings' };

interface SinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface KubeStatusSinkOptions {
  kubeConfig: KubeConfig;
  /** Field manager of the apply; the same for every replica, so a new leader takes over the fields. */
  fieldManager?: string;
  isLeader: () => boolean;
  logger: SinkLogger;
  /** Transport, replaceable in tests; default kubeRequest with kubeConfig. */
  request?: (req: KubeRequest) => Promise<KubeResponse>;
}

interface Desired {
  kind: StatusKind;
  namespace: string;
  name: string;
  status: Record<string, unknown>;
}

export class KubeStatusSink implements StatusSink {
  readonly #request: (req: KubeRequest) => Promise<KubeResponse>;
  readonly #fieldManager: string;
  readonly #isLeader: () => boolean;
  readonly #logger: SinkLogger;
  /** What the controller wants, leader or not. */
  readonly #desired = new Map<string, Desired>();
  /** What this replica last wrote successfully. */
  readonly #written = new Map<string, Record<string, unknown>>();
  /** Per object, the tail of its writes: two writes of one object never overlap, so an older one cannot land last. */
  readonly #chains = new Map<string, Promise<void>>();
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = 1000;
  /** Successful PATCHes, for tests and metrics. */
  writes = 0;

  constructor(options: KubeStatusSinkOptions) {
    this.#request = options.request ?? ((req) => kubeRequest(options.kubeConfig, req));
    this.#fieldManager = options.fieldManager ?? 'sso-operator';
    this.#isLeader = options.isLeader;
    this.#logger = options.logger;
  }

  async publish(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    const key = `${kind}/${namespace}/${name}`;
    // Cloned: the controller may keep mutating its own objects; what we compare
    // against later must be what we were given now.
    this.#desired.set(key, { kind, namespace, name, status: structuredClone(status) });
    if (!this.#isLeader()) return;
    await this.#enqueue(key);
  }

  async forget(kind: StatusKind, namespace: string, name: string): Promise<void> {
    const key = `${kind}/${namespace}/${name}`;
    this.#desired.delete(key);
    this.#written.delete(key);
  }

  /**
   * Called when this replica becomes leader: writes every desired status.
   * What this replica wrote in an earlier term is forgotten first, because
   * another leader may have written over it meanwhile (a Ready=False it saw
   * would otherwise stay on the object after we take over). Failures are
   * retried with backoff while this replica leads; nothing is thrown.
   */
  async flush(): Promise<void> {
    this.#written.clear();
    await this.#writeAll();
  }

  /** Stops the flush retry timer (shutdown). */
  close(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  async #writeAll(): Promise<void> {
    if (!this.#isLeader()) return;
    const results = await Promise.allSettled([...this.#desired.keys()].map((k) => this.#enqueue(k)));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length === 0) {
      this.#retryDelayMs = 1000;
      return;
    }
    this.#logger.warn(
      { failed: failed.length, err: String((failed[0] as PromiseRejectedResult).reason), retryInMs: this.#retryDelayMs },
      'status flush incomplete; retrying',
    );
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#writeAll(), this.#retryDelayMs);
    this.#retryTimer.unref();
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, 30_000);
  }

  #enqueue(key: string): Promise<void> {
    const run = (this.#chains.get(key) ?? Promise.resolve()).catch(() => undefined).then(() => this.#write(key));
    this.#chains.set(key, run);
    const cleanup = () => {
      if (this.#chains.get(key) === run) this.#chains.delete(key);
    };
    run.then(cleanup, cleanup);
    return run;
  }

  /** Writes the desired status of `key` as it is when its turn comes. */
  async #write(key: string): Promise<void> {
    const d = this.#desired.get(key);
    if (!d || !this.#isLeader()) return;
    if (isDeepStrictEqual(this.#written.get(key), d.status)) return;
    const path =
      `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(d.namespace)}/${PLURAL[d.kind]}/${encodeURIComponent(d.name)}/status` +
      `?fieldManager=${encodeURIComponent(this.#fieldManager)}&force=true`;
    const res = await this.#request({
      method: 'PATCH',
      path,
      // JSON is YAML, and apply-patch+yaml is the only apply type every apiserver accepts.
      contentType: 'application/apply-patch+yaml',
      body: { apiVersion: GROUP_VERSION, kind: d.kind, metadata: { name: d.name, namespace: d.namespace }, status: d.status },
    });
    if (res.status === 404) {
      // Deleted meanwhile: the store's delete event makes the controller forget it.
      // Not remembered as written, so a re-created object with the same status is still written.
      if (this.#desired.get(key) === d) this.#desired.delete(key);
      this.#logger.info({ kind: d.kind, namespace: d.namespace, name: d.name }, 'status not written: object is gone');
      return;
    }
    // 409 (should not happen with force, but an apiserver may still say so), 422
    // (status rejected by the schema) and 5xx go back to the controller's queue.
    if (res.status < 200 || res.status > 299) throw new KubeApiError(`apply status of ${key}`, res);
    this.#written.set(key, d.status);
    this.writes++;
  }
}
