// `npm run loadtest [-- --rate 200 --verify-rate 500 --duration 20]`: a
// bounded load test against a local operator (issue 10, target 7).
//
// Starts `sso-operator run` standalone on loopback (local-operator.ts),
// prepares one signed response per sign-in (each answers its own
// AuthnRequest: fresh request ID, InResponseTo, state cookie), then for
// --duration seconds runs, side by side and each at a fixed rate (open loop:
// latency counted from the scheduled start, so a stall shows):
// - sign-ins: ACS posts, --rate per second;
// - forward-auth: GET /auth/verify with session cookies obtained first,
//   --verify-rate per second.
// Prints latency percentiles and answers by status for each, and the
// operator's RSS sampled every second (/proc/PID/status). It stops by
// itself, and the operator and load generators go with it (also on Ctrl-C).

import { parseArgs } from 'node:util';
import { request } from 'node:http';
import { runLoad, taskset, type LoadRequest, type LoadResult } from './loadgen.ts';
import { prepareSignIns, startLocalOperator, type LocalOperator } from './local-operator.ts';

const USAGE = `Usage: npm run loadtest -- [--rate N] [--verify-rate N] [--duration S] [--connections N]

  --rate N           sign-ins (ACS posts) per second (default 200)
  --verify-rate N    forward-auth checks (/auth/verify) per second (default 500)
  --duration S       seconds of load, at most 300 (default 20)
  --connections N    keep-alive connections per load generator (default 32)`;

function parseFlags(argv: string[]): { rate: number; verifyRate: number; duration: number; connections: number } | undefined {
  const { values } = parseArgs({
    args: argv,
    options: { rate: { type: 'string' }, 'verify-rate': { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return undefined;
  const num = (name: string, raw: string | undefined, fallback: number, max: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be a whole number from 0 to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    rate: num('rate', values.rate, 200, 5000),
    verifyRate: num('verify-rate', values['verify-rate'], 500, 50_000),
    duration: num('duration', values.duration, 20, 300),
    connections: Math.max(1, num('connections', values.connections, 32, 1024)),
  };
}

/** A sign-in done here, for its session cookie (forward-auth needs sessions). */
function signInOnce(op: LocalOperator, r: LoadRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${op.baseURL}${r.path}`, { method: r.method, headers: r.headers }, (res) => {
      res.resume();
      const line = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sso_session='));
      if (res.statusCode !== 303 || !line) return reject(new Error(`sign-in answered ${res.statusCode}`));
      resolve(line.slice(0, line.indexOf(';')));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const ms = (us: number) => (Number.isNaN(us) ? '-' : (us / 1000).toFixed(us < 10_000 ? 2 : 1));

function summary(name: string, target: number, r: LoadResult | undefined): string {
  if (!r) return `  ${name.padEnd(13)} (not run)`;
  const sorted = Float64Array.from(r.latenciesUs).sort();
  const arr = Array.from(sorted);
  const ok = Object.entries(r.statuses).map(([s, n]) => `${s}: ${n}`).join(', ');
  return (
    `  ${name.padEnd(13)} ${String(target).padStart(6)}/s ${(r.completed / (r.elapsedMs / 1000)).toFixed(0).padStart(8)}/s ` +
    `${ms(percentile(arr, 50)).padStart(8)} ${ms(percentile(arr, 90)).padStart(8)} ${ms(percentile(arr, 99)).padStart(8)} ${ms(arr[arr.length - 1] ?? NaN).padStart(8)}   ${ok}`
  );
}

function rssPlot(samples: { second: number; kib: number }[]): string[] {
  if (samples.length === 0) return ['  (no samples)'];
  // Bars from the lowest sample to the highest: growth, not the whole size, is what shows.
  const min = Math.min(...samples.map((s) => s.kib));
  const span = Math.max(1, Math.max(...samples.map((s) => s.kib)) - min);
  const width = 50;
  return samples.map((s) => `  ${String(s.second).padStart(4)} s ${(s.kib / 1024).toFixed(1).padStart(7)} MiB |${'#'.repeat(1 + Math.round(((s.kib - min) / span) * width))}`);
}

export async function main(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!flags) {
    console.log(USAGE);
    return 0;
  }
  const pin = taskset();
  const op = await startLocalOperator(pin ? { cpu: 0 } : {});
  const stop = () => {
    void op.stop().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const signIns = flags.rate * flags.duration;
    console.log(`operator pid ${op.pid} at ${op.baseURL}${pin ? ' (core 0; load generators on core 1)' : ''}`);
    console.log(`preparing ${signIns} sign-ins (GET /login and a signed response each, untimed)...`);
    const prepared = await prepareSignIns(op, signIns + 8);
    const sessions: string[] = [];
    for (const r of prepared.splice(0, 8)) sessions.push(await signInOnce(op, r));
    const verify: LoadRequest[] = sessions.map((cookie) => ({ method: 'GET', path: '/auth/verify', headers: { cookie } }));

    console.log(`running ${flags.duration} s: ${flags.rate} sign-ins/s and ${flags.verifyRate} forward-auth checks/s, ${flags.connections} connections each`);
    const rss: { second: number; kib: number }[] = [];
    const started = Date.now();
    const sample = () => {
      const kib = op.rssKiB();
      if (kib === undefined) return;
      const second = Math.round((Date.now() - started) / 1000);
      if (rss.at(-1)?.second === second) rss.pop();
      rss.push({ second, kib });
    };
    sample();
    const timer = setInterval(sample, 1000);
    const durationMs = flags.duration * 1000;
    const cpu = pin ? 1 : undefined;
    const [signInResult, verifyResult] = await Promise.all([
      flags.rate > 0 ? runLoad({ port: op.port, connections: flags.connections, durationMs, requests: prepared, cycle: false, rate: flags.rate }, cpu) : undefined,
      flags.verifyRate > 0 ? runLoad({ port: op.port, connections: flags.connections, durationMs, requests: verify, cycle: true, rate: flags.verifyRate }, cpu) : undefined,
    ]);
    clearInterval(timer);
    sample();

    console.log('\n  stream          target   achieved   p50 ms   p90 ms   p99 ms   max ms   answers by status');
    console.log(summary('sign-in', flags.rate, signInResult));
    console.log(summary('forward-auth', flags.verifyRate, verifyResult));
    console.log(`\noperator RSS, once a second (bars from ${((Math.min(...rss.map((r) => r.kib)) || 0) / 1024).toFixed(1)} MiB up):`);
    for (const line of rssPlot(rss)) console.log(line);
    const expected = { signIn: '303', verify: '200' };
    const errors =
      Object.entries(signInResult?.statuses ?? {}).filter(([s]) => s !== expected.signIn).reduce((n, [, c]) => n + c, 0) +
      Object.entries(verifyResult?.statuses ?? {}).filter(([s]) => s !== expected.verify).reduce((n, [, c]) => n + c, 0);
    console.log(`\n${errors === 0 ? 'no errors' : `${errors} answers other than 303 (sign-in) / 200 (forward-auth)`}; a noisy machine shows in the tail latencies`);
    return errors === 0 ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await op.stop();
  }
}

const code = await main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  return 1;
});
process.exit(code);
