// Tools for the fault-injection tests (test/integration/cluster-faults.test.ts):
// a client that signs in once a second and records every answer, operator
// replicas as separate processes (the real CLI) and a watcher of the leader
// Lease. (The cuttable proxy is in tcp-proxy.ts, etcd compaction in kube.ts.)
// Everything is on loopback, bounded in count and time, and stops by itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request as httpRequest, type Agent } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserClient, findFormWithField, parseForms, type ParsedForm } from './browser-client.ts';
import { CONNECTOR, NS, USERS, errorReason, spURLs, type UserName } from './cluster-fixtures.ts';
import { kubeRequest } from './kube.ts';
import { operatorRuntime } from './operator-runtime.ts';
import type { SimpleSamlPhp } from './simplesamlphp.ts';
import { freePort } from './system-deps.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------
// Sign-in attempts

export interface SignInAttempt {
  /** Date.now() when the attempt began. */
  start: number;
  /** Date.now() when the request that decided the outcome was sent (the ACS POST, or the login GET when refused there). */
  decidedAt: number;
  end: number;
  /** Where it stopped: refused at the login URL, at the IdP, answered by the ACS, or no HTTP answer at all. */
  step: 'login' | 'idp' | 'acs' | 'network';
  /** HTTP status of the deciding answer; 0 when there was none (connection refused, timeout). */
  status: number;
  /** `Success`, the operator's reason code, or what went wrong. */
  reason: string;
  /** Whether the operator set a session cookie: a sign-in is accepted when it did or answered 303. */
  session: boolean;
}

export interface SignInTarget {
  idp: Pick<SimpleSamlPhp, 'ssoURL'>;
  /** The operator's publicURL. */
  baseURL: string;
  namespace?: string;
  connector?: string;
  user?: UserName;
  rd?: string;
  /** Whole-attempt bound (default 10 s). */
  timeoutMs?: number;
}

export const isAccepted = (a: SignInAttempt): boolean => a.status === 303 || a.session;

/** The SAMLResponse form SimpleSAMLphp auto-submits for a login started at the operator, or the operator's refusal. */
export async function toSamlResponse(
  browser: BrowserClient,
  t: SignInTarget,
): Promise<{ form: ParsedForm } | { refused: { step: 'login' | 'idp'; status: number; reason: string } }> {
  const urls = spURLs(t.baseURL, t.namespace ?? NS.teamA, t.connector ?? CONNECTOR);
  const user = t.user ?? 'alice';
  let page = await browser.get(`${urls.loginURL}?rd=${encodeURIComponent(t.rd ?? '/app')}`);
  if (new URL(page.url).origin !== new URL(t.idp.ssoURL).origin) {
    return { refused: { step: 'login', status: page.status, reason: errorReason(page) ?? `NoErrorPage(${new URL(page.url).pathname})` } };
  }
  const loginForm = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
  if (loginForm) page = await browser.submit(loginForm, { username: user, password: USERS[user].password });
  const form = findFormWithField(page, 'SAMLResponse');
  if (!form || form.action !== urls.acsURL) {
    return { refused: { step: 'idp', status: page.status, reason: form ? `IdPPostsTo(${form.action})` : 'NoSAMLResponseForm' } };
  }
  return { form };
}

