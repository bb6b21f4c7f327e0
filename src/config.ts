// Command-line flags and their SSO_* environment variables (a flag wins over
// its variable). Names and defaults are the ones DESIGN.md promises.

import { parseArgs } from 'node:util';

export interface RunConfig {
  manifests?: string;
  demoIdp: boolean;
  listen: { host: string; port: number };
  adminListen: { host: string; port: number };
  publicURL: string;
  cookieDomain?: string;
  allowedRedirectHosts: string[];
  trustProxy: boolean;
  logLevel: string;
  stateDir: string;
  /** Standalone: where access requests are written as UserBinding manifests. */
  requestsDir?: string;
  kubeconfig?: string;
  /** Cluster mode: namespaces to watch; empty = all. */
  namespaces: string[];
  /** Cluster mode: where the leader-election Lease lives (default: the operator's own namespace). */
  leaseNamespace?: string;
  /** Shared replay state across replicas. */
  redisURL?: string;
  /** Cluster mode: status writes and Events per second, together (default DEFAULT_KUBE_QPS, 100). */
  kubeQPS?: number;
  /** Sign-in requests per second per client address / per connector (src/server/rate-limit.ts); absent: no limit. */
  rateLimit?: { perAddress?: number; perConnector?: number };
  /** Seconds a client gets to send a whole request to the public listener (default REQUEST_TIMEOUT_MS in public-app.ts, 60 s). */
  requestTimeoutSeconds?: number;
}

/**
 * Status writes and Events per second by default. 100, not client-go's 5 or
 * the 50 this had: 1,000 connectors applied at once each want a status write
 * and a Ready Event, and within 50/s their statuses alone took 20 s to land.
 * No burst on top: the limiter keeps every one-second window the apiserver
 * sees at or below the limit (rate-limiter.ts), which a token bucket's burst
 * would not. 100/s of small status patches is light work for an apiserver
 * (its default --max-mutating-requests-inflight is 200), and status writes
 * are the operator's only steady writes; lower it with --kube-qps for a busy
 * shared control plane.
 */
export const DEFAULT_KUBE_QPS = 100;

export class ConfigError extends Error {}

