// Forward-auth benchmark: our GET /auth/verify against oauth2-proxy's
// /oauth2/auth (issue 10, target 4), same machine, same load generator, same
// run. Each server is its own process pinned to core 1, the load generator
// (test/bench/http-load.ts, 16 keep-alive connections) its own process pinned
// to core 0; the servers run one after the other, never side by side.
// Measured for ours: a valid session (200), a logged-out one (401
// SessionRevoked) and an expired one (401 SessionExpired); for oauth2-proxy a
// signed-in cookie session (202). Loopback only; every child is stopped at
// the end, also on failure.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { buildOauth2Proxy, startOauth2Proxy } from './forward-auth-peer.ts';
import { startOurs } from './forward-auth-ours.ts';
import { cpuMsOf } from './local-operator.ts';
import type { LoadResult, LoadSpec } from './http-load.ts';

const LOAD = fileURLToPath(new URL('./http-load.ts', import.meta.url));
const CONNECTIONS = 16;

export interface ForwardAuthPlan {
  warmupMs: number;
  durationMs: number;
  /** Measurements of each case, interleaved between the servers. */
  rounds: number;
}

export const FORWARD_AUTH_PLANS = {
  full: { warmupMs: 1000, durationMs: 3000, rounds: 5 },
  quick: { warmupMs: 1000, durationMs: 1000, rounds: 1 },
} satisfies Record<string, ForwardAuthPlan>;

export interface CaseResult {
  id: 'ours-valid' | 'ours-revoked' | 'ours-expired' | 'oauth2-proxy-valid' | 'node-http-floor';
  /** The round with the median rate. */
  median: LoadResult;
  /** Requests/s of every round. */
  rates: number[];
  /**
   * Median over the rounds of the server's CPU time (user + system, all its
   * threads) per answer: what one request costs, whatever else the machine
   * runs at the time, where requests/s on a shared machine also measures the
   * neighbours. 1e6 / this is the rate of one idle core.
   */
  cpuUsPerRequest: number;
}

export interface ForwardAuthResult {
  peerVersion?: string;
  /** Why oauth2-proxy was not measured. */
  skipped?: string;
  pinned: boolean;
  cases: CaseResult[];
  errors: number;
}

/**
 * The floor: a bare node:http server answering 200 with an empty body, no
 * logic at all, pinned like the others. The most a Node forward-auth can reach
 * on this machine at this moment.
 */
const FLOOR_SERVER = `const s = require('node:http').createServer((q, r) => { r.setHeader('content-length', '0'); r.end(); });
s.keepAliveTimeout = 72000; s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

async function startFloor(pin: string[]): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const [cmd, ...pre] = [...pin, process.execPath];
  const child = spawn(cmd!, [...pre, '-e', FLOOR_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** CPU time of a process so far, in microseconds. */
function cpuUs(pid: number): number {
  return cpuMsOf(pid) * 1000;
}

/** Runs the load generator in its own process; bounded by the plan plus a margin. */
function load(spec: LoadSpec, pin: string[]): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = [...pin, process.execPath];
    const child = spawn(cmd!, [...pre, LOAD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), spec.warmupMs + spec.durationMs + 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator exited with ${code}: ${err.slice(0, 500)}`));
      resolve(JSON.parse(out) as LoadResult);
    });
  });
}

export async function benchForwardAuth(plan: ForwardAuthPlan): Promise<ForwardAuthResult> {
  // One core each when there are two; on one core the figures are still same-run comparable.
  const pinned = availableParallelism() >= 2;
  const serverPin = pinned ? ['taskset', '-c', '1'] : [];
  const clientPin = pinned ? ['taskset', '-c', '0'] : [];
  const built = buildOauth2Proxy();
  const floor = await startFloor(serverPin);
  const ours = await startOurs(pinned ? { cpu: 1 } : {}).catch(async (e: Error) => {
    await floor.stop();
    throw e;
  });
  const peer = 'bin' in built ? await startOauth2Proxy(built.bin, serverPin).catch(async (e: Error) => ({ failed: e.message })) : { failed: built.unavailable };
  try {
    const spec = (port: number, path: string, cookie: string, expect: number): LoadSpec => ({
      port,
      path,
      headers: { cookie },
      connections: CONNECTIONS,
      warmupMs: plan.warmupMs,
      durationMs: plan.durationMs,
      expect,
    });
    const cases: { id: CaseResult['id']; pid: number; spec: LoadSpec }[] = [
      { id: 'ours-valid', pid: ours.pid, spec: spec(ours.port, '/auth/verify', ours.cookies.valid, 200) },
      { id: 'ours-revoked', pid: ours.pid, spec: spec(ours.port, '/auth/verify', ours.cookies.revoked, 401) },
      { id: 'ours-expired', pid: ours.pid, spec: spec(ours.port, '/auth/verify', ours.cookies.expired, 401) },
    ];
    if ('cookie' in peer) cases.splice(1, 0, { id: 'oauth2-proxy-valid', pid: peer.pid, spec: spec(peer.port, '/oauth2/auth', peer.cookie, 202) });
    cases.push({ id: 'node-http-floor', pid: floor.pid, spec: spec(floor.port, '/', '', 200) });
    const runs = new Map<CaseResult['id'], LoadResult[]>();
    const cpu = new Map<CaseResult['id'], number[]>();
    // Round by round, so a busy spell of the machine hits every case alike.
    for (let round = 0; round < plan.rounds; round++) {
      for (const c of cases) {
        const before = cpuUs(c.pid);
        const r = await load(c.spec, clientPin);
        cpu.set(c.id, [...(cpu.get(c.id) ?? []), (cpuUs(c.pid) - before) / Math.max(1, r.total)]);
        runs.set(c.id, [...(runs.get(c.id) ?? []), r]);
      }
    }
    let errors = 0;
    const results: CaseResult[] = cases.map((c) => {
      const all = runs.get(c.id) ?? [];
      for (const r of all) errors += r.errors;
      const sorted = [...all].sort((a, b) => a.rps - b.rps);
      const costs = [...(cpu.get(c.id) ?? [])].sort((a, b) => a - b);
      return { id: c.id, median: sorted[Math.floor(sorted.length / 2)]!, rates: all.map((r) => r.rps), cpuUsPerRequest: costs[Math.floor(costs.length / 2)] ?? 0 };
    });
    return {
      ...('cookie' in peer ? { peerVersion: peer.version } : { skipped: peer.failed }),
      pinned,
      cases: results,
      errors,
    };
  } finally {
    await floor.stop();
    await ours.stop();
    if ('stop' in peer) await peer.stop();
  }
}

