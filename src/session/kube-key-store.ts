// Cluster mode: the session key set lives in one Secret in the operator's own
// namespace, shared by every replica.
//
// - start(): GET the Secret; create it when missing. Replicas starting together
//   race on the create: a 409 means another one won, so its Secret is read
//   instead (one key set for all, never two).
// - A WATCH on that single Secret (field selector on its name) applies every
//   change within a second on every replica: the leader's rotation, an edit, a
//   deletion (then a fresh key set is created, as with a removed key file in
//   standalone mode: that is how an admin forces a re-key, and it logs every
//   user out). The watch restarts after errors with backoff; a 410 (resource
//   version too old) re-reads the Secret first.
// - The leader rotates when `rotated-at + rotateEvery` has passed: checked at
//   start and on a timer. The decision is made on a fresh GET and written with
//   that resourceVersion, so a 409 means someone else rotated (or edited)
//   first: the store re-reads and never rotates twice, even while two replicas
//   both believe they lead during a Lease handover.
//
// Security notes:
// - A Secret that exists but does not hold a valid key set is an error at
//   start and is never overwritten: silently generating new keys would log
//   everyone out and hide tampering or a wrong name. After start, an invalid
//   version is logged, the last good keys keep serving, and rotation stops
//   until it is fixed (a rotation would overwrite it).
// - No key material is ever logged or put in an error message: only kids
//   (public thumbprints), the Secret's name and parse errors that carry no
//   input text (JSON.parse's own message can quote the input, so it is not used).

import { KubeApiError, kubeRequest, type KubeResponse } from '../controller/kube-client.ts';
import type { KubeAccess } from '../store/kube-access.ts';
import { describeError } from '../store/kube-list-watch.ts';
import { KubeHttpError, kubeTransport, type KubeTransport } from '../store/kube-transport.ts';
import {
  KeyFileError,
  generateKeySet,
  parseKeySet,
  rotate,
  serializeKeySet,
  type SessionKeySet,
} from './keys.ts';

export const DEFAULT_SESSION_KEY_SECRET = 'sso-operator-session-keys';
export const DEFAULT_ROTATE_EVERY_SECONDS = 30 * 24 * 60 * 60;
/** Data key of the persisted key set (the JSON of keys.ts). */
export const KEY_SET_DATA_KEY = 'keys.json';
export const ROTATED_AT_ANNOTATION = 'sso.operator.dev/rotated-at';
const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const FIELD_MANAGER = 'sso-operator';

const DEFAULT_CHECK_INTERVAL_MS = 60_000;
// The server ends a watch after this long (a clean, immediate restart); one
// still open WATCH_DEADLINE_MS later sits on a dead connection and is aborted.
const WATCH_TIMEOUT_SECONDS = 25;
const WATCH_DEADLINE_MS = (WATCH_TIMEOUT_SECONDS + 15) * 1000;
/** Each read, create or replace of the Secret ends within this long. */
const CALL_TIMEOUT_MS = 10_000;
const WATCH_BACKOFF_MIN_MS = 250;
const WATCH_BACKOFF_MAX_MS = 30_000;
// A watch that ends cleanly this fast without delivering anything is treated
// as a failure (backoff), so a misbehaving proxy cannot make it spin.
const WATCH_MIN_HEALTHY_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The logging calls the store makes; a pino logger fits this shape. */
export interface KeyStoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface KubeKeyStoreOptions {
  kubeConfig: KubeAccess;
  /** The operator's own namespace. */
  namespace: string;
  secretName?: string;
  /** Seconds between rotations (default 30 days). */
  rotateEvery?: number;
  /** Only the leader rotates; read on every check, so leadership may change at any time. */
  isLeader: () => boolean;
  logger: KeyStoreLogger;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
  /** Longest wait between rotation checks (default 60 s); a due time sooner than that is checked on time. */
  checkIntervalMs?: number;
}

export interface KubeKeyStoreStatus {
  /** `namespace/name` of the Secret. */
  secret: string;
  kid: string;
  previousKid?: string;
  /** ISO time of the last rotation (or creation). */
  rotatedAt: string;
  /** Set while the Secret's latest version is unusable (the last good keys keep serving). */
  error?: string;
}

