// One supervised list+watch of one collection (a resource in a namespace,
// or cluster-wide): client-go's reflector, reduced to what the store needs.
//
// - List (paged), hand the complete set to the handler, then watch from the
//   list's resourceVersion with bookmarks, so a reconnect resumes where it
//   left off instead of relisting.
// - Any end of a watch, network error, 5xx or 429 restarts it after a
//   capped exponential backoff (see kube-backoff.ts); the backoff starts
//   over once a connection stayed up for the healthy period.
// - 410 Gone (an ERROR event in the stream or the answer to the request)
//   means our resourceVersion was compacted away: relist from scratch; the
//   handler diffs the new set against what it holds, so objects deleted
//   meanwhile are still reported.

import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, type BackoffOptions } from './kube-backoff.ts';
import { KubeHttpError, type KubeTransport } from './kube-transport.ts';
import type { StoreLogger } from './logger.ts';

export interface RawMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** An object as the apiserver sends it (full, or PartialObjectMetadata). */
export interface RawObject {
  apiVersion?: string;
  kind?: string;
  metadata: RawMeta;
  [field: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchHandler {
  /** Everything in this collection after a (re)list; the receiver diffs it against what it holds. */
  replace(items: RawObject[]): void;
  /**
   * Instead of replace(): each page of a (re)list as it arrives, so the
   * whole list (100,000 objects as the apiserver sends them) is never held
   * at once. begin() starts a list (again, after an expired continue token),
   * end() says it is complete: what the pages since begin() did not have was
   * deleted meanwhile.
   */
  pages?: { begin(): void; page(items: RawObject[]): void; end(): void };
  event(type: WatchEventType, object: RawObject): void;
}

export interface ListWatchOptions {
  transport: KubeTransport;
  /** Collection path, e.g. `/api/v1/namespaces/a/secrets`. */
  path: string;
  /** For logs and the sync-timeout message. */
  resource: string;
  namespace?: string;
  accept: { list: string; watch: string };
  handler: ListWatchHandler;
  logger: StoreLogger;
  backoff?: BackoffOptions;
  now?: () => number;
  pageSize?: number;
  /** Server-side watch timeout; default a random 5-10 min like client-go, so reconnects spread out. */
  watchTimeoutSeconds?: () => number;
}

type WatchEnd = { kind: 'closed' } | { kind: 'gone'; message: string };

/**
 * Objects per list page. client-go asks for 500; with 100,000 bindings that
 * is 200 round trips, and the apiserver took 8.8 s for them against 5.1 s in
 * pages of 5,000 (measured on 2 cores). A page of 5,000 bindings is ~4 MB of
 * JSON, held only while it is applied.
 */
export const DEFAULT_PAGE_SIZE = 5000;

/** Extra time after the server-side timeout before the client gives up on a silent stream. */
const WATCH_GRACE_MS = 30_000;

export class ListWatch {
  readonly #o: ListWatchOptions;
  readonly #backoff: Backoff;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  readonly #synced: Promise<void>;
  #resolveSynced: () => void = () => {};
  #running: Promise<void> | undefined;
  #isSynced = false;
  #lastActivity: number;
  #lastError: string | undefined;
  /** When the current run of failures began (for the "recovered" log line). */
  #downSince: number | undefined;

  constructor(options: ListWatchOptions) {
    this.#o = options;
    this.#backoff = new Backoff(options.backoff);
    this.#now = options.now ?? Date.now;
    this.#lastActivity = this.#now();
    this.#synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  /** True once the first list completed (and stays true through later outages). */
  get synced(): boolean {
    return this.#isSynced;
  }

  whenSynced(): Promise<void> {
    return this.#synced;
  }

  /** ms timestamp of the last list, watch event (bookmarks too) or accepted watch. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Why the last attempt failed, while failing; undefined when healthy. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  get #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(): Promise<void> {
    let resourceVersion: string | undefined;
    let goneInARow = 0;
    while (!this.#stopped) {
      const attemptStart = this.#now();
      /** Why this attempt failed; undefined when the watch simply ended. */
      let failure: string | undefined;
      let gone: string | undefined;
      try {
        if (resourceVersion === undefined) resourceVersion = await this.#list();
        const end = await this.#watch(resourceVersion, (rv) => {
          resourceVersion = rv;
          goneInARow = 0;
        });
        if (end.kind === 'gone') gone = end.message;
      } catch (err) {
        if (this.#stopped) break;
        // A 410 answer to the watch request itself (a 410 to a fresh list is just an error).
        if (isGone(err) && resourceVersion !== undefined) gone = describeError(err);
        else failure = describeError(err);
      }
      if (gone !== undefined) {
        resourceVersion = undefined;
        if (this.#now() - attemptStart >= this.#backoff.healthyMs) goneInARow = 0;
        // The first 410 relists at once; a 410 right after a relist would loop, so that one backs off.
        if (++goneInARow === 1) {
          this.#o.logger.info(this.#fields({ reason: gone }), 'informer resourceVersion expired (410); relisting');
          continue;
        }
        failure = `410 again right after a relist: ${gone}`;
      }
      if (this.#stopped) break;
      const ranFor = this.#now() - attemptStart;
      const delay = this.#backoff.next(ranFor);
      const reason = failure ?? 'the watch was closed by the server';
      // A watch that ran its course (the server-side timeout) is routine, not an outage: not logged.
      const routine = failure === undefined && ranFor >= this.#backoff.healthyMs;
      if (!routine) {
        this.#lastError = reason;
        this.#downSince ??= attemptStart;
        this.#o.logger.warn(this.#fields({ reason, retryInMs: delay, failures: this.#backoff.failures }), 'informer restarting');
      }
      try {
        await sleep(delay, undefined, { signal: this.#abort.signal });
      } catch {
        break; // stopped
      }
    }
  }

  /**
   * Lists every page; returns the list's resourceVersion. The next page is
   * asked for as soon as this one is parsed, so the apiserver prepares it
   * while this one is applied (100,000 bindings: the two overlap instead of
   * taking turns).
   */
  async #list(): Promise<string> {
    const items: RawObject[] = [];
    const pages = this.#o.handler.pages;
    let resourceVersion: string | undefined;
    let token: string | undefined;
    type Page = { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
    const fetchPage = (continueToken: string | undefined): Promise<Page> => {
      const query = new URLSearchParams({ limit: String(this.#o.pageSize ?? DEFAULT_PAGE_SIZE) });
      if (continueToken !== undefined) query.set('continue', continueToken);
      return this.#o.transport.getJSON(`${this.#o.path}?${query}`, { accept: this.#o.accept.list, signal: this.#abort.signal }) as Promise<Page>;
    };
    if (pages) this.#deliver(() => pages.begin());
    let next: Promise<Page> = fetchPage(undefined);
    for (;;) {
      let page: Page;
      try {
        page = await next;
      } catch (err) {
        // An expired continue token: start the list over (the same request without it cannot be stale).
        if (token !== undefined && isGone(err)) {
          items.length = 0;
          token = undefined;
          resourceVersion = undefined;
          if (pages) this.#deliver(() => pages.begin());
          next = fetchPage(undefined);
          continue;
        }
        throw err;
      }
      resourceVersion ??= page.metadata?.resourceVersion;
      token = page.metadata?.continue || undefined;
      // Asked for before this page is applied; an unhandled rejection is avoided, the loop awaits it next.
      if (token !== undefined) {
        next = fetchPage(token);
        next.catch(() => undefined);
      }
      const got = (page.items ?? []).filter(isRawObject);
      if (pages) this.#deliver(() => pages.page(got));
      else items.push(...got);
      if (token === undefined) break;
    }
    if (resourceVersion === undefined) throw new Error('the list answer has no resourceVersion');
    this.#healthy();
    this.#deliver(() => (pages ? pages.end() : this.#o.handler.replace(items)));
    if (!this.#isSynced) {
      this.#isSynced = true;
      this.#resolveSynced();
    }
    return resourceVersion;
  }

  async #watch(resourceVersion: string, advance: (rv: string) => void): Promise<WatchEnd> {
    const timeoutSeconds = this.#o.watchTimeoutSeconds?.() ?? 300 + Math.floor(Math.random() * 300);
    const query = new URLSearchParams({
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    });
    // A stream the server forgot to close (a dead peer behind a proxy) is given up on.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('the watch outlived its timeout')), timeoutSeconds * 1000 + WATCH_GRACE_MS);
    const signal = AbortSignal.any([this.#abort.signal, deadline.signal]);
    try {
      // Accepted means the server still has our resourceVersion: we are current as of now.
      const onOpen = () => this.#healthy();
      for await (const line of this.#o.transport.watch(`${this.#o.path}?${query}`, { accept: this.#o.accept.watch, signal, onOpen })) {
        const event = line as { type?: unknown; object?: unknown };
        this.#lastActivity = this.#now();
        if (event.type === 'ERROR') {
          const status = event.object as { code?: unknown; reason?: unknown; message?: unknown } | undefined;
          const message = typeof status?.message === 'string' ? status.message : 'watch error';
          if (status?.code === 410) return { kind: 'gone', message };
          throw new KubeHttpError(
            typeof status?.code === 'number' ? status.code : 500,
            typeof status?.reason === 'string' ? status.reason : undefined,
            `watch error event: ${message}`,
          );
        }
        if (!isRawObject(event.object)) continue;
        const rv = event.object.metadata.resourceVersion;
        if (event.type === 'BOOKMARK') {
          if (rv) advance(rv);
          continue;
        }
        if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') continue;
        const object = event.object;
        const type = event.type;
        this.#deliver(() => this.#o.handler.event(type, object));
        if (rv) advance(rv);
      }
      return { kind: 'closed' };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A list or watch answered: fresh as of now; log the recovery once. */
  #healthy(): void {
    this.#lastActivity = this.#now();
    if (this.#downSince !== undefined) {
      this.#o.logger.info(
        this.#fields({ downMs: this.#now() - this.#downSince, lastError: this.#lastError }),
        'informer recovered',
      );
    }
    this.#downSince = undefined;
    this.#lastError = undefined;
  }

  #deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A handler bug must not stop the informer; the object stays as it was.
      this.#o.logger.error(this.#fields({ err }), 'informer handler failed');
    }
  }

  #fields(extra: object): object {
    return { resource: this.#o.resource, ...(this.#o.namespace ? { namespace: this.#o.namespace } : {}), ...extra };
  }
}

export function isGone(err: unknown): boolean {
  return err instanceof KubeHttpError && err.status === 410;
}

function isRawObject(value: unknown): value is RawObject {
  if (typeof value !== 'object' || value === null) return false;
  const metadata = (value as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null && typeof (metadata as { name?: unknown }).name === 'string';
}

/** A log-safe reason: status and Status message, or the network error code. */
export function describeError(err: unknown): string {
  if (err instanceof KubeHttpError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const cause = (err as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? ` (${cause.message})` : '';
    return `${code ? `${code}: ` : ''}${err.message}${causeText}`;
  }
  return String(err);
}
