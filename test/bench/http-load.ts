// A small closed-loop HTTP/1.1 load generator for the forward-auth benchmark
// (test/bench/forward-auth.ts): N keep-alive connections, each sending one
// GET, waiting for its answer and sending the next, for a fixed time after a
// warm-up. It runs in its own process (pinned to a core of its own by the
// caller) and prints one JSON line with the rate and latency percentiles.
//
// Raw sockets instead of node:http's client: the parser of http.request costs
// more per answer than the servers under test spend on it, so the generator
// would be the bottleneck. Every answer must carry Content-Length (both
// servers under test send it for their empty bodies); anything else counts as
// an error and closes the run's connection.
//
//   node test/bench/http-load.ts '{"port":8080,"path":"/auth/verify","headers":{"cookie":"..."},"connections":16,"warmupMs":1000,"durationMs":5000,"expect":200}'

import { connect, type Socket } from 'node:net';

export interface LoadSpec {
  host?: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** The status every answer must have; others count as errors. */
  expect: number;
}

export interface LoadResult {
  requests: number;
  /** Answers over the whole run, warm-up included. */
  total: number;
  errors: number;
  /** Status -> count, over the timed window. */
  statuses: Record<string, number>;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** First unexpected answer or socket error, if any. */
  firstError?: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function requestBytes(spec: LoadSpec): Buffer {
  const host = spec.host ?? '127.0.0.1';
  let text = `GET ${spec.path} HTTP/1.1\r\nHost: ${host}:${spec.port}\r\nAccept: */*\r\n`;
  for (const [k, v] of Object.entries(spec.headers ?? {})) text += `${k}: ${v}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const request = requestBytes(spec);
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const stopAt = measureFrom + spec.durationMs;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let answered = 0;
  let firstError: string | undefined;
  const statuses: Record<string, number> = {};
  const record = (ms: number) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
  };

  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket: Socket = connect({ host: spec.host ?? '127.0.0.1', port: spec.port, noDelay: true });
      let buffered: Buffer | undefined;
      let sentAt = 0;
      const fail = (why: string) => {
        errors++;
        firstError ??= why;
        socket.destroy();
      };
      const send = () => {
        if (performance.now() >= stopAt) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        let data: Buffer = buffered ? Buffer.concat([buffered, chunk]) : chunk;
        buffered = data;
        for (;;) {
          const end: number = data.indexOf(HEADER_END);
          if (end < 0) return;
          const head: string = data.toString('latin1', 0, end);
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!length) return fail(`answer without Content-Length: ${head.split('\r\n')[0]}`);
          const size: number = end + 4 + Number(length[1]);
          if (data.length < size) return;
          const status = Number(head.slice(9, 12));
          const now = performance.now();
          answered++;
          if (sentAt >= measureFrom && now <= stopAt) {
            statuses[status] = (statuses[status] ?? 0) + 1;
            if (status === spec.expect) record(now - sentAt);
            else {
              errors++;
              firstError ??= `status ${status}, expected ${spec.expect}`;
            }
          }
          if (data.length === size) {
            buffered = undefined;
            break;
          }
          data = data.subarray(size);
          buffered = data;
        }
        send();
      });
      socket.on('error', (err) => fail(err.message));
      socket.on('close', () => resolve());
    });

  await Promise.all(Array.from({ length: spec.connections }, connection));
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests: count,
    total: answered,
    errors,
    statuses,
    rps: count / (spec.durationMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[count - 1] ?? 0,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  const result = await runLoad(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
