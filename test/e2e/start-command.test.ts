// The real CLI, as the README's quick start runs it (`npm start`): a child
// process on free ports with a copy of examples/ whose URLs point at it;
// ready on /readyz, the connector on /, a clean exit on SIGTERM. And the two
// refusals a first-time user can hit: no --manifests, a plain-http public URL.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, jest, test } from '@jest/globals';
import { freePort } from '../support/system-deps.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NODE = join(REPO, 'node_modules/.bin/node');
const EXAMPLE_URL = 'http://localhost:8080';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment without SSO_* variables, so only the flags given here count. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SSO_')));
}

function startCli(args: string[]) {
  const child = spawn(NODE, ['src/cli.ts', ...args], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, ...out })));
  return { child, out, exited };
}

/** Runs the CLI to completion (it must exit on its own within `ms`). */
async function runCli(args: string[], ms = 15_000): Promise<Run> {
  const { child, exited } = startCli(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    const r = await exited;
    assert.equal(r.signal, null, `sso-operator ${args.join(' ')} exited on its own (not killed after ${ms} ms)`);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/** The arguments of `npm start`, from package.json, so this test follows the shipped command. */
async function npmStartArgs(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ['node', 'src/cli.ts'], 'npm start runs src/cli.ts');
  const args = words.slice(2);
  assert.deepEqual(args, ['run', '--manifests', 'examples', '--demo-idp'], 'npm start is the README\'s command');
  return args;
}

describe('sso-operator run (the quick-start command)', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(60_000);
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sso-operator-cli-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('starts on the examples with --demo-idp, becomes ready, lists the connector, exits 0 on SIGTERM', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const baseURL = `http://localhost:${port}`;
    const manifests = join(root, 'examples');
    const stateDir = join(root, 'state');
    await mkdir(manifests);
    const examples = (await readdir(join(REPO, 'examples'))).filter((n) => /\.ya?ml$/.test(n));
    assert.ok(examples.length > 0);
    for (const name of examples) {
      await writeFile(join(manifests, name), (await readFile(join(REPO, 'examples', name), 'utf8')).replaceAll(EXAMPLE_URL, baseURL));
    }

    const args = (await npmStartArgs()).map((a) => (a === 'examples' ? manifests : a));
    args.push('--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--public-url', baseURL, '--state-dir', stateDir);
    const started = performance.now();
    const { child, out, exited } = startCli(args);
    let exitedEarly: Run | undefined;
    void exited.then((r) => (exitedEarly = r));
    try {
      // Ready: /readyz answers 200 on the admin port.
      let ready = false;
      while (!ready) {
        if (exitedEarly) assert.fail(`the operator exited early (${exitedEarly.code}): ${exitedEarly.stderr}${exitedEarly.stdout}`);
        assert.ok(performance.now() - started < 20_000, `/readyz was not 200 within 20 s; stderr: ${out.stderr}`);
        ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
          async (r) => (await r.text(), r.status === 200),
          () => false,
        );
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      console.log(`# ready in ${Math.round(performance.now() - started)} ms`);

      const home = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(home.status, 200);
      const html = await home.text();
      assert.match(html, /Demo IdP \(development only\)/);
      assert.match(html, /default\/demo/);
      assert.match(html, /href="\/saml\/default\/demo\/login\?rd=%2Fauth%2Fwhoami">Sign in</, 'the connector is ready with a Sign in link');
      assert.match(html, /href="\/demo-idp\/"/);

      // Every example SsoConnector becomes Ready, demo-encrypted too, which is
      // configured from the demo IdP's metadata URL and has its own encryption
      // key. That URL is on this very process, whose first fetch comes before
      // the public port listens and fails; the retry 5 s later succeeds, so
      // demo-encrypted is Ready some seconds after /readyz.
      type Resource = { kind: string; namespace?: string; name: string; status?: { conditions?: { type: string; status: string; reason: string; message?: string }[] } };
      const expected = ['default/demo', 'default/demo-encrypted', 'default/demo-oidc'];
      let notReady: string[] = [];
      for (const until = performance.now() + 20_000; ; ) {
        const status = (await (await fetch(`http://127.0.0.1:${adminPort}/admin/status`)).json()) as { resources: Resource[] };
        const connectors = status.resources.filter((r) => r.kind === 'SsoConnector');
        notReady = expected.filter((key) => {
          const r = connectors.find((c) => `${c.namespace}/${c.name}` === key);
          return !r?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        }).map((key) => `${key}: ${JSON.stringify(connectors.find((c) => `${c.namespace}/${c.name}` === key)?.status?.conditions ?? 'no status yet')}`);
        if (notReady.length === 0) {
          assert.deepEqual(connectors.map((r) => `${r.namespace}/${r.name}`).sort(), expected, 'the example connectors');
          break;
        }
        assert.ok(performance.now() < until, `not Ready within 20 s: ${notReady.join('; ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      console.log(`# every example connector Ready ${Math.round(performance.now() - started)} ms after start`);
      const homeAgain = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      assert.match(homeAgain, /href="\/saml\/default\/demo-encrypted\/login\?rd=%2Fauth%2Fwhoami">Sign in</, 'demo-encrypted has a Sign in link');

      // The SP-initiated login goes to the demo IdP at the rewritten URL.
      const login = await fetch(`http://127.0.0.1:${port}/saml/default/demo/login?rd=%2Fauth%2Fwhoami`, { redirect: 'manual' });
      assert.equal(login.status, 302);
      assert.ok(login.headers.get('location')?.startsWith(`${baseURL}/demo-idp/sso?SAMLRequest=`), `location ${login.headers.get('location')}`);

      assert.ok((await stat(join(stateDir, 'session-keys.json'))).isFile(), 'session keys are kept in --state-dir');
      assert.match(out.stdout, /sso-operator started \(standalone\)/);
      assert.match(out.stdout, /never use --demo-idp in production/);

      const stopAt = performance.now();
      assert.equal(child.kill('SIGTERM'), true);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(timer);
      const stopMs = Math.round(performance.now() - stopAt);
      console.log(`# exited ${r.code} ${r.signal ?? ''} in ${stopMs} ms after SIGTERM`);
      assert.equal(r.signal, null, 'not killed: it exited by itself within 10 s');
      assert.equal(r.code, 0);
      assert.ok(stopMs < 10_000);
      assert.match(r.stdout, /"signal":"SIGTERM".*shutting down/);
      assert.equal(r.stderr, '');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('run without --manifests exits 2 and names --manifests', async () => {
    const r = await runCli(['run']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--manifests/);
  });

  test('a plain-http public URL on a non-loopback host exits 2 and asks for https', async () => {
    const r = await runCli(['run', '--manifests', join(REPO, 'examples'), '--public-url', 'http://example.com', '--state-dir', join(root, 'refused-state')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /https/);
    assert.match(r.stderr, /--public-url/);
    await assert.rejects(stat(join(root, 'refused-state')), 'nothing was started (no state dir)');
  });
});
