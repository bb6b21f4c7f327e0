// A real Redis (Debian `redis-server`, installed on demand) on a free loopback
// port, for tests of state shared across replicas.
//
// Each server is throwaway: no persistence (`--save ''`, `--appendonly no`),
// its own temp dir as working directory, bound to 127.0.0.1 only, killed with
// the test process (setpriv --pdeathsig, as in kube.ts, plus an exit hook).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from '@jest/globals';
import { Redis, type RedisOptions } from 'ioredis';
import { ensureDebianPackages, freePort } from './system-deps.ts';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The server's own output (last 64 KiB), for failure messages. */
  log(): string;
  /** SIGTERM (SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const LOG_CAP = 64 * 1024;
const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Sends PING over a raw socket; resolves true on `+PONG`. Enough to know the server is up. */
export function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG'));
    });
  });
}

/** Installs redis-server if needed and starts one; resolves once it answers PING. */
export async function startRedis(options: { startTimeoutMs?: number } = {}): Promise<RedisServer> {
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  await ensureDebianPackages(['redis-server']);
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), 'sso-redis-'));
  liveDirs.add(dir);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--logfile', '',
    ];
    const [file, argv] = existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', 'redis-server', ...args]]
      : ['redis-server', args];
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    const append = (c: Buffer) => {
      out += c.toString('utf8');
      if (out.length > LOG_CAP * 2) out = out.slice(-LOG_CAP);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let exited = false;
    const exitedPromise = new Promise<void>((r) =>
      child.on('exit', () => {
        exited = true;
        live.delete(child);
        r();
      }),
    );

    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) {
      child.kill('SIGKILL');
      await exitedPromise;
      // Another process took the port between freePort() and bind: try another.
      if (/address already in use/i.test(out) && attempt < 5) continue;
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs} ms; its output:\n${out.slice(-4000)}`);
    }

    let stopped = false;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      log: () => (out.length > LOG_CAP ? out.slice(-LOG_CAP) : out),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (!exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exitedPromise;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      },
    };
  }
}

export interface RedisFixture {
  /** The server, started in `before`. */
  server(): RedisServer;
  /** A new ioredis connection (one per simulated replica), closed in `after`. */
  client(url: string, options?: RedisOptions): Redis;
}

/** Resolves once every client is connected: without an offline queue a command sent earlier fails at once. */
export function connected(...clients: Redis[]): Promise<unknown> {
  return Promise.all(clients.map((c) => (c.status === 'ready' ? undefined : new Promise((r) => c.once('ready', r)))));
}

/** Disconnects `c` and resolves once its socket is closed (at most 2 s). */
function closed(c: Redis): Promise<void> {
  if (c.status === 'end') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    c.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    c.disconnect();
  });
}

/**
 * Inside a `describe`: starts one Redis before its tests and stops it, with
 * every client made through `client()`, after them.
 */
export function useRedis(): RedisFixture {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    // Each client closed before the server stops: nothing of it is left running when the file ends.
    await Promise.all(clients.map((c) => closed(c)));
    await server?.stop();
  });
  return {
    server: () => {
      if (!server) throw new Error('Redis is not started yet (use it inside a test)');
      return server;
    },
    client(url, options = {}) {
      const c = new Redis(url, options);
      // ioredis emits 'error' while reconnecting; unhandled, it would be printed as a warning.
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
  };
}