const FLAGS = {
  manifests: { type: 'string' },
  'demo-idp': { type: 'boolean' },
  listen: { type: 'string' },
  'admin-listen': { type: 'string' },
  'public-url': { type: 'string' },
  'cookie-domain': { type: 'string' },
  'allowed-redirect-hosts': { type: 'string' },
  'trust-proxy': { type: 'boolean' },
  'log-level': { type: 'string' },
  'state-dir': { type: 'string' },
  'requests-dir': { type: 'string' },
  kubeconfig: { type: 'string' },
  namespaces: { type: 'string' },
  'lease-namespace': { type: 'string' },
  'redis-url': { type: 'string' },
  'kube-qps': { type: 'string' },
  'rate-limit-per-address': { type: 'string' },
  'rate-limit-per-connector': { type: 'string' },
  'request-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const USAGE = `Usage: sso-operator run [flags]

  --manifests DIR               standalone mode: read SsoConnector, UserBinding, Secret and ConfigMap YAML from DIR and watch it
  --demo-idp                    also serve a development-only SAML IdP at /demo-idp/ and OpenID Provider at /demo-op/ (never in production)
  --listen HOST:PORT            public listener (default 0.0.0.0:8080)
  --admin-listen HOST:PORT      metrics, probes and /admin/status (default 0.0.0.0:9090)
  --public-url URL              externally visible base URL, path prefix allowed (default http://localhost:8080)
  --cookie-domain DOMAIN        Domain attribute of the session cookie
  --allowed-redirect-hosts LIST comma-separated hosts that rd= may point to (a leading dot allows subdomains)
  --trust-proxy                 honour X-Forwarded-* headers from one proxy in front (the client address is
                                the last X-Forwarded-For entry); set it only behind an ingress or load balancer
  --log-level LEVEL             trace, debug, info, warn, error (default info)
  --state-dir DIR               standalone mode: where session keys are kept (default .sso-operator)
  --requests-dir DIR            standalone mode: where access requests are written (default STATE-DIR/requests)
  --kubeconfig FILE             cluster mode outside a pod (inside a pod the in-cluster config is used)
  --namespaces LIST             cluster mode: comma-separated namespaces to watch (default: all)
  --lease-namespace NS          cluster mode: namespace of the leader-election Lease (default: the operator's own)
  --redis-url URL               share replay state across replicas (redis:// or rediss://)
  --kube-qps N                  cluster mode: at most N status writes and Events per second (default 100);
                                sign-ins never wait for them, only the status on the objects does
  --rate-limit-per-address N    at most N sign-in requests per second (bursts of 2N) per client address on the
                                login, ACS and callback endpoints, then 429 RateLimited with Retry-After (default off)
  --rate-limit-per-connector N  the same per connector, whatever the address (default off)
  --request-timeout SECONDS     time a client gets to send a whole request, headers and body, to the public
                                listener, then 408 RequestTimeout (1 to 3600, default 60)

Each flag has an environment variable SSO_<FLAG> (e.g. SSO_PUBLIC_URL); a flag wins over its variable.`;

function envName(flag: string): string {
  return `SSO_${flag.replace(/-/g, '_').toUpperCase()}`;
}

function parseHostPort(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`--${flag} must be HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function parseBool(flag: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new ConfigError(`${envName(flag)} must be true or false, got ${JSON.stringify(value)}`);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export const DEFAULT_PUBLIC_URL = 'http://localhost:8080';

/** --public-url as `run` accepts it (the admin CLI checks it the same way). */
export function parsePublicURL(publicRaw: string): URL {
  let publicURL: URL;
  try {
    publicURL = new URL(publicRaw);
  } catch {
    throw new ConfigError(`--public-url is not a URL: ${JSON.stringify(publicRaw)}`);
  }
  if (publicURL.protocol !== 'https:' && publicURL.protocol !== 'http:') throw new ConfigError('--public-url must be http or https');
  // The login-state cookie is SameSite=None and so must be Secure; browsers
  // accept that on plain http only for loopback.
  if (publicURL.protocol === 'http:' && !LOOPBACK.has(publicURL.hostname)) {
    throw new ConfigError(`--public-url ${publicRaw} is plain http on a non-loopback host; use https (cookies must be Secure)`);
  }
  if (publicURL.search || publicURL.hash || publicURL.username || publicURL.password) {
    throw new ConfigError('--public-url must not carry a query, fragment or credentials');
  }
  return publicURL;
}

export function parseRunArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): RunConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return 'help';
  const str = (flag: keyof typeof FLAGS): string | undefined => {
    const fromFlag = v[flag];
    if (typeof fromFlag === 'string') return fromFlag;
    const fromEnv = env[envName(flag)];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const bool = (flag: keyof typeof FLAGS): boolean => {
    const fromFlag = v[flag];
    if (typeof fromFlag === 'boolean') return fromFlag;
    const fromEnv = env[envName(flag)];
    return fromEnv === undefined ? false : parseBool(flag, fromEnv);
  };

  const publicURL = parsePublicURL(str('public-url') ?? DEFAULT_PUBLIC_URL);

  const manifests = str('manifests');
  const kubeconfig = str('kubeconfig');
  if (manifests !== undefined) {
    for (const flag of ['kubeconfig', 'namespaces', 'lease-namespace', 'kube-qps'] as const) {
      if (str(flag) !== undefined) throw new ConfigError(`--${flag} belongs to cluster mode and cannot be combined with --manifests`);
    }
  }
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const namespaces = (str('namespaces') ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  for (const ns of namespaces) if (!DNS_LABEL.test(ns)) throw new ConfigError(`--namespaces: ${JSON.stringify(ns)} is not a namespace name`);
  const leaseNamespace = str('lease-namespace');
  if (leaseNamespace !== undefined && !DNS_LABEL.test(leaseNamespace)) throw new ConfigError(`--lease-namespace: ${JSON.stringify(leaseNamespace)} is not a namespace name`);
  const qpsRaw = str('kube-qps');
  if (qpsRaw !== undefined && !/^([1-9][0-9]{0,2}|1000)$/.test(qpsRaw)) throw new ConfigError(`--kube-qps must be a whole number from 1 to 1000, got ${JSON.stringify(qpsRaw)}`);
  const rateLimit: { perAddress?: number; perConnector?: number } = {};
  for (const [flag, field] of [['rate-limit-per-address', 'perAddress'], ['rate-limit-per-connector', 'perConnector']] as const) {
    const raw = str(flag);
    if (raw === undefined) continue;
    if (!/^(0|[1-9][0-9]{0,5}|1000000)$/.test(raw)) throw new ConfigError(`--${flag} must be a whole number of requests per second from 0 (off) to 1000000, got ${JSON.stringify(raw)}`);
    if (Number(raw) > 0) rateLimit[field] = Number(raw);
  }
  const timeoutRaw = str('request-timeout');
  if (timeoutRaw !== undefined && !(/^[1-9][0-9]{0,3}$/.test(timeoutRaw) && Number(timeoutRaw) <= 3600)) {
    throw new ConfigError(`--request-timeout must be a whole number of seconds from 1 to 3600, got ${JSON.stringify(timeoutRaw)}`);
  }
  const redisURL = str('redis-url');
  if (redisURL !== undefined && !/^rediss?:\/\/./.test(redisURL)) throw new ConfigError('--redis-url must start with redis:// or rediss://');

  // A Domain the browser would reject (or that does not cover the public host)
  // makes the session cookie vanish: a login loop, so refuse it at start.
  const cookieDomain = str('cookie-domain');
  if (cookieDomain !== undefined) {
    const d = cookieDomain.replace(/^\./, '').toLowerCase();
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(d)) {
      throw new ConfigError(`--cookie-domain must be a domain name like example.com, got ${JSON.stringify(cookieDomain)}`);
    }
    const host = publicURL.hostname.toLowerCase();
    if (host !== d && !host.endsWith(`.${d}`)) {
      throw new ConfigError(`--cookie-domain ${cookieDomain} does not cover the public URL's host ${host}`);
    }
  }
  const logLevel = str('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of trace, debug, info, warn, error; got ${JSON.stringify(logLevel)}`);
  }
  return {
    ...(manifests !== undefined ? { manifests } : {}),
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    namespaces,
    ...(leaseNamespace !== undefined ? { leaseNamespace } : {}),
    ...(redisURL !== undefined ? { redisURL } : {}),
    ...(qpsRaw !== undefined ? { kubeQPS: Number(qpsRaw) } : {}),
    ...(rateLimit.perAddress !== undefined || rateLimit.perConnector !== undefined ? { rateLimit } : {}),
    ...(timeoutRaw !== undefined ? { requestTimeoutSeconds: Number(timeoutRaw) } : {}),
    demoIdp: bool('demo-idp'),
    listen: parseHostPort('listen', str('listen') ?? '0.0.0.0:8080'),
    adminListen: parseHostPort('admin-listen', str('admin-listen') ?? '0.0.0.0:9090'),
    publicURL: publicURL.toString().replace(/\/+$/, ''),
    ...(cookieDomain !== undefined ? { cookieDomain } : {}),
    allowedRedirectHosts: (str('allowed-redirect-hosts') ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    trustProxy: bool('trust-proxy'),
    logLevel,
    stateDir: str('state-dir') ?? '.sso-operator',
    ...(str('requests-dir') !== undefined ? { requestsDir: str('requests-dir')! } : {}),
  };
}
