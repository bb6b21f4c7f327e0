// Where the apiserver is and how to reach it: the part of a kubeconfig the
// operator uses (every request goes through kube-transport.ts and
// kube-client.ts, which ask for the current cluster and apply the TLS
// material and credentials to node:https options).
//
// Why not client-node's KubeConfig for this: importing
// @kubernetes/client-node loads every generated API module (its config.js
// imports gen/index.js), +74 MB RSS on Node 24 (25 MB heap, 20 MB of source
// text), a quarter of the 300 MiB the operator has for 1,000 connectors and
// 100,000 bindings (issue 10). So the two forms a pod and a developer use
// are read here:
// - in-cluster: the service account's token (re-read, since bound tokens
//   rotate) and CA, KUBERNETES_SERVICE_HOST/PORT;
// - a kubeconfig file: the current context's cluster (server, CA,
//   insecure-skip-tls-verify, tls-server-name) and user (client
//   certificate and key, token, token file, basic auth).
// Anything else (exec and auth-provider plugins, proxy-url) is handed to
// client-node's KubeConfig, loaded only then: it implements them all, and
// the memory is spent only by those who need it.
//
// What this defends against:
// - credentials in error messages or logs: errors name the file and the
//   field, never a value, and the YAML parser's warnings (which quote the
//   line) are silenced;
// - TLS weakened by accident: verification is off only for
//   `insecure-skip-tls-verify: true` (the boolean), which cannot be combined
//   with a CA (client-go refuses it too), and plain HTTP only with it;
// - a kubeconfig feature silently ignored: impersonation (`as`, ...), exec
//   and auth-provider users and proxies go to client-node, which has them;
// - a token file that cannot be read for a moment (a rotation swaps it): the
//   last good token keeps being sent (client-go does so; the apiserver's 401
//   says the rest). An empty file is no token.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** The cluster the requests go to (the subset of client-node's Cluster that is read). */
export interface KubeCluster {
  readonly name: string;
  readonly server: string;
  readonly skipTLSVerify: boolean;
  readonly tlsServerName?: string;
}

/**
 * What the operator needs of a kubeconfig. client-node's KubeConfig has the
 * same two methods, so one may stand in (the fallback, and tests).
 */
export interface KubeAccess {
  getCurrentCluster(): KubeCluster | null;
  /** Sets TLS material, credentials (Authorization, or auth for basic) and an agent on `opts`. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token read from a file is used before the file is read again (client-node: 60 s). */
const TOKEN_FILE_TTL_MS = 60_000;

/** The in-cluster config of a pod, or a kubeconfig file's current context. */
export async function loadKubeAccess(kubeconfigPath?: string, env: NodeJS.ProcessEnv = process.env): Promise<KubeAccess> {
  return kubeconfigPath === undefined ? inCluster(env) : fromFile(kubeconfigPath);
}

interface Material {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: () => string | undefined;
  basic?: string;
}

class StaticAccess implements KubeAccess {
  readonly #cluster: KubeCluster;
  readonly #m: Material;
  readonly #agent: https.Agent | http.Agent;

  constructor(cluster: KubeCluster, m: Material) {
    this.#cluster = cluster;
    this.#m = m;
    // Plain HTTP only when TLS checks are switched off anyway, as client-node allows it: credentials in clear text otherwise.
    if (/^http:/i.test(cluster.server)) {
      if (!cluster.skipTLSVerify) throw new KubeconfigError(`cluster ${JSON.stringify(cluster.name)}: an http:// server is allowed only with insecure-skip-tls-verify: true`);
      this.#agent = new http.Agent();
      return;
    }
    this.#agent = new https.Agent({
      ...(m.ca ? { ca: m.ca } : {}),
      ...(m.cert ? { cert: m.cert } : {}),
      ...(m.key ? { key: m.key } : {}),
      ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    });
  }

  getCurrentCluster(): KubeCluster {
    return this.#cluster;
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const m = this.#m;
    if (m.ca) opts.ca = m.ca;
    if (m.cert) opts.cert = m.cert;
    if (m.key) opts.key = m.key;
    if (this.#cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (this.#cluster.tlsServerName) opts.servername = this.#cluster.tlsServerName;
    if (m.basic !== undefined) opts.auth = m.basic;
    const token = m.token?.();
    if (token) opts.headers = { ...(opts.headers as Record<string, string> | undefined), Authorization: `Bearer ${token}` };
    // One agent per config, as client-node caches one: kube-agent.ts makes its keep-alive twin.
    opts.agent = this.#agent;
  }
}

/** A token read from `file`, re-read once it is older than TOKEN_FILE_TTL_MS; the last good one while the file cannot be read or is empty. */
function tokenFile(file: string): () => string | undefined {
  let token: string | undefined;
  let readAt = -Infinity;
  return () => {
    const now = performance.now();
    if (now - readAt >= TOKEN_FILE_TTL_MS) {
      readAt = now;
      try {
        const read = readFileSync(file, 'utf8').trim();
        if (read !== '') token = read;
      } catch {
        // Kept: a rotation briefly replaces the file (a symlink swap); the next read finds the new one.
      }
    }
    return token;
  };
}