/** The BENCH_JSON part: rates, latencies and CPU cost per case. */
export function forwardAuthJson(r: ForwardAuthResult): Record<string, unknown> {
  const r1 = (n: number) => Number(n.toFixed(1));
  return {
    peer: r.peerVersion ?? null,
    ...(r.skipped ? { skipped: r.skipped } : {}),
    cases: Object.fromEntries(
      r.cases.map((c) => [c.id, { rps: r1(c.median.rps), p50Ms: Number(c.median.p50Ms.toFixed(2)), p99Ms: Number(c.median.p99Ms.toFixed(2)), cpuUsPerRequest: r1(c.cpuUsPerRequest), rates: c.rates.map(r1) }]),
    ),
  };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Prints the table and the target line; returns the number of failed requests. */
export function printForwardAuth(r: ForwardAuthResult): void {
  console.log(`\nforward-auth: GET /auth/verify vs oauth2-proxy ${r.peerVersion ?? ''} /oauth2/auth — ${CONNECTIONS} keep-alive connections, ` +
    (r.pinned ? 'server on core 1, load generator on core 0' : 'not pinned (one core)') + `, ${r.cases[0]?.rates.length ?? 0} round(s), median round shown`);
  console.log(`  ${'case'.padEnd(20)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}${'CPU µs/req'.padStart(12)}  rounds req/s`);
  for (const c of r.cases) {
    const m = c.median;
    console.log(`  ${c.id.padEnd(20)}${fmt(m.rps).padStart(10)}${fmt(m.p50Ms, 2).padStart(9)}${fmt(m.p99Ms, 2).padStart(9)}${String(m.errors).padStart(8)}${fmt(c.cpuUsPerRequest, 1).padStart(12)}  ${c.rates.map((x) => fmt(x)).join(' / ')}`);
    if (m.firstError) console.log(`    first error: ${m.firstError}`);
  }
  const oursCase = r.cases.find((c) => c.id === 'ours-valid');
  const peerCase = r.cases.find((c) => c.id === 'oauth2-proxy-valid');
  const ours = oursCase?.median;
  const peer = peerCase?.median;
  if (!ours || !peer || !oursCase || !peerCase) {
    console.log(`  target: /auth/verify ≥2x oauth2-proxy: not measured (${r.skipped ?? 'no peer'}) — MISSED`);
    return;
  }
  // Each round measures ours and oauth2-proxy back to back: the ratio of the
  // pair is what the machine's drift between rounds cannot skew; the target
  // takes the median pair (the medians of each side may come from rounds
  // minutes apart, on a machine whose speed moves by up to 2x).
  const pairs = oursCase.rates.map((x, i) => x / (peerCase.rates[i] ?? NaN)).filter((x) => Number.isFinite(x));
  const ratio = [...pairs].sort((a, b) => a - b)[Math.floor(pairs.length / 2)] ?? ours.rps / peer.rps;
  const met = ratio >= 2 && ours.p99Ms <= peer.p99Ms;
  console.log(`  refusals vs valid (ours): revoked ${fmt((r.cases.find((c) => c.id === 'ours-revoked')?.median.rps ?? 0) / ours.rps, 2)}x, expired ${fmt((r.cases.find((c) => c.id === 'ours-expired')?.median.rps ?? 0) / ours.rps, 2)}x the rate`);
  console.log(`  CPU time per request: oauth2-proxy / ours = ${fmt(peerCase.cpuUsPerRequest / Math.max(0.1, oursCase.cpuUsPerRequest), 2)}x (the rate ratio on idle cores)`);
  console.log(`  ratio of each round's pair (ours / oauth2-proxy, measured back to back): ${pairs.map((x) => fmt(x, 2)).join(' / ')}; of the median rounds ${fmt(ours.rps / peer.rps, 2)}x`);
  console.log(`  target: /auth/verify ≥2x oauth2-proxy: ${fmt(ratio, 2)}x (median pair), p99 ${fmt(ours.p99Ms, 2)} ms vs ${fmt(peer.p99Ms, 2)} ms — ${met ? 'MET' : 'MISSED'}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchForwardAuth(process.argv.includes('--quick') ? FORWARD_AUTH_PLANS.quick : FORWARD_AUTH_PLANS.full);
  printForwardAuth(r);
  process.exit(r.errors > 0 ? 1 : 0);
}
