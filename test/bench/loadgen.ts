// HTTP load generator for the benchmarks and `npm run loadtest`: node:http
// keep-alive agents in a child process of its own (pinned to a core with
// taskset when there is one), so that the generator never shares an event
// loop with the operator it measures. runLoad() starts it; the child runs one
// job and sends back counts by status and per-request latencies.
//
// Two modes:
// - closed loop (no `rate`): `connections` requests in flight, each sent as
//   soon as the previous answer came (how many per second can the server take);
// - open loop (`rate`): requests start on a fixed schedule whatever the
//   answers do, latency counted from the scheduled start so that a stalled
//   server shows up in the percentiles (no coordinated omission).
// Requests come from `requests` in order: cycled (`cycle`, the same junk over
// and over) or each used once (sign-ins: every response answers its own
// AuthnRequest and is accepted only once).

import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * Oversized posts: announce `declaredLength` bytes but send only `body`,
   * then drop the connection once the answer comes (a flood does not need
   * to send what the server refuses to read), with a reset in raw mode.
   */
  declaredLength?: number;
}

export interface LoadJob {
  port: number;
  connections: number;
  durationMs: number;
  requests: LoadRequest[];
  cycle: boolean;
  /** Open loop: requests started per second. */
  rate?: number;
  /**
   * Closed loop over raw sockets: each request written as prepared bytes and
   * its answer read by status line and content-length. node:http's client
   * costs several times what a cheap refusal costs the server, so a flood
   * from one core would measure the client; this one does not.
   */
  raw?: boolean;
}

export interface LoadResult {
  completed: number;
  /** Answers by status code; 'error' for a failed connection or timeout. */
  statuses: Record<string, number>;
  elapsedMs: number;
  /** Latency of each completed request, microseconds (open loop: from its scheduled start). */
  latenciesUs: number[];
  /** Session cookies (sso_session) set by answers, when `collectSessions`. */
  sessions: string[];
}

/** Runs one job in a child process; `cpu`: pin it there with taskset. */
export function runLoad(job: LoadJob & { collectSessions?: boolean }, cpu?: number): Promise<LoadResult> {
  const self = fileURLToPath(import.meta.url);
  const [cmd, args] = pinned(cpu, [process.execPath, self]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SSO_LOADGEN_CHILD: '1' } });
  return new Promise((resolve, reject) => {
    let result: LoadResult | undefined;
    child.on('message', (m: LoadResult | 'ready') => {
      if (m === 'ready') child.send(job);
      else result = m;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`load generator exited with ${code} before reporting`))));
  });
}

/** The command line that runs `argv` on core `cpu` (taskset, when installed and there is more than one core). */
export function pinned(cpu: number | undefined, argv: string[]): [string, string[]] {
  if (cpu === undefined || !taskset()) return [argv[0] as string, argv.slice(1)];
  return ['taskset', ['-c', String(cpu), ...argv]];
}

/** Whether processes can be pinned to cores here. */
export function taskset(): boolean {
  return availableParallelism() > 1 && (existsSync('/usr/bin/taskset') || existsSync('/bin/taskset'));
}

