// System-level test dependencies (Debian packages) and small networking helpers.
//
// `ensureDebianPackages` is idempotent: it asks dpkg which of the packages are
// installed and only runs apt-get (as root, non-interactively) for the missing
// ones. `apt-get update` runs at most once per process.

import { execFile } from 'node:child_process';
import { createServer } from 'node:net';

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // Spawn failure (ENOENT etc.), not a non-zero exit.
          reject(err);
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Returns the subset of `pkgs` that dpkg does not report as "install ok installed". */
export async function missingDebianPackages(pkgs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const pkg of pkgs) {
    let res: ExecResult;
    try {
      res = await run('dpkg-query', ['-W', '-f=${Status}', pkg]);
    } catch (err) {
      throw new Error(
        `dpkg-query is not available (${(err as Error).message}); ` +
          `these tests need a Debian/Ubuntu machine to install: ${pkgs.join(' ')}`,
      );
    }
    if (res.code !== 0 || !res.stdout.trim().endsWith('ok installed')) missing.push(pkg);
  }
  return missing;
}

let aptUpdated: Promise<void> | undefined;

const aptEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  DEBIAN_FRONTEND: 'noninteractive',
  NEEDRESTART_MODE: 'a',
});

// Test files run in parallel processes: serialise apt across processes with a
// file lock (flock is in util-linux, Essential on Debian), and also let apt wait
// for dpkg's own lock instead of failing when something else holds it.
const APT_LOCK = '/var/lock/sso-operator-tests-apt.lock';
const APT_LOCK_OPTS = ['-o', 'DPkg::Lock::Timeout=600'];

async function runApt(args: string[]): Promise<ExecResult> {
  try {
    return await run('flock', ['-w', '900', APT_LOCK, 'apt-get', ...APT_LOCK_OPTS, ...args], aptEnv());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return run('apt-get', [...APT_LOCK_OPTS, ...args], aptEnv());
  }
}

let installQueue: Promise<unknown> = Promise.resolve();

/**
 * Makes sure the given Debian packages are installed; installs the missing ones
 * with `apt-get install -y --no-install-recommends`. Requires root when anything
 * is missing. Calls are serialised within the process (apt takes a global lock).
 * Returns the list of packages that were installed by this call (empty if none).
 */
export function ensureDebianPackages(pkgs: string[]): Promise<string[]> {
  const job = installQueue.then(() => ensureNow(pkgs));
  installQueue = job.catch(() => undefined);
  return job;
}

async function ensureNow(pkgs: string[]): Promise<string[]> {
  const missing = await missingDebianPackages(pkgs);
  if (missing.length === 0) return [];

  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(
      `Missing Debian packages: ${missing.join(' ')}. Installing them needs root; run ` +
        `'sudo apt-get install -y --no-install-recommends ${missing.join(' ')}' or run the tests as root.`,
    );
  }

  if (!aptUpdated) {
    aptUpdated = (async () => {
      const res = await runApt(['update']);
      if (res.code !== 0) {
        aptUpdated = undefined;
        throw new Error(`apt-get update failed (exit ${res.code}):\n${res.stderr || res.stdout}`);
      }
    })();
  }
  await aptUpdated;

  const args = [
    'install',
    '-y',
    '--no-install-recommends',
    '-o',
    'Dpkg::Options::=--force-confdef',
    '-o',
    'Dpkg::Options::=--force-confold',
    ...missing,
  ];
  // Another process may have installed them while we waited for the lock; apt-get
  // install is then a quick no-op.
  const res = await runApt(args);
  if (res.code !== 0) {
    throw new Error(
      `apt-get install ${missing.join(' ')} failed (exit ${res.code}):\n${res.stderr}\n${res.stdout.slice(-4000)}`,
    );
  }
  const still = await missingDebianPackages(missing);
  if (still.length > 0) {
    throw new Error(`apt-get reported success but these packages are still not installed: ${still.join(' ')}`);
  }
  return missing;
}

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on port 0, then close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** A loopback port held by this process until release(): see reservePort(). */
export interface PortReservation {
  port: number;
  /** Stops holding the port; call it right before the process that should listen there starts. */
  release(): Promise<void>;
}

/**
 * A port that stays taken (a listening socket of this process) until
 * released. freePort() only says a port was free a moment ago; a test that
 * must know a port long before the process using it starts (to register its
 * URLs with an IdP) would otherwise race every other listen(0) on the machine
 * for that time (CI saw EADDRINUSE). `port` 0 picks one; another number
 * reserves that one (failing if it is taken).
 */
export function reservePort(port = 0): Promise<PortReservation> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      let released: Promise<void> | undefined;
      resolve({
        port: addr.port,
        release: () => (released ??= new Promise<void>((r, j) => srv.close((err) => (err ? j(err) : r())))),
      });
    });
  });
}
