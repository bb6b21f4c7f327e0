// The helm CLI for chart tests, built from the Go module pinned in tools/helm/go.mod
// by tools/helm/build.sh into ${SSO_HELM_CACHE:-~/.cache/sso-operator/helm}/<version>/helm.
// ensureHelm() runs that script (synchronously, printing its progress) when the binary
// is missing; a cold build takes about 2 minutes on 2 cores.
//
// helm() runs with its config, cache and data folders in a private temp dir and no
// kubeconfig, so `helm template` / `helm lint` never read the user's repositories or
// talk to a cluster.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HELM_TOOLS = join(REPO_ROOT, 'tools', 'helm');

export interface HelmResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal. */
  status: number | null;
}

/** The helm version pinned in tools/helm/go.mod (e.g. v3.22.0). */
export function pinnedHelmVersion(): string {
  const gomod = readFileSync(join(HELM_TOOLS, 'go.mod'), 'utf8');
  // `require helm.sh/helm/v3 vX` on its own line, or `helm.sh/helm/v3 vX` in a block.
  const version = /^\s*(?:require\s+)?helm\.sh\/helm\/v3\s+(v\S+)/m.exec(gomod)?.[1];
  if (!version) throw new Error(`cannot read the helm.sh/helm/v3 version from ${join(HELM_TOOLS, 'go.mod')}`);
  return version;
}

export function defaultHelmPath(): string {
  const root = process.env.SSO_HELM_CACHE || join(homedir(), '.cache', 'sso-operator', 'helm');
  return join(root, pinnedHelmVersion(), 'helm');
}

let ensured: string | undefined;

/** Path of the helm binary, running tools/helm/build.sh first when it is missing. */
export function ensureHelm(): string {
  const bin = defaultHelmPath();
  if (ensured === bin || existsSync(bin)) return (ensured = bin);
  const started = Date.now();
  console.log(`[helm] ${bin} is missing; running tools/helm/build.sh (a cold build takes about 2 minutes on 2 cores)`);
  const res = spawnSync('bash', [join(HELM_TOOLS, 'build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.error) throw new Error(`could not run tools/helm/build.sh: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`tools/helm/build.sh failed (exit ${res.status ?? res.signal}); see its output above`);
  if (!existsSync(bin)) throw new Error(`tools/helm/build.sh succeeded but ${bin} is missing`);
  console.log(`[helm] phase build: ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return (ensured = bin);
}

let home: string | undefined;

function helmHome(): string {
  if (home) return home;
  const dir = mkdtempSync(join(tmpdir(), 'sso-helm-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (home = dir);
}

/** Runs helm (building it first when needed). Never throws on a non-zero exit. */
export function helm(args: string[], options: { cwd?: string; input?: string } = {}): HelmResult {
  const bin = ensureHelm();
  const dir = helmHome();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    HELM_CONFIG_HOME: join(dir, 'config'),
    HELM_CACHE_HOME: join(dir, 'cache'),
    HELM_DATA_HOME: join(dir, 'data'),
    KUBECONFIG: join(dir, 'no-kubeconfig'),
  };
  const res = spawnSync(bin, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  if (res.error) throw new Error(`could not run ${bin}: ${res.error.message}`);
  return { stdout: res.stdout, stderr: res.stderr, status: res.status };
}
