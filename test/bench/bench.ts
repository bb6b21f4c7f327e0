// The benchmark proper (run.ts starts it with --expose-gc). See run.ts.

import { cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { ACS_URL, IDP_ENTITY_ID, SP_ENTITY_ID } from '../support/saml-fixtures.ts';
import { PEER_PROGRAMS, PeerProcess, peerVersions, type ProcessPeerId } from '../support/saml-peers.ts';
import { benchDecryptionSpread } from './decryption-timing.ts';
import { benchHttpLogin, type HttpResult } from './http-login.ts';
import { FORWARD_AUTH_PLANS, benchForwardAuth, forwardAuthJson, printForwardAuth } from './forward-auth.ts';
import { junkSection } from './junk.ts';
import { Recorder, RemoteRecorder, gcAvailable, inputsNeeded, runInterleaved, type BenchPlan, type Stats } from './measure.ts';
import { SCENARIOS, buildScenario, type Scenario, type ScenarioSpec } from './responses.ts';
import {
  EXPECTED_NAME_ID,
  PROCESS_PEERS_NOTE,
  SUBJECT_NOTES,
  floorSubject,
  nodeSamlSubject,
  ours,
  probe,
  samlifySubject,
  type Subject,
  type SubjectId,
} from './subjects.ts';

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

type SubjectResult = ({ stats: Stats } | { skipped: string }) & { id: SubjectId };

interface ScenarioResult {
  id: string;
  title: string;
  reference: boolean;
  bytes: number;
  attributes: number;
  results: SubjectResult[];
  /** peer median / our median (for the floor: floor / ours, below 1). */
  ratios: Partial<Record<SubjectId, number>>;
}

const PEERS: { id: SubjectId; make: (s: Scenario) => Subject }[] = [
  { id: 'ours', make: ours },
  { id: 'samlify', make: samlifySubject },
  { id: 'node-saml', make: nodeSamlSubject },
  { id: 'floor', make: floorSubject },
];

/** Row order of the tables. */
const ORDER: SubjectId[] = ['ours', 'samlify', 'node-saml', 'crewjam', 'gosaml2', 'python3-saml', 'floor'];

/** Issue 10, target 1, on the reference scenario: at least `times` × the peer's median. */
const TARGETS: { peer: SubjectId; times: number }[] = [
  { peer: 'samlify', times: 15 },
  { peer: 'python3-saml', times: 3 },
  { peer: 'crewjam', times: 2 },
  { peer: 'gosaml2', times: 2 },
];

function parsePlan(argv: string[]): { plan: BenchPlan; http: BenchPlan; quick: boolean } {
  const quick = argv.includes('--quick');
  const plan = quick ? { warmup: 5, rounds: 2, perRound: 10 } : { warmup: 30, rounds: 5, perRound: 60 };
  const http = quick ? { warmup: 5, rounds: 2, perRound: 10 } : { warmup: 30, rounds: 6, perRound: 60 };
  return { plan, http, quick };
}

const fmt = (n: number, digits = 0): string =>
  Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function ratioText(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(1)}x slower` : `${(1 / ratio).toFixed(1)}x faster`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 10) : c.padStart(widths[i] ?? 10))).join('  ');
}

const WIDTHS = [12, 10, 10, 8, 12, 12];
const HEADER = ['library', 'median µs', 'p95 µs', 'ops/s', 'heap KiB/1k', 'RSS KiB/1k', '  peer / ours (medians)'];

function printScenario(r: ScenarioResult): void {
  console.log(`\n${r.id}: ${r.title} — ${fmt(r.bytes / 1024, 1)} KB decoded`);
  console.log(`  ${row(HEADER, WIDTHS)}`);
  for (const s of r.results) {
    if ('skipped' in s) {
      console.log(`  ${row([s.id, 'skipped'], WIDTHS)}  ${s.skipped}`);
      continue;
    }
    const ratio = r.ratios[s.id];
    const vs =
      s.id === 'ours' ? '—' : ratio === undefined ? 'n/a' : s.id === 'floor' ? `ours / floor = ${(1 / ratio).toFixed(1)}` : `${s.id} is ${ratioText(ratio)}`;
    const st = s.stats;
    console.log(`  ${row([s.id, fmt(st.medianUs), fmt(st.p95Us), fmt(st.opsPerSec), fmt(st.heapKiBPer1000, 1), fmt(st.rssKiBPer1000, 1)], WIDTHS)}  ${vs}`);
  }
}

async function runScenario(spec: ScenarioSpec, plan: BenchPlan): Promise<{ result: ScenarioResult; failures: number }> {
  const t0 = performance.now();
  const scenario = await buildScenario(spec, inputsNeeded(plan));
  const genMs = performance.now() - t0;
  const results: SubjectResult[] = [];
  const recorders: { id: SubjectId; rec: Recorder | RemoteRecorder }[] = [];
  let failures = 0;
  /** Ours must accept every scenario; a peer that cannot is skipped and says why. */
  const refused = (id: SubjectId, refusal: string) => {
    if (id === 'ours') throw new Error(`ours refused the ${scenario.id} probe response: ${refusal}`);
    const why = refusal.split('\n')[0] ?? refusal;
    if (spec.peersMayRefuse) {
      results.push({ id, skipped: `unsupported, probe refused: ${why}` });
    } else {
      // A configuration mistake, not a result: counted as a benchmark error.
      failures++;
      results.push({ id, skipped: `PROBE FAILED (benchmark error): ${why}` });
    }
  };
  for (const peer of PEERS) {
    const subject = peer.make(scenario);
    const refusal = await probe(subject, 0);
    if (refusal !== undefined) {
      refused(peer.id, refusal);
      continue;
    }
    const rec = new Recorder(subject.call, 1);
    if (subject.beforeSegment) rec.beforeSegment = subject.beforeSegment;
    recorders.push({ id: peer.id, rec });
  }
  // The peers in other processes take their turns in the same rounds on the same responses.
  const processes: PeerProcess[] = [];
  const setup = {
    idpCertPem: scenario.identity.certPem,
    idpEntityId: IDP_ENTITY_ID,
    spEntityId: SP_ENTITY_ID,
    acsUrl: ACS_URL,
    expectedNameId: EXPECTED_NAME_ID,
    samples: scenario.samples,
  };
  try {
    for (const [program, ids] of Object.entries(PEER_PROGRAMS) as [keyof typeof PEER_PROGRAMS, readonly ProcessPeerId[]][]) {
      const started = PeerProcess.start(program, setup);
      if (!started.ok) {
        for (const id of ids) results.push({ id, skipped: `skipped: ${started.reason}` });
        continue;
      }
      const { peer } = started;
      processes.push(peer);
      for (const id of ids) {
        const answer = await peer.segment(id, 0, 1);
        if (!answer.accepted[0]) {
          refused(id, answer.errors[0] ?? 'refused');
          continue;
        }
        recorders.push({ id, rec: new RemoteRecorder((from, to) => peer.segment(id, from, to), 1) });
      }
    }
    await runInterleaved(
      recorders.map((r) => r.rec),
      plan,
    );
  } finally {
    await Promise.all(processes.map((p) => p.close()));
  }
  for (const { id, rec } of recorders) {
    const stats = rec.stats();
    failures += stats.failures;
    results.push({ id, stats });
    if (rec instanceof RemoteRecorder && rec.failures > 0) console.log(`  ${id}: ${rec.failures} refusals, first: ${rec.errors[0] ?? '?'}`);
  }
  results.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  const ourStats = results.find((r) => r.id === 'ours');
  const ratios: Partial<Record<SubjectId, number>> = {};
  if (ourStats && 'stats' in ourStats) {
    for (const r of results) if (r.id !== 'ours' && 'stats' in r) ratios[r.id] = r.stats.medianUs / ourStats.stats.medianUs;
  }
  const result: ScenarioResult = { id: scenario.id, title: scenario.title, reference: spec.reference ?? false, bytes: scenario.bytes, attributes: scenario.attributeCount, results, ratios };
  printScenario(result);
  console.log(`  (${scenario.samples.length} distinct responses generated in ${fmt(genMs / 1000, 1)} s, untimed)`);
  return { result, failures };
}

export async function main(argv: string[]): Promise<number> {
  const { plan, http, quick } = parsePlan(argv);
  const started = performance.now();
  const cpu = cpus()[0]?.model ?? 'unknown';
  const env = {
    node: process.version,
    cpu,
    cores: cpus().length,
    gcExposed: gcAvailable,
    samlify: versionOf('samlify'),
    nodeSaml: versionOf('@node-saml/node-saml'),
    xmlCrypto: versionOf('xml-crypto'),
    xmldom: versionOf('@xmldom/xmldom'),
    ...peerVersions(),
  };
  const loadStart = loadavg()[0] ?? 0;
  console.log(`sso-operator ACS benchmark — node ${env.node}, ${cpu} ×${env.cores}, load average ${loadStart.toFixed(1)} at start`);
  console.log(
    `peers: samlify ${env.samlify}, @node-saml/node-saml ${env.nodeSaml}, crewjam/saml ${env.crewjam}, gosaml2 ${env.gosaml2}, ` +
      `python3-onelogin-saml2 ${env.python3Saml} (ours: xml-crypto ${env.xmlCrypto} c14n, @xmldom/xmldom ${env.xmldom})`,
  );
  console.log(
    `plan: per library and scenario ${plan.warmup} warm-up + ${plan.rounds} rounds × ${plan.perRound} validations, libraries interleaved round by round; ` +
      `every call gets its own pre-generated response (distinct Response/Assertion IDs and InResponseTo), the same list for every library${quick ? ' [--quick]' : ''}`,
  );
  if (!gcAvailable) console.log('warning: global.gc unavailable; memory figures are not after a full GC');

  const scenarios: ScenarioResult[] = [];
  let failures = 0;
  for (const spec of SCENARIOS) {
    const { result, failures: f } = await runScenario(spec, plan);
    scenarios.push(result);
    failures += f;
  }

  let httpResult: HttpResult | undefined;
  httpResult = await benchHttpLogin(http);
  failures += httpResult.acs.failures;
  console.log(`\nhttp-login: whole ACS login through buildPublicApp + app.inject (ours only), ${fmt(httpResult.bytes / 1024, 1)} KB response`);
  console.log(`  ${row(['route', 'median µs', 'p95 µs', 'ops/s', 'heap KiB/1k', 'RSS KiB/1k'], WIDTHS)}`);
  const a = httpResult.acs;
  console.log(`  ${row(['POST acs', fmt(a.medianUs), fmt(a.p95Us), fmt(a.opsPerSec), fmt(a.heapKiBPer1000, 1), fmt(a.rssKiBPer1000, 1)], WIDTHS)}`);
  const l = httpResult.login;
  console.log(`  ${row(['GET login', fmt(l.medianUs), fmt(l.p95Us), fmt(l.opsPerSec), '—', '—'], WIDTHS)}  (side figure: state cookie + AuthnRequest, timed while preparing, no warm-up)`);
  // Where the time of one successful ACS request goes: each step timed on its own, interleaved with it.
  console.log('  where POST acs spends its time (each step alone, same inputs, medians):');
  let stepSum = 0;
  for (const st of httpResult.steps) {
    stepSum += st.stats.medianUs;
    console.log(`    ${st.step.padEnd(22)} ${fmt(st.stats.medianUs).padStart(7)} µs  ${((st.stats.medianUs / a.medianUs) * 100).toFixed(0).padStart(3)}%`);
  }
  console.log(`    ${'fastify, hooks, rest'.padEnd(22)} ${fmt(Math.max(0, a.medianUs - stepSum)).padStart(7)} µs  ${((Math.max(0, a.medianUs - stepSum) / a.medianUs) * 100).toFixed(0).padStart(3)}%  (whole request minus the steps)`);
  if (a.failures > 0) console.log(`  last failure: ${httpResult.lastError}`);

  const spread = await benchDecryptionSpread(plan);
  failures += spread.failures;
  console.log('\nencrypted assertions (AES-256-GCM, RSA-OAEP-MGF1P, RSA-2048): every refusal answers 401 EncryptedAssertionInvalid; how far their timings differ');
  console.log(`  ${row(['kind', 'median µs', 'p95 µs'], [14, 10, 10])}`);
  for (const c of spread.classes) console.log(`  ${row([c.id, fmt(c.stats.medianUs), fmt(c.stats.p95Us)], [14, 10, 10])}  ${c.title}`);
  const valid = spread.classes.find((c) => c.id === 'valid')!.stats.medianUs;
  console.log(`  spread of the refusals' medians: ${fmt(spread.spreadUs)} µs (${fmt((spread.spreadUs / valid) * 100, 1)}% of a valid login's validation)`);

  const forwardAuth = await benchForwardAuth(quick ? FORWARD_AUTH_PLANS.quick : FORWARD_AUTH_PLANS.full);
  printForwardAuth(forwardAuth);
  // A peer that could not be measured is a benchmark error, like a failed probe.
  failures += forwardAuth.errors + (forwardAuth.skipped ? 1 : 0);
  const junk = await junkSection(quick);
  failures += junk.failures;
  // Target 2: whole sign-ins over loopback HTTP (the junk section's "alone" rate: the real operator,
  // cookie and session included) against samlify's in-process validation of the same kind of
  // response (2 attributes, Response and Assertion signed).
  const samlify2 = scenarios.find((s) => s.id === 'rsa2048-2attr')?.results.find((r) => r.id === 'samlify');
  let acsHttpRatio: number | undefined;
  if ('loginsAlone' in junk.json && Number.isFinite(junk.json.loginsAlone) && samlify2 && 'stats' in samlify2) {
    acsHttpRatio = junk.json.loginsAlone / samlify2.stats.opsPerSec;
    console.log(`  target: ACS over HTTP ≥8x samlify in-process: ${acsHttpRatio.toFixed(1)}x (${fmt(junk.json.loginsAlone)} sign-ins/s over loopback vs samlify's ${fmt(samlify2.stats.opsPerSec, 1)} validations/s) — ${acsHttpRatio >= 8 ? 'MET' : 'MISSED'}`);
  }

  console.log('\nwhat each library checks (judge the ratios with this):');
  for (const [id, note] of Object.entries(SUBJECT_NOTES)) console.log(`  ${id}: ${note}`);
  console.log(`  ${PROCESS_PEERS_NOTE}`);
  console.log('  heap/RSS: retained growth after a full GC per 1000 calls; ours includes its replay-cache entries (kept until NotOnOrAfter, 2 h here).');
  console.log('  RSS deltas mostly show the V8 heap growing to its working size (charged to whichever segment ran then): noisy, compare heap first.');

  const targets = targetLines(scenarios);

  const totalS = (performance.now() - started) / 1000;
  const loadEnd = loadavg()[0] ?? 0;
  console.log(
    `\nfailures: ${failures}${failures > 0 ? '  <-- BENCHMARK ERROR: every call must succeed' : ''}; wall time ${fmt(totalS, 1)} s; ` +
      `load average ${loadStart.toFixed(1)} -> ${loadEnd.toFixed(1)} on ${env.cores} cores${loadEnd > env.cores ? ' (busy machine: trust the same-run ratios more than absolute figures and p95)' : ''}`,
  );
  const json = {
    version: 1,
    date: new Date().toISOString(),
    env: { ...env, loadavgStart: Number(loadStart.toFixed(2)), loadavgEnd: Number(loadEnd.toFixed(2)) },
    plan,
    quick,
    scenarios: scenarios.map((s) => ({
      id: s.id,
      bytes: s.bytes,
      attributes: s.attributes,
      results: Object.fromEntries(s.results.map((r) => [r.id, 'stats' in r ? round(r.stats) : { skipped: r.skipped }])),
      ratios: Object.fromEntries(Object.entries(s.ratios).map(([k, v]) => [k, Number(v.toFixed(2))])),
      ...(s.ratios.floor !== undefined ? { oursOverFloor: Number((1 / s.ratios.floor).toFixed(2)) } : {}),
    })),
    targets,
    http: { plan: http, bytes: httpResult.bytes, acs: round(httpResult.acs), steps: Object.fromEntries(httpResult.steps.map((st) => [st.step, round(st.stats).medianUs])), login: { calls: httpResult.login.calls, medianUs: round(httpResult.login).medianUs, p95Us: round(httpResult.login).p95Us } },
    junk: junk.json,
    ...(acsHttpRatio !== undefined ? { acsHttpOverSamlify: Number(acsHttpRatio.toFixed(2)) } : {}),
    decryption: { spreadUs: Number(spread.spreadUs.toFixed(1)), classes: Object.fromEntries(spread.classes.map((c) => [c.id, round(c.stats)])) },
    forwardAuth: forwardAuthJson(forwardAuth),
    failures,
    wallSeconds: Number(totalS.toFixed(1)),
  };
  console.log(`BENCH_JSON ${JSON.stringify(json)}`);
  return failures > 0 ? 1 : 0;
}