function inCluster(env: NodeJS.ProcessEnv): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new KubeconfigError('not in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set): give --kubeconfig FILE');
  let ca: Buffer;
  try {
    ca = readFileSync(join(SA_DIR, 'ca.crt'));
  } catch {
    throw new KubeconfigError(`the service account's CA (${SA_DIR}/ca.crt) cannot be read: is a service account token mounted?`);
  }
  const token = tokenFile(join(SA_DIR, 'token'));
  if (token() === undefined) throw new KubeconfigError(`the service account's token (${SA_DIR}/token) cannot be read`);
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new StaticAccess({ name: 'inCluster', server, skipTLSVerify: false }, { ca, token });
}

type Named = { name?: unknown; [field: string]: unknown };

async function fromFile(given: string): Promise<KubeAccess> {
  // Absolute, so files it names resolve the same at every re-read whatever the working directory.
  const path = resolve(given);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KubeconfigError(`kubeconfig ${path}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? 'error'})`}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { logLevel: 'error', prettyErrors: false });
  } catch {
    // The YAML parser's message may quote the text around an error, and a kubeconfig holds keys: only the kind of failure is said.
    throw new KubeconfigError(`kubeconfig ${path}: not valid YAML`);
  }
  const cfg = (doc ?? {}) as { 'current-context'?: unknown; contexts?: unknown; clusters?: unknown; users?: unknown };
  const find = (list: unknown, name: unknown, what: string): Record<string, unknown> => {
    const hit = typeof name === 'string' && name !== '' && Array.isArray(list) ? (list as Named[]).find((e) => e?.name === name) : undefined;
    if (hit === undefined) throw new KubeconfigError(`kubeconfig ${path}: no ${what} named ${JSON.stringify(name)}`);
    const body = hit[what];
    // An entry with nothing under it (a user without credentials) is empty, not missing.
    if (body === undefined || body === null) return {};
    if (typeof body !== 'object' || Array.isArray(body)) throw new KubeconfigError(`kubeconfig ${path}: ${what} ${JSON.stringify(name)} is not a mapping`);
    return body as Record<string, unknown>;
  };
  if (typeof cfg['current-context'] !== 'string' || cfg['current-context'] === '') throw new KubeconfigError(`kubeconfig ${path}: no current-context`);
  const context = find(cfg.contexts, cfg['current-context'], 'context');
  const clusterName = context.cluster;
  const cluster = find(cfg.clusters, clusterName, 'cluster');
  const user = context.user === undefined || context.user === '' ? {} : find(cfg.users, context.user, 'user');

  // What this loader does not implement: client-node's KubeConfig does, loaded only for it.
  const elsewhere = ['exec', 'auth-provider', 'as', 'as-groups', 'as-uid', 'as-user-extra'].some((f) => user[f] !== undefined && user[f] !== null) || cluster['proxy-url'] !== undefined;
  if (elsewhere) {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(path);
    } catch {
      // Its messages may quote the file (js-yaml does).
      throw new KubeconfigError(`kubeconfig ${path}: cannot be loaded (exec, auth-provider, impersonation or proxy-url: read by client-node)`);
    }
    return kc as unknown as KubeAccess;
  }

  const base = dirname(path);
  const str = (o: Record<string, unknown>, field: string): string | undefined => {
    const v = o[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new KubeconfigError(`kubeconfig ${path}: ${field} is not a string`);
    return v;
  };
  /** `<field>-data` (base64) or the file `<field>` (relative to the kubeconfig). */
  const material = (o: Record<string, unknown>, field: string): Buffer | undefined => {
    const data = str(o, `${field}-data`);
    if (data !== undefined) return Buffer.from(data, 'base64');
    const file = str(o, field);
    if (file === undefined) return undefined;
    const full = isAbsolute(file) ? file : join(base, file);
    try {
      return readFileSync(full);
    } catch {
      throw new KubeconfigError(`kubeconfig ${path}: ${field} ${full} cannot be read`);
    }
  };
  const server = str(cluster, 'server');
  if (server === undefined) throw new KubeconfigError(`kubeconfig ${path}: cluster ${JSON.stringify(clusterName)} has no server`);
  const tlsServerName = str(cluster, 'tls-server-name');
  const skipTLSVerify = cluster['insecure-skip-tls-verify'] === true;
  const token = str(user, 'token');
  const tokenPath = str(user, 'tokenFile');
  const username = str(user, 'username');
  const m: Material = {};
  const ca = material(cluster, 'certificate-authority');
  if (ca && skipTLSVerify) throw new KubeconfigError(`kubeconfig ${path}: cluster ${JSON.stringify(clusterName)} gives a certificate authority and insecure-skip-tls-verify; choose one`);
  const cert = material(user, 'client-certificate');
  const key = material(user, 'client-key');
  if (ca) m.ca = ca;
  if (cert) m.cert = cert;
  if (key) m.key = key;
  // Both given: the file wins, as in client-go (its last good read takes precedence).
  if (tokenPath !== undefined) {
    const full = isAbsolute(tokenPath) ? tokenPath : join(base, tokenPath);
    m.token = tokenFile(full);
    if (m.token() === undefined) throw new KubeconfigError(`kubeconfig ${path}: tokenFile ${full} cannot be read or is empty`);
  } else if (token !== undefined) m.token = () => token;
  if (username !== undefined) m.basic = `${username}:${str(user, 'password') ?? ''}`;
  return new StaticAccess(
    { name: String(clusterName), server, skipTLSVerify, ...(tlsServerName ? { tlsServerName } : {}) },
    m,
  );
}