/** The last valid version of the Secret that was applied. */
interface Observed {
  resourceVersion: string;
  set: SessionKeySet;
  rotatedAtMs: number;
}

type Listener = (set: SessionKeySet) => void;

/** A Secret as the apiserver sends it (GET, PUT and watch answers alike). */
interface SecretLike {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    [field: string]: unknown;
  };
  type?: string;
  data?: Record<string, string>;
}

function statusCode(err: unknown): number | undefined {
  if (err instanceof KubeApiError || err instanceof KubeHttpError) return err.status;
  return undefined;
}

/** The answer's object when the status is `ok`, else a KubeApiError (from the Status body). */
function expect(res: KubeResponse<SecretLike>, what: string, ...ok: number[]): SecretLike {
  if (!ok.includes(res.status) || typeof res.body !== 'object' || res.body === null) throw new KubeApiError(what, { ...res, text: '' });
  return res.body;
}

/**
 * Resource versions are opaque in the API contract, but etcd-backed
 * apiservers use the etcd revision, a decimal integer. Only when both parse
 * as such is an older one recognised, so that a watch event lagging behind
 * our own write cannot briefly bring back the previous key set.
 */
function isOlder(candidate: string, applied: string): boolean {
  if (!/^\d+$/.test(candidate) || !/^\d+$/.test(applied)) return false;
  return BigInt(candidate) < BigInt(applied);
}

export class KubeKeyStore {
  readonly #access: KubeAccess;
  readonly #transport: KubeTransport;
  readonly #namespace: string;
  readonly #name: string;
  readonly #rotateEveryMs: number;
  readonly #isLeader: () => boolean;
  readonly #log: KeyStoreLogger;
  readonly #now: () => number;
  readonly #checkIntervalMs: number;
  readonly #listeners = new Set<Listener>();

  #observed: Observed | undefined;
  #invalid: KeyFileError | undefined;
  #started = false;
  #stopped = false;
  #rotating: Promise<boolean> | undefined;
  #rotationTimer: NodeJS.Timeout | undefined;

  #watchRV: string | undefined;
  #watchAbort: AbortController | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #watchStartedAt = 0;
  #watchDelivered = false;
  #watchBackoffMs = 0;
  #needResync = false;

  constructor(options: KubeKeyStoreOptions) {
    const rotateEvery = options.rotateEvery ?? DEFAULT_ROTATE_EVERY_SECONDS;
    if (!Number.isFinite(rotateEvery) || rotateEvery <= 0) {
      throw new RangeError(`rotateEvery must be a positive number of seconds, got ${rotateEvery}`);
    }
    const checkIntervalMs = options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    if (!Number.isFinite(checkIntervalMs) || checkIntervalMs <= 0 || checkIntervalMs > MAX_TIMER_MS) {
      throw new RangeError(`checkIntervalMs must be between 1 and ${MAX_TIMER_MS}, got ${checkIntervalMs}`);
    }
    this.#access = options.kubeConfig;
    this.#transport = kubeTransport(options.kubeConfig);
    this.#namespace = options.namespace;
    this.#name = options.secretName ?? DEFAULT_SESSION_KEY_SECRET;
    this.#rotateEveryMs = rotateEvery * 1000;
    this.#isLeader = options.isLeader;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#checkIntervalMs = checkIntervalMs;
  }

  /** `namespace/name` of the Secret, for logs and errors. */
  get secretRef(): string {
    return `${this.#namespace}/${this.#name}`;
  }

