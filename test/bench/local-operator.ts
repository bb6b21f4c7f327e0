// A real operator for the HTTP benchmarks and `npm run loadtest`: the
// `sso-operator run` command in a child process of its own (standalone on a
// temp folder of manifests, loopback only, logs to /dev/null), one SAML
// connector `default/demo` whose IdP key this process holds, and one Active
// binding for alice. Sign-ins are prepared the way a browser makes them:
// GET /login for the state cookie and the AuthnRequest, then a signed
// response answering that request (its own ID and InResponseTo).

import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAuthnRequest } from '../../src/demo-idp/saml-idp.ts';
import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import { operatorRuntime } from '../support/operator-runtime.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { freePort } from '../support/system-deps.ts';
import { answer } from '../unit/server/harness.ts';
import { bindingManifest, connectorManifest } from '../unit/server/manifests.ts';
import type { LoadRequest } from './loadgen.ts';
import { pinned } from './loadgen.ts';

export const ACS_PATH = '/saml/default/demo/acs';
const LOGIN_PATH = '/saml/default/demo/login?rd=%2Fapp';
const VALIDITY_MS = 2 * 3600 * 1000;

export interface LocalOperator {
  pid: number;
  port: number;
  baseURL: string;
  /** Its --state-dir (session-keys.json is there). */
  stateDir: string;
  idp: SigningIdentity;
  /** Resident set size of the operator now, KiB (from /proc/PID/status). */
  rssKiB(): number | undefined;
  /**
   * CPU time the operator has used so far, ms (user + system, /proc/PID/stat).
   * On a shared machine this says what a request costs better than a rate does.
   */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/** Starts `sso-operator run` on loopback (pinned to core `cpu` when given) and waits for /readyz. */
export async function startLocalOperator(opts: { cpu?: number; args?: string[]; nodeOptions?: string[]; /** Another checkout's src/cli.ts (before/after comparisons). */ cli?: string } = {}): Promise<LocalOperator> {
  const idp = await signingIdentity('bench-idp', 'RSA');
  const root = await mkdtemp(join(tmpdir(), 'sso-bench-'));
  const manifests = join(root, 'manifests');
  await import('node:fs/promises').then((fs) => fs.mkdir(manifests));
  // JSON is YAML: one file per object.
  await writeFile(join(manifests, 'connector.yaml'), JSON.stringify(connectorManifest('demo', idp.certPem, { ttl: '8h' })));
  await writeFile(join(manifests, 'binding.yaml'), JSON.stringify(bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs'] })));
  const [port, adminPort] = [await freePort(), await freePort()];
  const baseURL = `http://127.0.0.1:${port}`;
  const cli = opts.cli ?? fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
  // As the image runs it (node flags and memory settings from the Dockerfile).
  const runtime = operatorRuntime();
  const argv = [
    process.execPath, ...runtime.nodeArgs, ...(opts.nodeOptions ?? []), cli, 'run', '--manifests', manifests, '--state-dir', join(root, 'state'),
    '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--public-url', baseURL, ...(opts.args ?? []),
  ];
  const [cmd, args] = pinned(opts.cpu, argv);
  // The log goes nowhere, unless SSO_BENCH_STDOUT names a file (for V8's --trace-opt and the like in nodeOptions).
  const stdout = openSync(process.env.SSO_BENCH_STDOUT ?? '/dev/null', 'w');
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', stdout, 'inherit'], env: { ...process.env, ...runtime.env, SSO_LOADGEN_CHILD: '' } });
  closeSync(stdout);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };
  // Whatever happens to this process, the operator goes with it.
  process.once('exit', () => child.kill('SIGKILL'));
  try {
    await waitReady(`http://127.0.0.1:${adminPort}/readyz`, child);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid as number,
    port,
    baseURL,
    stateDir: join(root, 'state'),
    idp,
    rssKiB: () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    cpuMs: () => {
      try {
        return cpuMsOf(child.pid as number);
      } catch {
        return undefined;
      }
    },
    stop,
  };
}

/** CPU time a process has used so far, ms (user + system, /proc/PID/stat). Throws when it is gone. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th, in clock ticks (100 per second on Linux).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the operator exited with ${child.exitCode} before it was ready`);
    const status = await get(url).catch(() => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the operator was not ready within 30 s');
}

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One started login: GET /login, answered by the IdP (untimed preparation). */
function startLogin(op: LocalOperator): Promise<LoadRequest> {
  return new Promise((resolve, reject) => {
    const req = request(`${op.baseURL}${LOGIN_PATH}`, (res) => {
      res.resume();
      const cookieLine = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sso_state='));
      const location = res.headers.location;
      if (res.statusCode !== 302 || !cookieLine || !location) return reject(new Error(`GET /login answered ${res.statusCode}`));
      const url = new URL(location);
      const SAMLRequest = url.searchParams.get('SAMLRequest') ?? '';
      const RelayState = url.searchParams.get('RelayState') ?? '';
      const authn = parseAuthnRequest({ SAMLRequest, RelayState }, 'HTTPRedirect');
      const until = new Date(Date.now() + VALIDITY_MS);
      const SAMLResponse = answer(op.idp, authn, { notOnOrAfter: until, confirmationNotOnOrAfter: until });
      resolve({
        method: 'POST',
        path: ACS_PATH,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieLine.slice(0, cookieLine.indexOf(';')) },
        body: new URLSearchParams({ SAMLResponse, RelayState }).toString(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** `count` ACS posts, each completing its own pending login once. */
export async function prepareSignIns(op: LocalOperator, count: number): Promise<LoadRequest[]> {
  const out: LoadRequest[] = [];
  for (let i = 0; i < count; i++) out.push(await startLogin(op));
  return out;
}
