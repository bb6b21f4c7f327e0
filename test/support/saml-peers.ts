// The SAML service-provider peers that run outside Node, for the benchmark
// (test/bench) and the peer test (test/integration/saml-peers.test.ts):
// crewjam/saml and gosaml2 (one Go program, tools/peers/saml-go) and
// python3-saml (tools/peers/saml-python/validate.py under Debian's
// /usr/bin/python3). tools/peers/build.sh builds the Go program into a cache
// outside the repo and installs the Debian package when missing; warm it
// returns in well under a second. The Jest global set-up runs it first.
//
// A peer process reads a setup line (certificate, URLs, the responses) and
// then validates one segment of responses per request line, timing each
// validation itself: process start, imports and I/O are not in its figures,
// and the benchmark can interleave its segments with the in-process
// libraries' round by round.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_SCRIPT = join(REPO_ROOT, 'tools', 'peers', 'build.sh');
const PYTHON_SCRIPT = join(REPO_ROOT, 'tools', 'peers', 'saml-python', 'validate.py');

export type ProcessPeerId = 'crewjam' | 'gosaml2' | 'python3-saml';

/** The libraries each peer program holds. */
export const PEER_PROGRAMS = {
  go: ['crewjam', 'gosaml2'],
  python: ['python3-saml'],
} as const satisfies Record<string, readonly ProcessPeerId[]>;

export interface PeerSetup {
  idpCertPem: string;
  idpEntityId: string;
  spEntityId: string;
  acsUrl: string;
  expectedNameId: string;
  samples: { samlResponse: string; requestId: string }[];
}

/** The answer to one segment [from, to). */
export interface PeerSegment {
  /** Per response: accepted with the expected NameID. */
  accepted: boolean[];
  /** Per response, µs, measured inside the peer process. */
  timingsUs: number[];
  /** The first few refusals. */
  errors: string[];
}

const prepared = new Map<keyof typeof PEER_PROGRAMS, { ok: true; command: string } | { ok: false; reason: string }>();

/**
 * Runs `tools/peers/build.sh go|python` once per process and program (a cold
 * Go build takes 1 to 3 minutes, an apt-get install about 20 s; warm, well
 * under a second): the command to run, or why there is none. Its progress
 * goes to stderr; the reason of a failure is its last error line.
 */
export function ensurePeer(program: keyof typeof PEER_PROGRAMS): { ok: true; command: string } | { ok: false; reason: string } {
  const known = prepared.get(program);
  if (known) return known;
  const res = spawnSync('bash', [BUILD_SCRIPT, program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  let outcome: { ok: true; command: string } | { ok: false; reason: string };
  if (res.error) {
    outcome = { ok: false, reason: `could not run tools/peers/build.sh: ${res.error.message}` };
  } else {
    const logLines = res.stderr.split('\n').filter((l) => l.trim() !== '');
    // Only a build or an install is worth showing; the warm check says nothing new.
    if (res.status !== 0 || logLines.some((l) => !l.includes('up to date'))) process.stderr.write(res.stderr);
    const command = res.stdout.trim().split('\n').at(-1) ?? '';
    if (res.status !== 0) {
      const why = logLines.filter((l) => l.includes('ERROR')).at(-1) ?? `exit ${res.status ?? res.signal}`;
      outcome = { ok: false, reason: `tools/peers/build.sh ${program} failed: ${why}` };
    } else if (command === '') {
      outcome = { ok: false, reason: `tools/peers/build.sh ${program} printed no command` };
    } else {
      outcome = { ok: true, command };
    }
  }
  prepared.set(program, outcome);
  return outcome;
}

/** A running peer program (one validation at a time; segments are queued). */
export class PeerProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (s: PeerSegment) => void; reject: (e: Error) => void }[] = [];
  private stderr = '';
  private exited: Error | undefined;

  private constructor(cmd: string, args: string[], env: NodeJS.ProcessEnv, setup: PeerSetup) {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => this.answer(line));
    const fail = (e: Error) => {
      this.exited ??= e;
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    };
    child.on('error', (e) => fail(new Error(`could not start ${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => fail(new Error(`${cmd} exited with ${code ?? signal}: ${this.stderr.trim().split('\n').at(-1) ?? ''}`)));
    child.stdin.on('error', () => {}); // a child that died early reports through 'close'
    child.stdin.write(`${JSON.stringify(setup)}\n`);
  }

  /** Starts the Go program (crewjam, gosaml2; GOMAXPROCS=1) or the Python one (python3-saml), building or installing it first when needed. */
  static start(program: keyof typeof PEER_PROGRAMS, setup: PeerSetup): { ok: true; peer: PeerProcess } | { ok: false; reason: string } {
    const ready = ensurePeer(program);
    if (!ready.ok) return ready;
    const peer =
      program === 'go'
        ? new PeerProcess(ready.command, [], { ...process.env, GOMAXPROCS: '1' }, setup)
        : new PeerProcess(ready.command, [PYTHON_SCRIPT], { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, setup);
    return { ok: true, peer };
  }

  /** Has `library` validate responses [from, to); rejects when the program fails. */
  segment(library: ProcessPeerId, from: number, to: number): Promise<PeerSegment> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolvePromise, reject) => {
      this.waiting.push({ resolve: resolvePromise, reject });
      this.child.stdin.write(`${JSON.stringify({ library, from, to })}\n`);
    });
  }

  private answer(line: string): void {
    const w = this.waiting.shift();
    if (!w) return;
    try {
      const a = JSON.parse(line) as PeerSegment & { error?: string };
      if (a.error) w.reject(new Error(a.error));
      else w.resolve(a);
    } catch (e) {
      w.reject(new Error(`unreadable answer from the peer program: ${(e as Error).message}`));
    }
  }

  /** Closes its stdin and waits for it to exit. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolvePromise) => {
      this.child.once('close', () => resolvePromise());
      this.child.stdin.end();
    });
  }
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
