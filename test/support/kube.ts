// A real Kubernetes control plane (etcd + kube-apiserver, no controller-manager,
// no scheduler, no kubelet) on loopback for integration tests, the way envtest does it.
//
// The binaries are built from the Go modules pinned in tools/kube/go.mod by
// tools/kube/build.sh into ${SSO_KUBE_CACHE:-~/.cache/sso-operator/kube}/<version>/;
// startControlPlane() runs that script (synchronously, printing its progress) when
// they are missing. A cold build takes about 9 minutes on 2 cores.
//
// Each control plane lives in a fresh temp dir: a throwaway CA (openssl CLI), a
// serving cert for 127.0.0.1/localhost, an admin client cert (CN=admin,
// O=system:masters), a service-account RSA key, etcd's data dir and a kubeconfig.
// See /work/shared/notes/kube-apiserver.md for the facts this is built on.
//
// What is missing without a controller-manager: no garbage collection of owned
// objects, namespaces stay Terminating after a delete, no service-account tokens.

import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './system-deps.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KUBE_TOOLS = join(REPO_ROOT, 'tools', 'kube');

export interface ControlPlaneOptions {
  /** Max ms to wait for etcd /health and for kube-apiserver /readyz (each). Default 60000. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags (`--name=value`), appended last so they win. */
  apiserverFlags?: string[];
  /** Folder holding kube-apiserver and etcd; default: the tools/kube/build.sh cache. */
  binDir?: string;
  /** Print phase timings (console.log). Default true. */
  verbose?: boolean;
  /**
   * etcd's data dir, kept by the caller (not removed by stop()): a later
   * control plane on the same dir starts with the objects stored before
   * (scale runs keep 100,000 objects between runs this way). Default a
   * fresh dir in the control plane's temp dir.
   */
  etcdDataDir?: string;
}

export interface ControlPlaneLogs {
  etcd: string;
  apiserver: string;
}

export interface ControlPlane {
  /** Kubeconfig with certificate-authority / client-certificate / client-key file paths (admin). */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  /** http://127.0.0.1:PORT (plain HTTP, loopback only) */
  etcdURL: string;
  /** The temp dir holding certs, kubeconfig and etcd data (removed by stop()). */
  dir: string;
  /** Kubernetes version the binaries were built as (e.g. v1.34.4). */
  version: string;
  /** Kills kube-apiserver and etcd (SIGTERM, SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops kube-apiserver and starts it again on the same port and etcd; resolves when /readyz is 200. */
  restartApiserver(): Promise<void>;
  /** The last ~256 KiB of each process's stderr+stdout. */
  logs(): ControlPlaneLogs;
}

// ---------------------------------------------------------------------------------
// Binaries

/** Versions pinned in tools/kube/go.mod. */
export function pinnedVersions(): { kubernetes: string; etcd: string } {
  const gomod = readFileSync(join(KUBE_TOOLS, 'go.mod'), 'utf8');
  const k8s = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(gomod)?.[1];
  const etcd = /^\s*go\.etcd\.io\/etcd\/server\/v3\s+(v\S+)/m.exec(gomod)?.[1];
  if (!k8s || !etcd) throw new Error(`cannot read the pinned versions from ${join(KUBE_TOOLS, 'go.mod')}`);
  return { kubernetes: k8s, etcd };
}

export function defaultBinDir(): string {
  const root = process.env.SSO_KUBE_CACHE || join(homedir(), '.cache', 'sso-operator', 'kube');
  return join(root, pinnedVersions().kubernetes);
}

/**
 * Returns the folder holding kube-apiserver and etcd, running tools/kube/build.sh
 * (synchronously, output shown) when either is missing.
 */
