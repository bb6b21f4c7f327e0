// The SAML service-provider peers that run outside Node, for the benchmark
// (test/bench) and the peer test (test/integration/saml-peers.test.ts):
// crewjam/saml and gosaml2 (one Go program, tools/peers/saml-go) and
// python3-saml (tools/peers/saml-python/validate.py under Debian's
// /usr/bin/python3). tools/peers/build.sh builds the Go program into a cache
// outside the repo and installs the Debian package when missing; warm it
// returns in well under a second. The Jest global set-up runs it first.
//
// A peer process gets the whole batch as JSON on stdin and times each
// validation itself, so process start, imports and I/O are not in its
// figures.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_SCRIPT = join(REPO_ROOT, 'tools', 'peers', 'build.sh');
const PYTHON_SCRIPT = join(REPO_ROOT, 'tools', 'peers', 'saml-python', 'validate.py');
/** Debian's interpreter: python3-onelogin-saml2 is installed for it, not for another python3 on the PATH. */
const PYTHON = '/usr/bin/python3';

export type ProcessPeerId = 'crewjam' | 'gosaml2' | 'python3-saml';

export interface PeerBatch {
  idpCertPem: string;
  idpEntityId: string;
  spEntityId: string;
  acsUrl: string;
  expectedNameId: string;
  /** Responses [0, warmup) are validated untimed, the rest timed in `rounds` segments. */
  warmup: number;
  rounds: number;
  samples: { samlResponse: string; requestId: string }[];
}

export interface PeerResult {
  /** Per response: accepted with the expected NameID. */
  accepted: boolean[];
  /** Timed validations, µs, measured inside the peer process. */
  timingsUs: number[];
  failures: number;
  /** The first few refusals, for the report. */
  errors: string[];
}

export type PeerRun = { ok: true; results: Partial<Record<ProcessPeerId, PeerResult>> } | { ok: false; reason: string };

let built: { ok: true; goBinary: string } | { ok: false; reason: string } | undefined;

/**
 * Runs tools/peers/build.sh once per process (a cold Go build takes 1 to 3
 * minutes, an apt-get install about 20 s; warm, well under a second). Its
 * progress goes to stderr; the reason of a failure is its last error line.
 */
export function ensurePeers(): { ok: true; goBinary: string } | { ok: false; reason: string } {
  if (built) return built;
  const res = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error) return (built = { ok: false, reason: `could not run tools/peers/build.sh: ${res.error.message}` });
  const logLines = res.stderr.split('\n').filter((l) => l.trim() !== '');
  // Only a build or an install is worth showing; the warm check says nothing new.
  if (res.status !== 0 || logLines.some((l) => !l.includes('up to date'))) process.stderr.write(res.stderr);
  if (res.status !== 0) {
    const why = logLines.filter((l) => l.includes('ERROR')).at(-1) ?? `exit ${res.status ?? res.signal}`;
    return (built = { ok: false, reason: `tools/peers/build.sh failed: ${why}` });
  }
  const goBinary = res.stdout.trim().split('\n').at(-1) ?? '';
  if (goBinary === '') return (built = { ok: false, reason: 'tools/peers/build.sh printed no binary path' });
  return (built = { ok: true, goBinary });
}

function runJson(cmd: string, args: string[], input: unknown, env: NodeJS.ProcessEnv): Promise<PeerRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolvePromise({ ok: false, reason: `could not start ${cmd}: ${e.message}` }));
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code !== 0) {
        resolvePromise({ ok: false, reason: `${cmd} exited with ${code ?? signal}: ${stderr.split('\n').at(-1) ?? ''}` });
        return;
      }
      try {
        resolvePromise({ ok: true, results: JSON.parse(Buffer.concat(out).toString('utf8')) as Partial<Record<ProcessPeerId, PeerResult>> });
      } catch (e) {
        resolvePromise({ ok: false, reason: `${cmd} printed no JSON result: ${(e as Error).message}` });
      }
    });
    child.stdin.on('error', () => {}); // a child that died early reports through 'close'
    child.stdin.end(JSON.stringify(input));
  });
}

/** crewjam/saml and gosaml2 on one goroutine (GOMAXPROCS=1), taking turns segment by segment. */
export function runGoPeers(batch: PeerBatch): Promise<PeerRun> {
  const peers = ensurePeers();
  if (!peers.ok) return Promise.resolve(peers);
  return runJson(peers.goBinary, [], { ...batch, libraries: ['crewjam', 'gosaml2'] }, { ...process.env, GOMAXPROCS: '1' });
}

export function runPythonPeer(batch: PeerBatch): Promise<PeerRun> {
  const peers = ensurePeers();
  if (!peers.ok) return Promise.resolve(peers);
  return runJson(PYTHON, [PYTHON_SCRIPT], batch, { ...process.env, PYTHONDONTWRITEBYTECODE: '1' });
}

/** Versions of the process peers, for the report header: go.mod's pins and the Debian package's version. */
export function peerVersions(): { crewjam: string; gosaml2: string; python3Saml: string } {
  let gomod = '';
  try {
    gomod = readFileSync(join(REPO_ROOT, 'tools', 'peers', 'saml-go', 'go.mod'), 'utf8');
  } catch {
    // reported as unknown
  }
  const pin = (mod: string) => new RegExp(`^\\s*(?:require\\s+)?${mod.replaceAll('.', '\\.')}\\s+(v\\S+)`, 'm').exec(gomod)?.[1] ?? 'unknown';
  const dpkg = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'python3-onelogin-saml2'], { encoding: 'utf8' });
  return {
    crewjam: pin('github.com/crewjam/saml'),
    gosaml2: pin('github.com/russellhaering/gosaml2'),
    python3Saml: dpkg.status === 0 && dpkg.stdout ? dpkg.stdout : 'not installed',
  };
}