/** One whole SP-initiated sign-in in a fresh browser (so SimpleSAMLphp's login form is filled every time). */
export async function signInOnce(t: SignInTarget): Promise<SignInAttempt> {
  const browser = new BrowserClient();
  const start = Date.now();
  let decidedAt = start;
  const hasSession = () => browser.cookies.get(t.baseURL, 'sso_session') !== undefined;
  const attempt = async (): Promise<SignInAttempt> => {
    const r = await toSamlResponse(browser, t);
    if ('refused' in r) return { start, decidedAt, end: Date.now(), ...r.refused, session: hasSession() };
    decidedAt = Date.now();
    const acs = await browser.submit(r.form, {}, { followRedirects: false });
    let reason = acs.status === 303 ? 'Success' : (errorReason(acs) ?? `NoErrorPage`);
    if (acs.status === 303 && new URL(acs.headers.get('location') ?? '', t.baseURL).pathname !== (t.rd ?? '/app')) reason = 'WrongTarget';
    return { start, decidedAt, end: Date.now(), step: 'acs', status: acs.status, reason, session: hasSession() };
  };
  const timeoutMs = t.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<SignInAttempt>((r) => {
    timer = setTimeout(() => r({ start, decidedAt, end: Date.now(), step: 'network', status: 0, reason: 'Timeout', session: hasSession() }), timeoutMs);
  });
  try {
    return await Promise.race([
      attempt().catch((err: unknown) => {
        const cause = (err as { cause?: { code?: string } }).cause;
        return { start, decidedAt, end: Date.now(), step: 'network' as const, status: 0, reason: cause?.code ?? String((err as Error).message ?? err), session: hasSession() };
      }),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Signs in once a second (one attempt at a time) until stop(), and records
 * every attempt. Stops by itself after `maxAttempts` or `maxMs`.
 */
export class Signer {
  readonly name: string;
  readonly attempts: SignInAttempt[] = [];
  readonly #target: SignInTarget;
  readonly #intervalMs: number;
  readonly #maxAttempts: number;
  readonly #deadline: number;
  #stopped = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(name: string, target: SignInTarget, o: { intervalMs?: number; maxAttempts?: number; maxMs?: number } = {}) {
    this.name = name;
    this.#target = target;
    this.#intervalMs = o.intervalMs ?? 1000;
    this.#maxAttempts = o.maxAttempts ?? 300;
    this.#deadline = Date.now() + (o.maxMs ?? 240_000);
  }

  start(): this {
    this.#running ??= this.#loop();
    return this;
  }

  async #loop(): Promise<void> {
    while (!this.#stopped && this.attempts.length < this.#maxAttempts && Date.now() < this.#deadline) {
      const t0 = Date.now();
      this.attempts.push(await signInOnce(this.#target));
      const wait = t0 + this.#intervalMs - Date.now();
      if (wait > 0 && !this.#stopped) {
        await new Promise<void>((r) => {
          const timer = setTimeout(r, wait);
          this.#wake = () => {
            clearTimeout(timer);
            r();
          };
        });
        this.#wake = undefined;
      }
    }
  }

  /** Stops after the attempt in progress; resolves when it is recorded. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#running;
  }

  /** Attempts decided in [from, to). */
  between(from: number, to = Infinity): SignInAttempt[] {
    return this.attempts.filter((a) => a.decidedAt >= from && a.decidedAt < to);
  }

  /** Waits for the first attempt decided at or after `from` that matches; rejects after timeoutMs. */
  async waitFor(from: number, what: string, match: (a: SignInAttempt) => boolean, timeoutMs: number): Promise<SignInAttempt> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.attempts.find((a) => a.decidedAt >= from && match(a));
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; since then: ${describeAttempts(this.between(from))}`);
      }
      await sleep(25);
    }
  }

  /** Waits until `count` more attempts were recorded after `from`. */
  async waitForAttempts(from: number, count: number, timeoutMs = count * 1500 + 10_000): Promise<SignInAttempt[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.attempts.filter((a) => a.start >= from).length < count) {
      if (Date.now() > deadline) throw new Error(`${this.name}: fewer than ${count} attempts after ${from} within ${timeoutMs} ms`);
      await sleep(25);
    }
    return this.attempts.filter((a) => a.start >= from);
  }
}

export interface AttemptSummary {
  total: number;
  success: number;
  /** 503 answers, by reason. */
  unavailable: number;
  /** Everything else, `status reason` -> count. */
  other: Record<string, number>;
}

export function summarize(attempts: readonly SignInAttempt[]): AttemptSummary {
  const s: AttemptSummary = { total: attempts.length, success: 0, unavailable: 0, other: {} };
  for (const a of attempts) {
    if (a.status === 303 && a.reason === 'Success' && a.session) s.success++;
    else if (a.status === 503) s.unavailable++;
    else s.other[`${a.status} ${a.reason}`] = (s.other[`${a.status} ${a.reason}`] ?? 0) + 1;
  }
  return s;
}

export function formatSummary(s: AttemptSummary): string {
  const other = Object.entries(s.other).map(([k, n]) => `${n}x ${k}`);
  return `${s.total} attempts: ${s.success} ok, ${s.unavailable} 503${other.length ? `, ${other.join(', ')}` : ''}`;
}

/** `status reason` of each attempt, for assertion messages. */
export function describeAttempts(attempts: readonly SignInAttempt[], origin?: number): string {
  return `[${attempts.map((a) => `${origin !== undefined ? `+${a.decidedAt - origin}ms ` : ''}${a.step}:${a.status} ${a.reason}${a.session ? ' +session' : ''}`).join('; ')}]`;
}

// ---------------------------------------------------------------------------------
// Operator replicas as separate processes (the real CLI)

export interface ReplicaOptions {
  kubeconfigPath: string;
  /** POD_NAME: the replica's Lease identity. */
  identity: string;
  /** POD_NAMESPACE: its own namespace (Lease, session keys). Default sso-system. */
  namespace?: string;
  /** Watched namespaces. Default [team-a]. */
  watch?: readonly string[];
  /** Public port (its publicURL is http://127.0.0.1:PORT); default a free one. */
  port?: number;
  /** How long to wait for /readyz (default 30 s). */
  readyTimeoutMs?: number;
  /** More flags, e.g. ['--kube-qps', '300']. */
  extraArgs?: readonly string[];
  /** Flags for node itself, before the script (e.g. V8 heap flags). */
  nodeArgs?: readonly string[];
}

export interface Replica {
  identity: string;
  pid: number;
  baseURL: string;
  adminURL: string;
  port: number;
  /** Resolves when the process exited, with when (Date.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readonly running: boolean;
  /** Everything it wrote (pino JSON on stdout, anything on stderr). */
  output(): string;
  /** Its JSON log lines. */
  logLines(): Record<string, unknown>[];
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still running; resolves when it is gone. */
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `sso-operator run` in cluster mode as its own process; resolves once /readyz answers 200. */
export async function startReplica(o: ReplicaOptions): Promise<Replica> {
  const port = o.port ?? (await freePort());
  const adminPort = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const node = join(ROOT, 'node_modules', '.bin', 'node');
  // As the image runs it (node flags and memory settings from the Dockerfile).
  const runtime = operatorRuntime();
  const args = [
    ...runtime.nodeArgs,
    ...(o.nodeArgs ?? []),
    join(ROOT, 'src', 'cli.ts'), 'run',
    '--kubeconfig', o.kubeconfigPath,
    '--namespaces', (o.watch ?? [NS.teamA]).join(','),
    '--public-url', baseURL,
    '--listen', `127.0.0.1:${port}`,
    '--admin-listen', `127.0.0.1:${adminPort}`,
    '--log-level', 'info',
    ...(o.extraArgs ?? []),
  ];
  // setpriv --pdeathsig: the kernel kills the replica if the test process dies, even by SIGKILL.
  // setpriv execs node, so the child's pid is the operator's own.
  const useSetpriv = existsSync('/usr/bin/setpriv');
  const child = useSetpriv
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', node, ...args], { cwd: ROOT, env: { ...replicaEnv(o), ...runtime.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(node, args, { cwd: ROOT, env: { ...replicaEnv(o), ...runtime.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal, at: Date.now() };
      live.delete(child);
      r(exitInfo);
    });
  });
  const replica: Replica = {
    identity: o.identity,
    pid: child.pid ?? -1,
    baseURL,
    adminURL: `http://127.0.0.1:${adminPort}`,
    port,
    exited,
    get running() {
      return exitInfo === undefined;
    },
    output: () => out,
    logLines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    signal: (sig) => {
      if (exitInfo === undefined) child.kill(sig);
    },
    destroy: async () => {
      if (exitInfo === undefined) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exitInfo) throw new Error(`replica ${o.identity} exited (${JSON.stringify(exitInfo)}) before it was ready:\n${out.slice(-4000)}`);
    try {
      if ((await fetch(`${replica.adminURL}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200) return replica;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await replica.destroy();
      throw new Error(`replica ${o.identity} not ready within ${o.readyTimeoutMs ?? 30_000} ms:\n${out.slice(-4000)}`);
    }
    await sleep(100);
  }
}

function replicaEnv(o: ReplicaOptions): NodeJS.ProcessEnv {
  // Only what a pod would have: no SSO_* variables of the test environment leak in.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, POD_NAMESPACE: o.namespace ?? NS.operator, POD_NAME: o.identity };
  return env;
}

// ---------------------------------------------------------------------------------
// The leader Lease, watched from outside

export interface LeaseSample {
  at: number;
  holder: string;
}

/** Polls the Lease every `intervalMs` and records each change of holder ('' = released, or none). Stops by itself after maxMs. */
export class LeaseWatcher {
  readonly changes: LeaseSample[] = [];
  #stopped = false;
  readonly #running: Promise<void>;
  readonly #cp: Parameters<typeof kubeRequest>[0];
  readonly #path: string;

  constructor(cp: Parameters<typeof kubeRequest>[0], namespace: string, name: string, o: { intervalMs?: number; maxMs?: number } = {}) {
    this.#cp = cp;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
    const deadline = Date.now() + (o.maxMs ?? 180_000);
    this.#running = (async () => {
      while (!this.#stopped && Date.now() < deadline) {
        const holder = await this.read().catch(() => undefined);
        if (holder !== undefined && this.current?.holder !== holder) this.changes.push({ at: Date.now(), holder });
        await sleep(o.intervalMs ?? 50);
      }
    })();
  }

  /** The holder right now ('' when released or absent). */
  async read(): Promise<string> {
    const r = await kubeRequest(this.#cp, 'GET', this.#path);
    if (r.status === 404) return '';
    if (r.status !== 200) throw new Error(`GET Lease: HTTP ${r.status}`);
    return String(r.body?.spec?.holderIdentity ?? '');
  }

  get current(): LeaseSample | undefined {
    return this.changes.at(-1);
  }

  /** The first change to `holder` at or after `from`. */
  async waitForHolder(holder: string, from: number, timeoutMs: number): Promise<LeaseSample> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.changes.find((c) => c.at >= from && c.holder === holder);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`the Lease did not go to ${JSON.stringify(holder)} within ${timeoutMs} ms; changes: ${JSON.stringify(this.changes)}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }
}

// ---------------------------------------------------------------------------------
// A slow request

/**
 * POSTs a form to `url` with its body streamed in `chunks` pieces, `gapMs`
 * apart (a client on a slow link). `onFirstChunk` runs once the request is
 * on the wire. Resolves with the answer (or rejects on a network error).
 */
export function slowFormPost(
  url: string,
  form: ParsedForm,
  cookie: string,
  o: { chunks: number; gapMs: number; onFirstChunk?: () => void; agent?: Agent },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; at: number }> {
  const body = Buffer.from(new URLSearchParams(form.entries).toString());
  return new Promise((resolvePost, reject) => {
    const req = httpRequest(url, {
      method: 'POST',
      ...(o.agent ? { agent: o.agent } : {}),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': body.length,
        ...(cookie ? { cookie } : {}),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, headers: res.headers, body: text, at: Date.now() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const size = Math.ceil(body.length / o.chunks);
    void (async () => {
      for (let i = 0; i < o.chunks; i++) {
        const piece = body.subarray(i * size, (i + 1) * size);
        if (piece.length > 0) req.write(piece);
        if (i === 0) o.onFirstChunk?.();
        if (i < o.chunks - 1) await sleep(o.gapMs);
      }
      req.end();
    })();
  });
}