  /**
   * Reads (or creates) the Secret, starts watching it and, on the leader,
   * rotates when due. Rejects when the Secret is invalid or cannot be read:
   * the operator must not serve sessions with keys the other replicas lack.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('KubeKeyStore.start() called twice');
    this.#started = true;
    const secret = await this.#getOrCreate();
    const observed = this.#parse(secret); // throws KeyFileError: never replaced
    this.#observed = observed;
    // The watch starts from a list's resourceVersion (#readForWatch), not
    // from this object's own one: see there.
    this.#needResync = true;
    this.#log.info(
      { secret: this.secretRef, kid: observed.set.current.kid, previousKid: observed.set.previous?.kid },
      'session keys loaded',
    );
    void this.#runWatch();
    await this.#checkRotation();
  }

  /** The live key set (the getter SessionTokens takes). */
  current(): SessionKeySet {
    if (!this.#observed) throw new Error('KubeKeyStore.current() called before start() completed');
    return this.#observed.set;
  }

  /**
   * Calls `cb` whenever the current signing key changes after start (a
   * rotation by any replica, or a re-created Secret). Returns an unsubscribe function.
   */
  onRotate(cb: Listener): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  status(): KubeKeyStoreStatus {
    const observed = this.#observed;
    if (!observed) throw new Error('KubeKeyStore.status() called before start() completed');
    const out: KubeKeyStoreStatus = {
      secret: this.secretRef,
      kid: observed.set.current.kid,
      rotatedAt: new Date(observed.rotatedAtMs).toISOString(),
    };
    if (observed.set.previous) out.previousKid = observed.set.previous.kid;
    if (this.#invalid) out.error = this.#invalid.message;
    return out;
  }

  /**
   * On the leader, rotates when `rotated-at + rotateEvery` has passed.
   * Resolves true when this call wrote a rotation; false when not due, not
   * leader, or another replica changed the Secret first. Concurrent calls
   * share one attempt.
   */
  rotateIfDue(): Promise<boolean> {
    this.#rotating ??= this.#rotateIfDue().finally(() => {
      this.#rotating = undefined;
    });
    return this.#rotating;
  }

