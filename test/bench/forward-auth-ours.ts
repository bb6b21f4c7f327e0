// Our side of the forward-auth benchmark: the operator in standalone mode as
// a process of its own (`node src/cli.ts run --manifests ...`, pinned to a
// core by the caller), one SAML connector and one Active binding, and session
// cookies as a sign-in issues them: signed with the operator's own key file,
// carrying a SAML NameID and SessionIndex (so the revocation keys of single
// logout are looked up, as for every real SAML session).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKeySetJSON } from '../../src/session/keys.ts';
import { SessionTokens, type SessionClaimsInput } from '../../src/session/tokens.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { freePort } from '../support/system-deps.ts';
import { bindingManifest, connectorManifest } from '../unit/server/manifests.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONNECTOR = 'default/demo';
const USER = 'alice@example.com';

export interface OursServer {
  port: number;
  pid: number;
  /** Cookie header values: a valid session, one logged out (revoked), one past its exp. */
  cookies: { valid: string; revoked: string; expired: string };
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Command prefix, e.g. ['taskset', '-c', '1']. */
  pin: string[];
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

async function waitReady(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`operator not ready at ${url} within ${deadlineMs} ms`);
}

export async function startOurs(opts: StartOptions): Promise<OursServer> {
  const root = await mkdtemp(join(tmpdir(), 'sso-bench-fwd-'));
  const manifests = join(root, 'manifests');
  const stateDir = join(root, 'state');
  await mkdir(manifests, { recursive: true });
  const idp = await signingIdentity('bench-fwd-idp', 'RSA');
  // JSON is YAML: the manifests go through the operator's own admission.
  await writeFile(join(manifests, 'connector.yaml'), JSON.stringify(connectorManifest('demo', idp.certPem, { ttl: '8h' })));
  await writeFile(join(manifests, 'binding.yaml'), JSON.stringify(bindingManifest('alice', USER, ['demo'], { groups: ['devs', 'admins'] })));
  const [port, adminPort] = [await freePort(), await freePort()];
  const publicURL = `http://127.0.0.1:${port}`;
  const args = [...(opts.nodeArgs ?? []), join(ROOT, 'src/cli.ts'), 'run', '--manifests', manifests, '--state-dir', stateDir];
  args.push('--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--public-url', publicURL, '--log-level', 'info');
  const [cmd, ...pre] = [...opts.pin, process.execPath];
  const child = spawn(cmd!, [...pre, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };
  try {
    await waitReady(`http://127.0.0.1:${adminPort}/readyz`, child, 30_000);
    const keys = parseKeySetJSON(await readFile(join(stateDir, 'session-keys.json'), 'utf8'));
    const tokens = new SessionTokens(() => keys, publicURL);
    const claims = (index: string): SessionClaimsInput => ({
      sub: USER,
      email: USER,
      groups: ['devs', 'admins'],
      connector: CONNECTOR,
      saml: { nameID: USER, nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: index },
    });
    const cookie = (token: string) => `sso_session=${token}`;
    const valid = cookie((await tokens.issue(claims('_bench-valid'), 3600)).token);
    const revoked = cookie((await tokens.issue(claims('_bench-revoked'), 3600)).token);
    const expired = cookie((await tokens.issue(claims('_bench-expired'), 3600, new Date(Date.now() - 2 * 3600 * 1000))).token);
    // Revoked the way a user does it: /auth/logout with the cookie.
    const out = await fetch(`${publicURL}/auth/logout`, { method: 'POST', headers: { cookie: revoked }, redirect: 'manual' });
    if (out.status !== 303) throw new Error(`logout answered ${out.status}`);
    for (const [what, c, want] of [['valid', valid, 200], ['revoked', revoked, 401], ['expired', expired, 401]] as const) {
      const res = await fetch(`${publicURL}/auth/verify`, { headers: { cookie: c } });
      if (res.status !== want) throw new Error(`probe: ${what} session answered ${res.status}, expected ${want}`);
    }
    return { port, pid: child.pid!, cookies: { valid, revoked, expired }, stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
}
