// IdP metadata discovery endpoints (saml.idp.metadata.url), fetched and
// refreshed apart from every request, as OIDC discovery is (oidc/discovery.ts):
// the controller asks while it reconciles and never waits; get() answers from
// what is held and starts a fetch in the background when the copy is missing,
// due, or the last attempt failed and its backoff passed; onChange(url) lets
// the controller reconcile the connectors of that URL again.
//
// What it defends against:
// - a sign-in waiting on an IdP's metadata endpoint: never fetched on the
//   request path;
// - an IdP that is down or answers with junk: the last good copy is kept (the
//   caller decides from its validUntil how long it may serve with it), and the
//   failure is reported;
// - a huge or endless answer, a slow one: bodies over 1 MiB are refused
//   (boundedFetch), each attempt is bounded in time;
// - a document fetched over plain http from another host: only https, or http
//   on a loopback host, is fetched (the CRD's rule, checked again here);
// - redirects to anywhere: not followed (a metadata URL is configured exactly).
//
// The body is kept as text; readIdpMetadata (idp-metadata.ts) checks it for
// each connector (they may name different entities or signers), and the
// controller keeps each connector's last copy that passed.

import { boundedFetch } from '../oidc/bounded-fetch.ts';
import { issuerAllowed } from '../oidc/discovery.ts';

export interface FetchedMetadata {
  readonly url: string;
  readonly text: string;
  /** ms since the epoch. */
  readonly fetchedAt: number;
}

export type MetadataFetchState =
  | { status: 'ok'; document: FetchedMetadata }
  | { status: 'pending' }
  | { status: 'failed'; reason: 'MetadataFetchFailed' | 'MetadataURLNotAllowed'; message: string; lastGood?: FetchedMetadata };

export interface MetadataFetcherOptions {
  onChange: (url: string) => void;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** One attempt may take this long; default 10 s. */
  timeoutMs?: number;
  /** First retry after a failure; doubles up to maxBackoffMs. Default 5 s, 5 min. */
  backoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
  /** Replaces the network in unit tests. */
  fetchText?: (url: string, timeoutMs: number) => Promise<string>;
}

interface Entry {
  good?: FetchedMetadata;
  failure?: { reason: 'MetadataFetchFailed' | 'MetadataURLNotAllowed'; message: string };
  failures: number;
  /** The shortest refresh any connector asked for. */
  refreshMs: number;
  inFlight?: Promise<void>;
  timer?: NodeJS.Timeout;
}

export class MetadataFetcher {
  readonly #o: MetadataFetcherOptions;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;

  constructor(options: MetadataFetcherOptions) {
    this.#o = options;
  }

  /** What is known of `url` now; starts a fetch when one is due. Never waits. `refreshMs`: how soon a good copy is fetched again. */
  get(url: string, refreshMs: number): MetadataFetchState {
    let e = this.#entries.get(url);
    if (!e) this.#entries.set(url, (e = { failures: 0, refreshMs }));
    if (refreshMs < e.refreshMs) {
      e.refreshMs = refreshMs;
      // A shorter interval than the one the timer was set for: reschedule.
      if (e.good && !e.failure && !e.inFlight) this.#schedule(url, e, Math.max(0, e.good.fetchedAt + refreshMs - this.#now()));
    }
    if (!e.good && !e.failure && !e.inFlight) this.#fetch(url, e);
    if (e.failure) return { status: 'failed', ...e.failure, ...(e.good ? { lastGood: e.good } : {}) };
    if (e.good) return { status: 'ok', document: e.good };
    return { status: 'pending' };
  }

  /** URLs no connector uses any more are dropped. */
  retain(urls: ReadonlySet<string>): void {
    for (const [url, e] of this.#entries) {
      if (urls.has(url)) continue;
      clearTimeout(e.timer);
      this.#entries.delete(url);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) clearTimeout(e.timer);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #backoff(e: Entry): number {
    return Math.min(this.#o.maxBackoffMs ?? 300_000, (this.#o.backoffMs ?? 5000) * 2 ** Math.max(0, e.failures - 1));
  }

  #schedule(url: string, e: Entry, delay: number): void {
    if (this.#stopped) return;
    clearTimeout(e.timer);
    e.timer = setTimeout(() => this.#fetch(url, e), delay);
    e.timer.unref();
  }

  #fetch(url: string, e: Entry): void {
    if (this.#stopped) return;
    clearTimeout(e.timer);
    e.timer = undefined;
    e.inFlight = this.#attempt(url, e).finally(() => {
      e.inFlight = undefined;
      if (this.#stopped || this.#entries.get(url) !== e) return;
      this.#schedule(url, e, e.failure ? this.#backoff(e) : e.refreshMs);
      this.#o.onChange(url);
    });
  }

  async #attempt(url: string, e: Entry): Promise<void> {
    if (!issuerAllowed(url)) {
      e.failure = { reason: 'MetadataURLNotAllowed', message: `${url} is not https (http only on a loopback host)` };
      e.failures++;
      return;
    }
    try {
      const text = await (this.#o.fetchText ?? fetchText)(url, this.#o.timeoutMs ?? 10_000);
      const changed = e.good?.text !== text;
      const recovered = e.failure !== undefined;
      e.good = { url, text, fetchedAt: this.#now() };
      if (changed || recovered) this.#o.logger.info({ url }, recovered ? 'IdP metadata fetched again' : 'IdP metadata fetched');
      e.failure = undefined;
      e.failures = 0;
    } catch (err) {
      e.failures++;
      const message = describe(err);
      if (e.failure?.message !== message) this.#o.logger.warn({ url, err: message, keepsLastGood: e.good !== undefined }, 'IdP metadata fetch failed');
      e.failure = { reason: 'MetadataFetchFailed', message };
    }
  }
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const res = await boundedFetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } } as never);
  if (res.status !== 200) {
    await res.arrayBuffer().catch(() => undefined);
    throw new Error(`HTTP ${res.status}`);
  }
  return await res.text();
}

function describe(err: unknown): string {
  const e = err as { message?: string; name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer within the time limit';
  const cause = e.cause?.code ?? (typeof e.cause?.message === 'string' ? e.cause.message : undefined);
  return `${e.message ?? String(err)}${cause ? ` (${cause})` : ''}`.slice(0, 500);
}