export function ensureControlPlaneBinaries(binDir = defaultBinDir()): string {
  const have = () => existsSync(join(binDir, 'kube-apiserver')) && existsSync(join(binDir, 'etcd'));
  if (have()) return binDir;
  const started = Date.now();
  console.log(
    `[kube] kube-apiserver/etcd not in ${binDir}; running tools/kube/build.sh ` +
      '(a cold build takes about 9 minutes on 2 cores)',
  );
  if (resolve(binDir) !== resolve(defaultBinDir())) {
    throw new Error(`kube-apiserver/etcd missing in ${binDir}; build.sh only builds into ${defaultBinDir()}`);
  }
  const res = spawnSync('bash', [join(KUBE_TOOLS, 'build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.error) throw new Error(`could not run tools/kube/build.sh: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`tools/kube/build.sh failed (exit ${res.status ?? res.signal}); see its output above`);
  }
  if (!have()) throw new Error(`tools/kube/build.sh succeeded but ${binDir} lacks kube-apiserver or etcd`);
  console.log(`[kube] phase build: ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return binDir;
}

// ---------------------------------------------------------------------------------
// Processes

const LOG_CAP = 256 * 1024;

class Proc {
  readonly child: ChildProcess;
  private buf = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  readonly name: string;

  constructor(name: string, cmd: string, args: string[]) {
    this.name = name;
    // setpriv --pdeathsig: the kernel kills the child if this Node process dies,
    // even by SIGKILL (the 'exit' hook below only covers orderly exits).
    const useSetpriv = existsSync('/usr/bin/setpriv');
    const [file, argv] = useSetpriv
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]]
      : [cmd, args];
    this.child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk: Buffer) => {
      this.buf += chunk.toString('utf8');
      if (this.buf.length > LOG_CAP * 2) this.buf = this.buf.slice(-LOG_CAP);
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolveExit) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolveExit({ code, signal });
      });
      this.child.on('error', (err) => {
        append(Buffer.from(`\n[spawn error] ${err.message}\n`));
        this.exitInfo = { code: -1, signal: null };
        resolveExit(this.exitInfo);
      });
    });
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  log(): string {
    return this.buf.length > LOG_CAP ? this.buf.slice(-LOG_CAP) : this.buf;
  }

  tail(lines = 40): string {
    return this.log().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async kill(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const live = new Set<Proc>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanup = () => {
    for (const p of live) {
      try {
        p.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const d of liveDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanup();
      process.removeListener(sig, onSignal);
      // Re-raise for the default action, unless someone else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------------
// Helpers

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, args, { cwd }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolveRun();
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/**
 * GET over HTTPS with the given client cert (default timeout 5 s), or over
 * plain HTTP without `tls` (2 s); resolves { status, body } or rejects on a
 * network error.
 */
export function httpGet(
  url: string,
  tls?: TlsMaterial,
  timeoutMs = tls ? 5000 : 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const onResponse = (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = tls
      ? httpsRequest(url, { method: 'GET', ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs }, onResponse)
      : httpRequest(url, { method: 'GET', timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

class PortInUse extends Error {}

const ADDR_IN_USE = /address already in use/i;

/**
 * Polls `probe` until it returns true; fails fast when the process exits (with
 * PortInUse when its log says so), or after timeoutMs.
 */
async function waitFor(proc: Proc, what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!proc.running) {
      const msg =
        `${proc.name} exited (${JSON.stringify(proc.exitInfo)}) before ${what}; ` +
        `last lines of its log:\n${proc.tail()}`;
      if (ADDR_IN_USE.test(proc.log())) throw new PortInUse(msg);
      throw new Error(msg);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}; ` +
          `last lines of the ${proc.name} log:\n${proc.tail()}`,
      );
    }
    await sleep(150);
  }
}

async function makeCerts(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = ['-CA', 'ca.crt', '-CAkey', 'ca.key'];
  // `req -x509` applies the config's v3_ca section (CA:TRUE); leaf certs override it.
  const leaf = ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  await run(
    'openssl',
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', '/CN=sso-operator-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  await Promise.all([
    run(
      'openssl',
      ['req', '-x509', ...ca, ...ec, '-keyout', 'serving.key', '-out', 'serving.crt', '-days', '7', '-subj', '/CN=kube-apiserver',
        ...leaf, '-addext', 'extendedKeyUsage=serverAuth',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1'],
      dir,
    ),
    run(
      'openssl',
      ['req', '-x509', ...ca, ...ec, '-keyout', 'admin.key', '-out', 'admin.crt', '-days', '7', '-subj', '/O=system:masters/CN=admin',
        ...leaf, '-addext', 'extendedKeyUsage=clientAuth'],
      dir,
    ),
    run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir),
  ]);
}

function kubeconfigYaml(server: string, dir: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: test',
    '    cluster:',
    `      server: ${server}`,
    `      certificate-authority: ${join(dir, 'ca.crt')}`,
    'users:',
    '  - name: admin',
    '    user:',
    `      client-certificate: ${join(dir, 'admin.crt')}`,
    `      client-key: ${join(dir, 'admin.key')}`,
    'contexts:',
    '  - name: test',
    '    context:',
    '      cluster: test',
    '      user: admin',
    'current-context: test',
    '',
  ].join('\n');
}

const TMP_PREFIX = 'sso-kube-';

