// OpenID Provider discovery, fetched and refreshed apart from every request.
//
// The controller asks for an issuer's metadata while it reconciles, and never
// waits for the network: get() answers from what is held (the last good copy,
// or "pending" the first time) and starts a fetch in the background when the
// copy is missing, due for a refresh, or the last attempt failed and its
// backoff has passed. When a fetch ends, onChange(issuer) lets the controller
// reconcile the connectors of that issuer again. So:
// - a sign-in never waits for discovery (the request path reads the compiled
//   connector only);
// - a provider that is down, or answers with an invalid document, leaves the
//   last good copy in use (the failure is reported as a condition);
// - a slow provider delays nobody's reconcile, trust changes included.
//
// openid-client's discovery() does the fetching and the checks (the document's
// issuer must equal the configured one exactly: a provider cannot claim
// another's identity). Only https, or http on a loopback host, is fetched.

import { allowInsecureRequests, customFetch, discovery, type ServerMetadata } from 'openid-client';
import { boundedFetch } from './bounded-fetch.ts';

export interface DiscoveredProvider {
  readonly issuer: string;
  readonly metadata: ServerMetadata;
  /** When this copy was fetched (ms since the epoch). */
  readonly fetchedAt: number;
}

export type DiscoveryState =
  | { status: 'ok'; provider: DiscoveredProvider }
  | { status: 'pending' }
  | { status: 'failed'; reason: 'DiscoveryFailed' | 'IssuerNotAllowed'; message: string; lastGood?: DiscoveredProvider };

export interface OidcDiscoveryOptions {
  /** An issuer's state changed (a fetch ended): reconcile its connectors. */
  onChange: (issuer: string) => void;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** A good copy is fetched again after this long; default 1 h. */
  refreshMs?: number;
  /** One attempt may take this long; default 10 s. */
  timeoutMs?: number;
  /** First retry after a failure; doubles up to maxBackoffMs. Default 5 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
  /** Replaces openid-client's discovery() in unit tests. */
  fetchMetadata?: (issuer: URL, timeoutMs: number) => Promise<ServerMetadata>;
}

interface Entry {
  good?: DiscoveredProvider;
  failure?: { reason: 'DiscoveryFailed' | 'IssuerNotAllowed'; message: string };
  failures: number;
  inFlight?: Promise<void>;
  timer?: NodeJS.Timeout;
}

const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/;

/** https, or http on a loopback host. The same rule as the CRD's CEL. */
export function issuerAllowed(issuer: string): boolean {
  return issuer.startsWith('https://') || LOOPBACK_HTTP.test(issuer);
}

export class OidcDiscovery {
  readonly #o: OidcDiscoveryOptions;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;

  constructor(options: OidcDiscoveryOptions) {
    this.#o = options;
  }

  /** What is known of `issuer` now; starts a fetch when one is due. Never waits. */
  get(issuer: string): DiscoveryState {
    let e = this.#entries.get(issuer);
    if (!e) this.#entries.set(issuer, (e = { failures: 0 }));
    if (!e.good && !e.failure && !e.inFlight) this.#fetch(issuer, e);
    if (e.failure) return { status: 'failed', ...e.failure, ...(e.good ? { lastGood: e.good } : {}) };
    if (e.good) return { status: 'ok', provider: e.good };
    return { status: 'pending' };
  }

  /** Fetch now (a connector's spec changed, or an admin wants a fresh copy); the result comes through onChange. */
  refresh(issuer: string): void {
    const e = this.#entries.get(issuer);
    if (e && !e.inFlight) this.#fetch(issuer, e);
  }

  /** Issuers no connector uses any more are dropped. */
  retain(issuers: ReadonlySet<string>): void {
    for (const [issuer, e] of this.#entries) {
      if (issuers.has(issuer)) continue;
      clearTimeout(e.timer);
      this.#entries.delete(issuer);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) clearTimeout(e.timer);
  }

  #fetch(issuer: string, e: Entry): void {
    if (this.#stopped) return;
    clearTimeout(e.timer);
    e.timer = undefined;
    e.inFlight = this.#attempt(issuer, e).finally(() => {
      e.inFlight = undefined;
      if (this.#stopped || this.#entries.get(issuer) !== e) return;
      const delay = e.failure
        ? Math.min(this.#o.maxBackoffMs ?? 300_000, (this.#o.backoffMs ?? 5000) * 2 ** Math.max(0, e.failures - 1))
        : (this.#o.refreshMs ?? 3_600_000);
      e.timer = setTimeout(() => this.#fetch(issuer, e), delay);
      e.timer.unref();
      this.#o.onChange(issuer);
    });
  }

  async #attempt(issuer: string, e: Entry): Promise<void> {
    const now = this.#o.now ?? Date.now;
    if (!issuerAllowed(issuer)) {
      e.failure = { reason: 'IssuerNotAllowed', message: `issuer ${issuer} is not https (http only on a loopback host)` };
      e.failures++;
      return;
    }
    try {
      const timeoutMs = this.#o.timeoutMs ?? 10_000;
      const metadata = await (this.#o.fetchMetadata ?? fetchWithOpenidClient)(new URL(issuer), timeoutMs);
      // Exactly the configured issuer (openid-client normalises URLs, and skips its
      // check for some multi-tenant providers): a document for another issuer is refused.
      if (metadata.issuer !== issuer) throw new Error(`the discovery document names issuer ${String(metadata.issuer).slice(0, 200)}, not ${issuer}`);
      const missing = (['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const).filter((k) => typeof metadata[k] !== 'string');
      if (missing.length) throw new Error(`the discovery document has no ${missing.join(', ')}`);
      const endpoints = [metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri, metadata.userinfo_endpoint, metadata.end_session_endpoint].filter((u): u is string => typeof u === 'string');
      const insecure = endpoints.find((u) => !issuerAllowed(u));
      if (insecure) throw new Error(`the discovery document names an endpoint that is not https: ${insecure}`);
      const changed = e.good === undefined || JSON.stringify(e.good.metadata) !== JSON.stringify(metadata);
      e.good = { issuer, metadata, fetchedAt: now() };
      if (e.failure || changed) this.#o.logger.info({ issuer }, e.failure ? 'OIDC discovery recovered' : 'OIDC discovery fetched');
      e.failure = undefined;
      e.failures = 0;
    } catch (err) {
      e.failures++;
      const message = describe(err);
      if (e.failure?.message !== message) this.#o.logger.warn({ issuer, err: message, keepsLastGood: e.good !== undefined }, 'OIDC discovery failed');
      e.failure = { reason: 'DiscoveryFailed', message };
    }
  }
}

async function fetchWithOpenidClient(issuer: URL, timeoutMs: number): Promise<ServerMetadata> {
  const config = await discovery(issuer, 'sso-operator-discovery', undefined, undefined, {
    timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    [customFetch]: boundedFetch,
    ...(issuer.protocol === 'http:' ? { execute: [allowInsecureRequests] } : {}),
  });
  // A plain copy: serverMetadata() also carries helper functions.
  return JSON.parse(JSON.stringify(config.serverMetadata())) as ServerMetadata;
}

/** A log- and status-safe reason: the message, and the network cause when there is one. */
function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? (typeof e.cause?.message === 'string' ? e.cause.message : undefined);
  return `${e.message ?? String(err)}${cause ? ` (${cause})` : ''}`.slice(0, 500);
}