interface TargetResult {
  peer: SubjectId;
  times: number;
  /** peer median / our median on the reference scenario; null when the peer did not run. */
  ratio: number | null;
  met: boolean;
}

/** Prints and returns the target lines (judged on the reference scenario of this run). */
function targetLines(scenarios: ScenarioResult[]): TargetResult[] {
  const ref = scenarios.find((s) => s.reference);
  if (!ref) return [];
  console.log(`\ntargets (issue 10, target 1; ${ref.id}, ${fmt(ref.bytes / 1024, 1)} KB, this run's medians; a missed target does not fail the run):`);
  const out: TargetResult[] = [];
  for (const t of TARGETS) {
    const ratio = ref.ratios[t.peer];
    const met = ratio !== undefined && ratio >= t.times;
    const shown = ratio === undefined ? 'not measured (skipped)' : `${ratio.toFixed(1)}x`;
    console.log(`  target: ACS in-process ≥${t.times}x ${t.peer}: ${shown} — ${met ? 'MET' : 'MISSED'}`);
    out.push({ peer: t.peer, times: t.times, ratio: ratio === undefined ? null : Number(ratio.toFixed(2)), met });
  }
  const floor = ref.ratios.floor;
  const samlify = ref.ratios.samlify;
  if (floor !== undefined) {
    const floorVsSamlify = samlify !== undefined ? `; the floor is ${(samlify / floor).toFixed(1)}x samlify` : '';
    console.log(`  floor: ours takes ${(1 / floor).toFixed(1)} × one @xmldom parse of the document${floorVsSamlify}`);
  }
  return out;
}

function round(s: Stats): Stats {
  const r = (n: number, d = 1) => Number(n.toFixed(d));
  return {
    calls: s.calls,
    failures: s.failures,
    medianUs: r(s.medianUs),
    p95Us: r(s.p95Us),
    meanUs: r(s.meanUs),
    opsPerSec: r(s.opsPerSec),
    heapKiBPer1000: r(s.heapKiBPer1000),
    rssKiBPer1000: r(s.rssKiBPer1000),
  };
}