/** Removes temp dirs left by control planes whose Node process was SIGKILLed. */
async function removeStaleDirs(): Promise<void> {
  let names: string[];
  try {
    names = await readdir(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const d = join(tmpdir(), name);
    try {
      const pid = Number((await readFile(join(d, 'owner.pid'), 'utf8')).trim());
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        process.kill(pid, 0);
        continue; // owner alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
      }
      await rm(d, { recursive: true, force: true });
    } catch {
      /* no owner.pid (being created) or already gone */
    }
  }
}

// ---------------------------------------------------------------------------------
// Control plane

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const verbose = opts.verbose ?? true;
  const say = (msg: string) => {
    if (verbose) console.log(`[kube] ${msg}`);
  };
  const t0 = Date.now();

  const binDir = ensureControlPlaneBinaries(opts.binDir);
  const { kubernetes: version } = pinnedVersions();
  const apiserverBin = join(binDir, 'kube-apiserver');
  const etcdBin = join(binDir, 'etcd');

  installExitHook();
  await removeStaleDirs();
  const dir = await mkdtemp(join(tmpdir(), TMP_PREFIX));
  liveDirs.add(dir);
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  let etcd: Proc | undefined;
  let apiserver: Proc | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([apiserver?.kill(), etcd?.kill()]);
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };

  try {
    let t = Date.now();
    await makeCerts(dir);
    const [caPem, adminCertPem, adminKeyPem] = await Promise.all(
      ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(dir, f), 'utf8')),
    ) as [string, string, string];
    const tls: TlsMaterial = { ca: caPem, cert: adminCertPem, key: adminKeyPem };
    say(`phase certs: ${secs(t)}`);

    // etcd ---------------------------------------------------------------------------
    t = Date.now();
    let etcdURL = '';
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = [await freePort(), await freePort()];
      etcdURL = `http://127.0.0.1:${clientPort}`;
      const peerURL = `http://127.0.0.1:${peerPort}`;
      const dataDir = opts.etcdDataDir ?? join(dir, `etcd-data-${attempt}`);
      etcd = new Proc('etcd', etcdBin, [
        '--name=default',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${etcdURL}`,
        `--advertise-client-urls=${etcdURL}`,
        `--listen-peer-urls=${peerURL}`,
        `--initial-advertise-peer-urls=${peerURL}`,
        `--initial-cluster=default=${peerURL}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]);
      try {
        const e = etcd;
        await waitFor(e, 'etcd /health', timeoutMs, async () => {
          const r = await httpGet(`${etcdURL}/health`);
          return r.status === 200 && /"health":\s*"true"/.test(r.body);
        });
        break;
      } catch (err) {
        if (err instanceof PortInUse && attempt < 5) {
          say(`etcd port race (attempt ${attempt}); retrying with other ports`);
          continue;
        }
        throw err;
      }
    }
    say(`phase etcd: ${secs(t)} (${etcdURL})`);

    // kube-apiserver -----------------------------------------------------------------
    t = Date.now();
    const certDir = join(dir, 'apiserver-certs');
    await mkdir(certDir);
    const apiserverArgs = (port: number) => [
      `--etcd-servers=${etcdURL}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${certDir}`,
      `--tls-cert-file=${join(dir, 'serving.crt')}`,
      `--tls-private-key-file=${join(dir, 'serving.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      ...(opts.apiserverFlags ?? []),
    ];
    const readyz = async () => (await httpGet(`${server}/readyz`, tls)).status === 200;

    let port = 0;
    let server = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      server = `https://127.0.0.1:${port}`;
      apiserver = new Proc('kube-apiserver', apiserverBin, apiserverArgs(port));
      try {
        await waitFor(apiserver, 'kube-apiserver /readyz', timeoutMs, readyz);
        break;
      } catch (err) {
        if (err instanceof PortInUse && attempt < 5) {
          say(`kube-apiserver port race (attempt ${attempt}); retrying with another port`);
          continue;
        }
        throw err;
      }
    }
    say(`phase kube-apiserver /readyz: ${secs(t)} (${server})`);

    t = Date.now();
    await waitFor(apiserver, 'the default namespace', timeoutMs, async () => {
      return (await httpGet(`${server}/api/v1/namespaces/default`, tls)).status === 200;
    });
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, dir));
    say(`phase default namespace: ${secs(t)}`);
    say(`control plane ${version} up in ${secs(t0)}; kubeconfig ${kubeconfigPath}`);

    const restartApiserver = async () => {
      if (stopped) throw new Error('control plane is stopped');
      const tr = Date.now();
      await apiserver?.kill();
      // Same port, so the kubeconfig and `server` stay valid; the port can be briefly
      // unavailable after the old process exits, so retry.
      for (let attempt = 1; ; attempt++) {
        apiserver = new Proc('kube-apiserver', apiserverBin, apiserverArgs(port));
        try {
          await waitFor(apiserver, 'kube-apiserver /readyz after restart', timeoutMs, readyz);
          break;
        } catch (err) {
          if (err instanceof PortInUse && attempt < 10) {
            await sleep(500);
            continue;
          }
          throw err;
        }
      }
      say(`kube-apiserver restarted in ${secs(tr)}`);
    };

    return {
      kubeconfigPath,
      server,
      caPem,
      adminCertPem,
      adminKeyPem,
      etcdURL,
      dir,
      version,
      stop,
      restartApiserver,
      logs: () => ({ etcd: etcd?.log() ?? '', apiserver: apiserver?.log() ?? '' }),
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------------------------
// A minimal client (node:https with the admin cert), for tests that do not need
// @kubernetes/client-node.

export interface KubeResponse<T = any> {
  status: number;
  body: T;
  text: string;
}

/** How a request authenticates: the admin client certificate, or a bearer token (no client certificate). */
type Credentials = { cert: string; key: string } | { token: string };

/**
 * One request to the apiserver. `body` objects are sent as JSON (or as
 * `contentType`, e.g. 'application/merge-patch+json' for PATCH). The response body
 * is parsed as JSON when it is JSON. Never throws on an HTTP error status.
 */
function apiRequest<T>(
  cp: Pick<ControlPlane, 'server' | 'caPem'>,
  credentials: Credentials,
  method: string,
  path: string,
  body: unknown,
  contentType: string,
): Promise<KubeResponse<T>> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolveReq, reject) => {
    const req = httpsRequest(
      new URL(path, cp.server),
      {
        method,
        ca: cp.caPem,
        ...('token' in credentials ? {} : { cert: credentials.cert, key: credentials.key }),
        timeout: 30_000,
        headers: {
          ...('token' in credentials ? { authorization: `Bearer ${credentials.token}` } : {}),
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: any = text;
          if (/json/.test(String(res.headers['content-type'] ?? ''))) {
            try {
              parsed = JSON.parse(text);
            } catch {
              /* keep text (a watch stream) */
            }
          }
          resolveReq({ status: res.statusCode ?? 0, body: parsed as T, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** One request to the apiserver as admin (see apiRequest). Never throws on an HTTP error status. */
export function kubeRequest<T = any>(
  cp: Pick<ControlPlane, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<KubeResponse<T>> {
  return apiRequest(cp, { cert: cp.adminCertPem, key: cp.adminKeyPem }, method, path, body, contentType);
}

/** One request with a bearer token, no client certificate (see apiRequest). Never throws on an HTTP error status. */
export function requestAsToken<T = any>(
  cp: Pick<ControlPlane, 'server' | 'caPem'>,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<KubeResponse<T>> {
  return apiRequest(cp, { token }, method, path, body, contentType);
}

/** A bound token for a ServiceAccount (TokenRequest API, as admin). */
export async function serviceAccountToken(
  cp: Pick<ControlPlane, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<string> {
  const r = await kubeRequest(cp, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds },
  });
  if (r.status !== 201) throw new Error(`TokenRequest for ${namespace}/${name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.body.status.token as string;
}

/** Polls until the CRD `name` reports Established=True (default 30 s). */
export async function waitForCrdEstablished(
  cp: Pick<ControlPlane, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>,
  name: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await kubeRequest(cp, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    const conds: { type: string; status: string; message?: string }[] = r.body?.status?.conditions ?? [];
    if (conds.some((c) => c.type === 'Established' && c.status === 'True')) return;
    last = r.status === 200 ? JSON.stringify(conds) : `${r.status} ${r.text.slice(0, 300)}`;
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------
// etcd

/** etcd's current revision. */
export async function etcdRevision(cp: Pick<ControlPlane, 'etcdURL'>): Promise<string> {
  const r = await fetch(`${cp.etcdURL}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: 'AA==' }) });
  return ((await r.json()) as { header: { revision: string } }).header.revision;
}

/**
 * Compacts etcd's history up to its current revision; with --watch-cache=false
 * a watch from an older resourceVersion then gets 410 Gone. Resolves with the revision.
 */
export async function compactEtcd(cp: Pick<ControlPlane, 'etcdURL'>): Promise<string> {
  const revision = await etcdRevision(cp);
  const r = await fetch(`${cp.etcdURL}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
  if (r.status !== 200) throw new Error(`etcd compaction at ${revision}: HTTP ${r.status} ${await r.text()}`);
  return revision;
}