  /** Stops the watch and the timer; current() keeps answering with the last keys. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#rotationTimer);
    clearTimeout(this.#watchTimer);
    this.#watchAbort?.abort();
    this.#watchAbort = undefined;
    await this.#rotating?.catch(() => undefined);
  }

  // ---------------------------------------------------------------------------
  // Reading and creating

  /** `/api/v1/namespaces/NS/secrets[/NAME]` with `query`. */
  #path(named: boolean, query = ''): string {
    const base = `/api/v1/namespaces/${encodeURIComponent(this.#namespace)}/secrets`;
    return `${named ? `${base}/${encodeURIComponent(this.#name)}` : base}${query ? `?${query}` : ''}`;
  }

  async #call<T = SecretLike>(method: 'GET' | 'POST' | 'PUT', path: string, body?: SecretLike): Promise<KubeResponse<T>> {
    return kubeRequest<T>(this.#access, { method, path, ...(body ? { body } : {}), timeoutMs: CALL_TIMEOUT_MS });
  }

  async #getOrCreate(): Promise<SecretLike> {
    // Each pass: GET; on 404 create; on 409 (another replica created it) GET
    // again. More than a few passes means the Secret is being deleted and
    // created by someone else in a loop.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await this.#call('GET', this.#path(true));
        if (res.status !== 404) return expect(res, `GET Secret ${this.secretRef}`, 200);
      } catch (err) {
        throw this.#callError('read', err);
      }
      const set = generateKeySet();
      const body: SecretLike = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: this.#name,
          namespace: this.#namespace,
          labels: { [MANAGED_BY_LABEL]: 'sso-operator' },
          annotations: { [ROTATED_AT_ANNOTATION]: new Date(this.#now()).toISOString() },
        },
        type: 'Opaque',
        data: { [KEY_SET_DATA_KEY]: Buffer.from(serializeKeySet(set)).toString('base64') },
      };
      let created: SecretLike | undefined;
      try {
        const res = await this.#call('POST', this.#path(false, `fieldManager=${FIELD_MANAGER}`), body);
        if (res.status !== 409) created = expect(res, `POST Secret ${this.secretRef}`, 200, 201);
      } catch (err) {
        throw this.#callError('create', err);
      }
      if (created !== undefined) {
        this.#log.info({ secret: this.secretRef, kid: set.current.kid }, 'created the session key Secret');
        return created;
      }
      this.#log.info({ secret: this.secretRef }, 'another replica created the session key Secret first; reading it');
    }
    throw new Error(`Secret ${this.secretRef} keeps disappearing while being read or created`);
  }

  #callError(verb: string, err: unknown): Error {
    const code = statusCode(err);
    const hint =
      code === 403
        ? ` (the operator's ServiceAccount needs get, create, update and watch on secrets in namespace ${this.#namespace})`
        : '';
    return new Error(`cannot ${verb} Secret ${this.secretRef}: ${describeError(err)}${hint}`, { cause: err });
  }

  /** Validates a Secret version. Throws KeyFileError with a message that holds no key material. */
  #parse(secret: SecretLike): Observed {
    const where = `Secret ${this.secretRef}`;
    const fail = (why: string) =>
      new KeyFileError(
        `${where} does not hold a valid session key set: ${why}; fix it, or delete the Secret so the operator ` +
          'creates a new key set (which logs every user out)',
      );
    const resourceVersion = secret.metadata?.resourceVersion;
    if (!resourceVersion) throw fail('it has no resourceVersion');
    const encoded = secret.data?.[KEY_SET_DATA_KEY];
    if (encoded === undefined) throw fail(`data key "${KEY_SET_DATA_KEY}" is missing`);
    const text = Buffer.from(encoded, 'base64').toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Not JSON.parse's message: V8 may quote the input, which is key material.
      throw fail(`data key "${KEY_SET_DATA_KEY}" is not valid JSON`);
    }
    let set: SessionKeySet;
    try {
      set = parseKeySet(value);
    } catch (err) {
      throw fail(`data key "${KEY_SET_DATA_KEY}": ${(err as Error).message}`);
    }
    return { resourceVersion, set, rotatedAtMs: this.#rotatedAt(secret) };
  }

  /**
   * When the keys were last rotated. A Secret created by other means (a
   * restore, a Helm hook) may lack the annotation: its creation time stands
   * in; with neither, it counts as due, which only costs one early rotation.
   */
  #rotatedAt(secret: SecretLike): number {
    const annotated = Date.parse(secret.metadata?.annotations?.[ROTATED_AT_ANNOTATION] ?? '');
    if (Number.isFinite(annotated)) return annotated;
    const created = secret.metadata?.creationTimestamp;
    const createdMs = created === undefined ? Number.NaN : new Date(created).getTime();
    return Number.isFinite(createdMs) ? createdMs : 0;
  }

  /** Applies a Secret version seen after start (watch, rotation, re-read). */
  #apply(secret: SecretLike, source: string): void {
    if (this.#stopped) return;
    const rv = secret.metadata?.resourceVersion;
    const before = this.#observed;
    if (rv && before && isOlder(rv, before.resourceVersion)) return;
    let next: Observed;
    try {
      next = this.#parse(secret);
    } catch (err) {
      if (!(err instanceof KeyFileError)) throw err;
      // Keep serving the last good keys: replicas that started earlier keep
      // working, and rotation stays off so the bad version is never overwritten.
      this.#invalid = err;
      this.#log.error({ secret: this.secretRef, source, err: err.message }, 'session key Secret is invalid; keeping the last good keys');
      return;
    }
    if (this.#invalid) {
      this.#log.info({ secret: this.secretRef, source }, 'session key Secret is valid again');
      this.#invalid = undefined;
    }
    this.#observed = next;
    if (before && before.set.current.kid === next.set.current.kid) return;
    this.#log.info(
      { secret: this.secretRef, source, kid: next.set.current.kid, previousKid: next.set.previous?.kid },
      'session signing key changed',
    );
    for (const cb of this.#listeners) {
      try {
        cb(next.set);
      } catch (err) {
        this.#log.error({ secret: this.secretRef, err: (err as Error).message }, 'onRotate listener failed');
      }
    }
  }

  // ---------------------------------------------------------------------------
  // Rotation (leader only)

  async #rotateIfDue(): Promise<boolean> {
    if (!this.#started || this.#stopped || !this.#observed || !this.#isLeader()) return false;
    // Cheap check on what the watch delivered before any API call.
    if (this.#now() < this.#observed.rotatedAtMs + this.#rotateEveryMs) return false;
    // Decide on a fresh read: the watch may lag behind another replica's write.
    const fresh = await this.#getOrCreate();
    this.#apply(fresh, 'read');
    let base: Observed;
    try {
      base = this.#parse(fresh);
    } catch (err) {
      if (!(err instanceof KeyFileError)) throw err;
      this.#log.error({ secret: this.secretRef }, 'not rotating: the session key Secret is invalid');
      return false;
    }
    const nowMs = this.#now();
    if (nowMs < base.rotatedAtMs + this.#rotateEveryMs || !this.#isLeader()) return false;

    const next = rotate(base.set);
    // Replace the version just read, with its resourceVersion: the apiserver
    // refuses (409) if anything changed it since, so two replicas that both
    // think they lead cannot both rotate (the second would drop the key that
    // the first one's sessions need).
    const body: SecretLike = {
      ...fresh,
      metadata: {
        ...fresh.metadata,
        resourceVersion: base.resourceVersion,
        annotations: { ...fresh.metadata?.annotations, [ROTATED_AT_ANNOTATION]: new Date(nowMs).toISOString() },
      },
      data: { ...fresh.data, [KEY_SET_DATA_KEY]: Buffer.from(serializeKeySet(next)).toString('base64') },
    };
    let updated: SecretLike | undefined;
    try {
      const res = await this.#call('PUT', this.#path(true, `fieldManager=${FIELD_MANAGER}`), body);
      if (res.status !== 409) updated = expect(res, `PUT Secret ${this.secretRef}`, 200);
    } catch (err) {
      throw this.#callError('update', err);
    }
    if (updated === undefined) {
      this.#log.info({ secret: this.secretRef }, 'the session key Secret changed meanwhile (another replica rotated); re-reading, not rotating again');
      this.#apply(await this.#getOrCreate(), 'read');
      return false;
    }
    this.#log.info(
      { secret: this.secretRef, kid: next.current.kid, previousKid: base.set.current.kid },
      'rotated the session signing key',
    );
    this.#apply(updated, 'rotation');
    return true;
  }

  async #checkRotation(): Promise<void> {
    try {
      await this.rotateIfDue();
    } catch (err) {
      this.#log.warn({ secret: this.secretRef, err: (err as Error).message }, 'session key rotation failed; will retry');
    }
    this.#scheduleRotationCheck();
  }

  #scheduleRotationCheck(): void {
    if (this.#stopped) return;
    clearTimeout(this.#rotationTimer);
    const observed = this.#observed;
    const untilDue = observed ? observed.rotatedAtMs + this.#rotateEveryMs - this.#now() : this.#checkIntervalMs;
    // Wake at the due time when it is near, else at the check interval (which
    // also notices a leadership change or a failed attempt).
    const delay = untilDue > 0 ? Math.min(untilDue, this.#checkIntervalMs) : this.#checkIntervalMs;
    this.#rotationTimer = setTimeout(() => void this.#checkRotation(), delay);
    this.#rotationTimer.unref();
  }

  // ---------------------------------------------------------------------------
  // Watch

  /**
   * The Secret and the resourceVersion to watch it from: the list's (the
   * apiserver's current one), not the object's own. An object's version is
   * that of its last change; once the apiserver's watch window moved past it
   * (a key Secret unchanged for a while) a watch from it answered 410 at
   * once, the re-read gave the same version again, and the key store looped
   * read-watch-410 several times a second (measured on the scale apiserver).
   */
  async #readForWatch(): Promise<{ secret: SecretLike; resourceVersion: string | undefined }> {
    const res = await this.#call<{ items?: SecretLike[]; metadata?: { resourceVersion?: string } }>('GET', this.#path(false, `fieldSelector=${encodeURIComponent(`metadata.name=${this.#name}`)}`));
    if (res.status !== 200 || !Array.isArray(res.body?.items)) throw new KubeApiError(`LIST Secret ${this.secretRef}`, { ...res, text: '' });
    const list = res.body;
    const found = list.items![0];
    if (found !== undefined) return { secret: found, resourceVersion: list.metadata?.resourceVersion };
    // Gone: created again (or found, created by another replica); a version that new is current.
    const secret = await this.#getOrCreate();
    return { secret, resourceVersion: secret.metadata?.resourceVersion };
  }

  async #runWatch(): Promise<void> {
    if (this.#stopped) return;
    if (this.#needResync) {
      try {
        const { secret, resourceVersion } = await this.#readForWatch();
        this.#apply(secret, 'read');
        this.#watchRV = resourceVersion;
        this.#needResync = false;
      } catch (err) {
        if (this.#stopped) return;
        this.#log.warn({ secret: this.secretRef, err: describeError(err) }, 'cannot re-read the session key Secret; retrying');
        this.#restartWatch(true);
        return;
      }
    }
    // stop() may have come while the Secret was read: no watch after it.
    if (this.#stopped) return;
    this.#watchStartedAt = Date.now();
    this.#watchDelivered = false;
    const abort = new AbortController();
    this.#watchAbort = abort;
    const deadline = setTimeout(() => abort.abort(new DOMException('the watch outlived its timeout (a dead connection)', 'TimeoutError')), WATCH_DEADLINE_MS);
    deadline.unref();
    const query = [
      'watch=true',
      `fieldSelector=${encodeURIComponent(`metadata.name=${this.#name}`)}`,
      ...(this.#watchRV ? [`resourceVersion=${encodeURIComponent(this.#watchRV)}`] : []),
      'allowWatchBookmarks=true',
      `timeoutSeconds=${WATCH_TIMEOUT_SECONDS}`,
    ].join('&');
    let failure: unknown;
    try {
      for await (const event of this.#transport.watch(this.#path(false, query), { accept: 'application/json', signal: abort.signal, timeoutMs: CALL_TIMEOUT_MS })) {
        const e = (event ?? {}) as { type?: unknown; object?: unknown };
        this.#onWatchEvent(String(e.type), e.object);
      }
    } catch (err) {
      // An abort of ours surfaces as its reason (a TimeoutError from the deadline) or as an AbortError.
      failure = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : err;
    } finally {
      clearTimeout(deadline);
    }
    if (this.#watchAbort === abort) this.#onWatchDone(failure);
  }

  #onWatchEvent(type: string, obj: unknown): void {
    if (this.#stopped) return;
    const object = (obj ?? {}) as SecretLike & { code?: number };
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#watchDelivered = true;
        this.#watchBackoffMs = 0;
        if (object.metadata?.resourceVersion) this.#watchRV = object.metadata.resourceVersion;
        this.#apply(object, 'watch');
        break;
      case 'BOOKMARK':
        this.#watchDelivered = true;
        this.#watchBackoffMs = 0;
        if (object.metadata?.resourceVersion) this.#watchRV = object.metadata.resourceVersion;
        break;
      case 'DELETED':
        this.#watchDelivered = true;
        // The current keys keep serving until the next read, which creates a
        // fresh set (or finds the one another replica created).
        this.#log.warn({ secret: this.secretRef }, 'the session key Secret was deleted; creating a new key set');
        this.#needResync = true;
        this.#watchAbort?.abort();
        break;
      case 'ERROR':
        // 410 Gone: our resourceVersion left the apiserver's history window;
        // only a fresh read gives a valid starting point.
        if (object.code === 410) {
          this.#needResync = true;
          this.#watchDelivered = true;
        }
        else this.#log.warn({ secret: this.secretRef, code: object.code }, 'session key Secret watch reported an error');
        break;
      default:
        break;
    }
  }

  #onWatchDone(err: unknown): void {
    this.#watchAbort = undefined;
    if (this.#stopped) return;
    if (statusCode(err) === 410) this.#needResync = true;
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    const aborted = err instanceof Error && err.name === 'AbortError' && this.#needResync;
    const healthy =
      (!err || timedOut || aborted) && (this.#watchDelivered || Date.now() - this.#watchStartedAt >= WATCH_MIN_HEALTHY_MS);
    // A healthy end starts the backoff over: only failures in a row grow it.
    if (healthy) this.#watchBackoffMs = 0;
    if (!healthy && err && !aborted) {
      this.#log.warn({ secret: this.secretRef, err: describeError(err) }, 'session key Secret watch failed; restarting with backoff');
    }
    this.#restartWatch(!healthy);
  }

  #restartWatch(withBackoff: boolean): void {
    if (this.#stopped) return;
    clearTimeout(this.#watchTimer);
    let delay = 0;
    if (withBackoff) {
      this.#watchBackoffMs = Math.min(Math.max(this.#watchBackoffMs * 2, WATCH_BACKOFF_MIN_MS), WATCH_BACKOFF_MAX_MS);
      // Jitter: replicas that lost the apiserver together do not return in lockstep.
      delay = this.#watchBackoffMs / 2 + Math.random() * (this.#watchBackoffMs / 2);
    }
    this.#watchTimer = setTimeout(() => void this.#runWatch(), delay);
    this.#watchTimer.unref();
  }
}