async function run(job: LoadJob & { collectSessions?: boolean }): Promise<LoadResult> {
  if (job.raw) return runRaw(job);
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections, maxFreeSockets: job.connections });
  const statuses: Record<string, number> = {};
  const latenciesUs: number[] = [];
  const sessions: string[] = [];
  let next = 0;
  let completed = 0;
  const take = (): LoadRequest | undefined => {
    if (next >= job.requests.length) {
      if (!job.cycle || job.requests.length === 0) return undefined;
      next = 0;
    }
    return job.requests[next++];
  };
  const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);

  const send = (r: LoadRequest, startedAt: bigint) =>
    new Promise<void>((done) => {
      const headers: Record<string, string | number> = { ...r.headers };
      if (r.body !== undefined) headers['content-length'] = r.declaredLength ?? Buffer.byteLength(r.body);
      const req = request({ agent, host: '127.0.0.1', port: job.port, method: r.method, path: r.path, headers }, (res) => {
        count(String(res.statusCode));
        if (job.collectSessions) {
          const line = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sso_session='));
          if (line) sessions.push(line.slice(0, line.indexOf(';')));
        }
        res.resume();
        res.on('end', () => {
          completed++;
          latenciesUs.push(Number(process.hrtime.bigint() - startedAt) / 1000);
          if (r.declaredLength !== undefined) req.destroy();
          done();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        count('error');
        done();
      });
      if (r.declaredLength !== undefined) req.write(r.body ?? '');
      else req.end(r.body);
    });

  const start = process.hrtime.bigint();
  const deadline = start + BigInt(job.durationMs) * 1_000_000n;
  if (job.rate === undefined) {
    const worker = async () => {
      for (;;) {
        if (process.hrtime.bigint() >= deadline) return;
        const r = take();
        if (!r) return;
        await send(r, process.hrtime.bigint());
      }
    };
    await Promise.all(Array.from({ length: job.connections }, worker));
  } else {
    const intervalNs = 1e9 / job.rate;
    const inFlight = new Set<Promise<void>>();
    let scheduled = 0;
    for (;;) {
      const clock = process.hrtime.bigint();
      // Every request whose scheduled start has come (those scheduled before
      // the deadline, when the timer woke late), each timed from that start.
      const now = clock < deadline ? clock : deadline - 1n;
      let exhausted = false;
      while (start + BigInt(Math.round(scheduled * intervalNs)) <= now) {
        const r = take();
        if (!r) {
          exhausted = true;
          break;
        }
        const p = send(r, start + BigInt(Math.round(scheduled * intervalNs)));
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
        scheduled++;
      }
      if (exhausted || clock >= deadline) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inFlight);
  }
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  agent.destroy();
  return { completed, statuses, elapsedMs, latenciesUs, sessions };
}

/** The bytes of one request as a browser or scanner would send them. */
function serialize(r: LoadRequest, port: number): Buffer {
  const body = r.body ?? '';
  let head = `${r.method} ${r.path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: keep-alive\r\n`;
  for (const [k, v] of Object.entries(r.headers ?? {})) head += `${k}: ${v}\r\n`;
  if (r.body !== undefined) head += `content-length: ${r.declaredLength ?? Buffer.byteLength(body)}\r\n`;
  return Buffer.from(`${head}\r\n${body}`);
}

async function runRaw(job: LoadJob): Promise<LoadResult> {
  const wire = job.requests.map((r) => ({ bytes: serialize(r, job.port), partial: r.declaredLength !== undefined }));
  const statuses: Record<string, number> = {};
  const latenciesUs: number[] = [];
  let completed = 0;
  let next = 0;
  const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(job.durationMs) * 1_000_000n;
  const take = () => {
    if (next >= wire.length) {
      if (!job.cycle) return undefined;
      next = 0;
    }
    return wire[next++];
  };
  const HEAD_END = Buffer.from('\r\n\r\n');
  const worker = () =>
    new Promise<void>((done) => {
      let socket: Socket | undefined;
      let buf: Buffer = Buffer.alloc(0);
      let current: { bytes: Buffer; partial: boolean } | undefined;
      let sentAt = 0n;
      let need = -1;
      let closeAfter = false;
      const open = () => {
        const s = connect(job.port, '127.0.0.1');
        socket = s;
        s.setNoDelay(true);
        buf = Buffer.alloc(0);
        s.on('data', onData);
        s.on('error', () => undefined);
        s.on('close', () => {
          // The current socket closed before the whole answer came: an error.
          if (s === socket && current !== undefined) {
            count('error');
            current = undefined;
            if (!stopped()) open();
            sendNext();
          }
        });
      };
      const stopped = () => process.hrtime.bigint() >= deadline;
      const sendNext = () => {
        if (current !== undefined) return;
        current = stopped() ? undefined : take();
        if (!current) {
          socket?.destroy();
          return done();
        }
        need = -1;
        closeAfter = false;
        sentAt = process.hrtime.bigint();
        socket!.write(current.bytes);
      };
      const onData = (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (need === -1) {
          const end = buf.indexOf(HEAD_END);
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          count(head.slice(9, 12));
          const m = /\r\ncontent-length: *(\d+)/i.exec(head);
          closeAfter = current!.partial || /\r\nconnection: *close/i.test(head);
          need = end + 4 + (m ? Number(m[1]) : 0);
        }
        if (buf.length < need) return;
        buf = buf.subarray(need);
        completed++;
        latenciesUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
        if (closeAfter) {
          // An oversized post's connection is dropped with a reset, as a flood
          // would: closed politely, each left a socket in TIME_WAIT on this
          // side (44,000 after one run), and the generator's search for a
          // free port measured itself rather than the server.
          if (current!.partial) socket!.resetAndDestroy();
          else socket!.destroy();
          current = undefined;
          if (!stopped()) open();
        } else current = undefined;
        sendNext();
      };
      open();
      sendNext();
    });
  await Promise.all(Array.from({ length: job.connections }, worker));
  return { completed, statuses, elapsedMs: Number(process.hrtime.bigint() - start) / 1e6, latenciesUs, sessions: [] };
}

if (process.env.SSO_LOADGEN_CHILD === '1' && process.send) {
  process.once('message', (job: LoadJob) => {
    run(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  process.send('ready');
}
