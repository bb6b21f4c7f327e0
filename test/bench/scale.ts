// Reconcile at scale on a real kube-apiserver: `npm run scale`.
//
// Starts etcd + kube-apiserver on loopback (test/support/kube.ts) and runs
// the operator as its own process (the real CLI, as in a pod), then prints
// each figure against its target (issue 10, targets 5 and 6):
//   0. 1,000 SsoConnectors with a Secret each and 100,000 UserBindings are
//      created once, without the operator (bounded concurrency; the rate is
//      the apiserver's, printed, not judged), and etcd's data dir is kept in
//      a cache folder, so later runs start from them (SCALE_FRESH=1 redoes it).
//   1. Cold start with all of them present: to /readyz, until the last
//      binding is usable for a sign-in, the informers' own list time, and
//      RSS (/proc/PID/status) against an operator with nothing to serve.
//   2. Secret rotations (the IdP certificate of one connector replaced):
//      time until a response signed by the new key is accepted and one by
//      the old key refused, p50/p99, idle, during a burst of binding changes
//      and right after it; with the apiserver's share apart (the PUT
//      answered, the change delivered to a watch of this script's own).
//   3. 1,000 more connectors with their Secrets created at once: time until
//      every one carries Ready=True for its generation (status written) and
//      until the registry serves them; bytes per connector. They are deleted
//      afterwards, so the cache holds what it says.
//   4. The operator's status and Event writes per second as the apiserver's
//      audit log counts them, against --kube-qps.
//   5. The 1,000 new connectors and Secrets deleted again, the operator
//      watching: until the registry no longer serves them, and its CPU.
//
// Figures are timings on a shared machine: noisy. Sizes by environment:
// SCALE_CONNECTORS (1000), SCALE_BINDINGS (100000), SCALE_BURST (15000),
// SCALE_QPS (the operator's default, 50), SCALE_ROTATIONS (10 per phase).
// Loopback only; everything started is stopped and its temp dirs removed.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KUBE_QPS } from '../../src/config.ts';
import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import { startReplica, type Replica } from '../support/fault-tools.ts';
import { cpuMsOf } from './local-operator.ts';
import { createNamespaces, GROUP_VERSION, installCrds, pollFor, sleep, type K8sObject } from '../support/cluster-fixtures.ts';
import { auditFlags, auditedWrites, peakPerSecond } from '../support/apiserver-audit.ts';
import { kubeRequest, startControlPlane, type ControlPlane } from '../support/kube.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { signIn as signInAs } from '../support/trust-probes.ts';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const CONNECTORS = env('SCALE_CONNECTORS', 1000);
const BINDINGS = env('SCALE_BINDINGS', 100_000);
const BURST = Math.min(env('SCALE_BURST', 15_000), BINDINGS);
const QPS = env('SCALE_QPS', DEFAULT_KUBE_QPS);
const ROTATIONS = env('SCALE_ROTATIONS', 10);
const CREATE_CONCURRENCY = 24;
/** The whole run is abandoned (and cleaned up) after this long. */
const RUN_LIMIT_MS = env('SCALE_LIMIT_S', 1800) * 1000;

const NS = 'scale';
/** Where 1,000 more connectors are created at once (and deleted afterwards). */
const NEW_NS = 'scale-new';
const EMPTY_NS = 'scale-empty';
const OPERATOR_NS = 'sso-system';
const PROBE_USER = 'probe@example.com';
/** The operator's --public-url in every run (see start()). */
const PUBLIC_URL = 'https://sso.scale.example';
const MiB = 1024 * 1024;

const say = (msg: string) => console.log(`[scale] ${msg}`);
const issuer = (ns: string, i: number) => `https://idp.${ns}.example.test/c${i}`;

interface Row {
  figure: string;
  value: string;
  target?: string;
  met?: boolean;
}
const rows: Row[] = [];
const report = (figure: string, value: string, target?: string, met?: boolean) => {
  rows.push({ figure, value, ...(target !== undefined ? { target } : {}), ...(met !== undefined ? { met } : {}) });
  say(`${figure}: ${value}${target ? ` (target ${target}: ${met ? 'MET' : 'MISSED'})` : ''}`);
};

function secretManifest(ns: string, i: number, certPem: string): K8sObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: `idp-c${i}`, namespace: ns }, type: 'Opaque', data: { 'tls.crt': Buffer.from(certPem).toString('base64') } };
}

function connectorManifest(ns: string, i: number): K8sObject {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'SsoConnector',
    metadata: { name: `c${i}`, namespace: ns },
    spec: {
      protocol: 'SAML2',
      saml: {
        idp: { entityID: issuer(ns, i), ssoURL: `${issuer(ns, i)}/sso`, certificates: [{ secretRef: { name: `idp-c${i}`, key: 'tls.crt' } }] },
        idpInitiated: { enabled: true, redirectPath: '/app' },
      },
    },
  };
}

/** Binding i: user u<i> on three connectors, two groups (a typical size). */
function bindingManifest(i: number): K8sObject {
  const c = (k: number) => `c${(i + k * 7) % CONNECTORS}`;
  return {
    apiVersion: GROUP_VERSION,
    kind: 'UserBinding',
    metadata: { name: `u${i}`, namespace: NS },
    spec: { user: `u${i}@example.com`, connectors: [c(0), c(1), c(2)], groups: ['staff', `team-${i % 50}`] },
  };
}

/**
 * A watch of one object by name, as any other client of the apiserver has
 * it: when each resourceVersion arrived (performance.now). Stops with the
 * process (or after 30 min, the server's own timeout).
 */
function watchObject(cp: ControlPlane, collection: string, name: string): { arrived: Map<string, number> } {
  const arrived = new Map<string, number>();
  const url = new URL(`${collection}?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}&timeoutSeconds=1800`, cp.server);
  const req = httpsRequest(url, { ca: cp.caPem, cert: cp.adminCertPem, key: cp.adminKeyPem, headers: { accept: 'application/json' } }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const at = performance.now();
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const rv = (JSON.parse(line) as { object?: { metadata?: { resourceVersion?: string } } }).object?.metadata?.resourceVersion;
        if (rv !== undefined) arrived.set(rv, at);
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  req.on('socket', (socket) => socket.unref());
  return { arrived };
}

/** Runs `task(i)` for i in [0, n) with `concurrency` at once; returns the ms taken. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return performance.now() - t0;
}

async function create(cp: ControlPlane, path: string, body: K8sObject): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const res = await kubeRequest(cp, 'POST', path, body);
    if (res.status === 201 || res.status === 409) return;
    if ((res.status === 429 || res.status >= 500) && attempt < 20) {
      await sleep(200 * attempt);
      continue;
    }
    throw new Error(`create ${body.kind} ${body.metadata.name}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
}

async function* listAll(cp: ControlPlane, ns: string, plural: string): AsyncGenerator<K8sObject> {
  let cont = '';
  do {
    const page = await kubeRequest(cp, 'GET', `/apis/${GROUP_VERSION}/namespaces/${ns}/${plural}?limit=2000${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    if (page.status !== 200) throw new Error(`list ${plural}: HTTP ${page.status}`);
    yield* page.body.items as K8sObject[];
    cont = page.body.metadata?.continue ?? '';
  } while (cont);
}

async function readyConnectors(cp: ControlPlane, ns: string): Promise<number> {
  let n = 0;
  for await (const c of listAll(cp, ns, 'ssoconnectors')) {
    const ready = (c.status?.conditions as { type: string; status: string }[] | undefined)?.find((x) => x.type === 'Ready');
    if (ready?.status === 'True' && c.status?.observedGeneration === c.metadata.generation) n++;
  }
  return n;
}

async function metric(op: Replica, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${op.adminURL}/metrics`)).text();
  const m = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Busy and total time of all cores so far (/proc/stat, in clock ticks). */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3]! - (cpu[4] ?? 0), total };
}

/** RSS after the operator settled: the lowest of a few samples over `ms` (a GC may run in between). */
async function settledRss(op: Replica, ms = 3000): Promise<number> {
  let low = Infinity;
  for (let t = 0; t < ms; t += 250) {
    low = Math.min(low, rssBytes(op.pid));
    await sleep(250);
  }
  return low;
}

function percentile(ms: readonly number[], p: number): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fmtS = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What a cached etcd holds (the file beside its data dir). */
interface CacheMark {
  connectors: number;
  bindings: number;
}

async function main(): Promise<number> {
  const auditDir = await mkdtemp(join(tmpdir(), 'sso-scale-audit-'));
  // The 100,000 objects take minutes to create: etcd's data is kept between
  // runs in a cache folder keyed by the sizes (SCALE_FRESH=1 starts over).
  const cacheDir = join(process.env.SSO_SCALE_CACHE ?? join(homedir(), '.cache', 'sso-operator', 'scale'), `c${CONNECTORS}-b${BINDINGS}`);
  const markFile = join(cacheDir, 'populated.json');
  if (process.env.SCALE_FRESH === '1') await rm(cacheDir, { recursive: true, force: true });
  await mkdir(cacheDir, { recursive: true });
  const cached = await readFile(markFile, 'utf8').then((t) => JSON.parse(t) as CacheMark, () => undefined);
  if (cached === undefined) await rm(join(cacheDir, 'etcd'), { recursive: true, force: true });

  let cp: ControlPlane | undefined;
  let op: Replica | undefined;
  const limit = setTimeout(() => {
    console.error(`[scale] the run exceeded ${RUN_LIMIT_MS / 1000} s: stopping`);
    void (async () => {
      await op?.destroy();
      await cp?.stop();
      await rm(auditDir, { recursive: true, force: true });
      process.exit(2);
    })();
  }, RUN_LIMIT_MS);
  try {
    say(`${CONNECTORS} connectors, ${BINDINGS} bindings, burst of ${BURST} binding changes, --kube-qps ${QPS}; ${cached ? 'objects from the cache' : 'creating the objects (kept for later runs)'} in ${cacheDir}`);
    cp = await startControlPlane({
      apiserverFlags: [
        ...(await auditFlags(auditDir, 2000)),
        '--max-requests-inflight=1000',
        '--max-mutating-requests-inflight=500',
      ],
      etcdDataDir: join(cacheDir, 'etcd'),
      verbose: false,
    });
    // The IdP keys go with the cache: its Secrets hold their certificates.
    const keysFile = join(cacheDir, 'idp-keys.json');
    const kept = await readFile(keysFile, 'utf8').then((t) => JSON.parse(t) as [SigningIdentity, SigningIdentity], () => undefined);
    const [keyA, keyB] = cached && kept ? kept : await Promise.all([signingIdentity('scale-a'), signingIdentity('scale-b')]);
    await writeFile(keysFile, JSON.stringify([keyA, keyB]));
    const connectorsPath = (ns: string) => `/apis/${GROUP_VERSION}/namespaces/${ns}/ssoconnectors`;
    const bindingsPath = `/apis/${GROUP_VERSION}/namespaces/${NS}/userbindings`;
    const createConnectors = (ns: string) =>
      pool(CONNECTORS, CREATE_CONCURRENCY, async (i) => {
        await create(cp!, `/api/v1/namespaces/${ns}/secrets`, secretManifest(ns, i, keyA.certPem));
        await create(cp!, connectorsPath(ns), connectorManifest(ns, i));
      });

    // 0. The objects, once (without the operator: the apiserver's rate is what is measured) ----
    if (cached === undefined) {
      await installCrds(cp);
      await createNamespaces(cp, [OPERATOR_NS, NS, NEW_NS, EMPTY_NS]);
      say(`${CONNECTORS} connectors and Secrets created in ${fmtS(await createConnectors(NS))}`);
      await create(cp, bindingsPath, { apiVersion: GROUP_VERSION, kind: 'UserBinding', metadata: { name: 'probe', namespace: NS }, spec: { user: PROBE_USER, connectors: ['c0'] } });
      let created = 0;
      const bindMs = await pool(BINDINGS, CREATE_CONCURRENCY, async (i) => {
        await create(cp!, bindingsPath, bindingManifest(i));
        if (++created % 10_000 === 0) say(`${created} bindings created`);
      });
      report(`${BINDINGS} bindings created (apiserver + etcd, ${CREATE_CONCURRENCY} at once, no operator)`, `${fmtS(bindMs)} (${(BINDINGS / (bindMs / 1000)).toFixed(0)} per second)`);
      await writeFile(markFile, JSON.stringify({ connectors: CONNECTORS, bindings: BINDINGS } satisfies CacheMark));
    } else {
      // The certificate a rotation of an earlier run left: back to key A (every one, for a cache without its keys).
      await pool(kept ? 1 : CONNECTORS, CREATE_CONCURRENCY, async (i) => {
        await kubeRequest(cp!, 'PUT', `/api/v1/namespaces/${NS}/secrets/idp-c${i}`, secretManifest(NS, i, keyA.certPem));
      });
    }

    // The public URL is the same in every run, as a Deployment's is. With the
    // replica's port in it, every run's restart found all 1,000 connector
    // statuses out of date (their URLs) and rewrote them: 1,000 server-side
    // applies, about 9 ms of apiserver CPU each, during the cold start measured
    // below, which a real restart does not do.
    const start = async (port?: number) => {
      const replica = await startReplica({ kubeconfigPath: cp!.kubeconfigPath, identity: 'sso-operator-0', namespace: OPERATOR_NS, watch: [NS, NEW_NS], extraArgs: ['--kube-qps', String(QPS), '--public-url', PUBLIC_URL], readyTimeoutMs: 300_000, ...(port ? { port } : {}) });
      await pollFor('leadership', async () => ((await (await fetch(`${replica.adminURL}/admin/status`)).json()) as { leader: boolean }).leader, 30_000, 50);
      return replica;
    };

    // A restarted apiserver fills its watch cache from etcd first: wait for
    // it, as an operator restarting beside a running apiserver would find it,
    // and time one full list as the floor. A list at resourceVersion 0 is
    // served only from the cache (429 until it is filled); one with a limit
    // and no resourceVersion was answered from etcd meanwhile, so waiting on
    // that measured the filling (about 16 s of 100,000 bindings) as the floor.
    for (const path of [bindingsPath, connectorsPath(NS)]) {
      await pollFor('the apiserver serving lists from its cache', async () => (await kubeRequest(cp!, 'GET', `${path}?resourceVersion=0&fieldSelector=metadata.name%3Dnone`)).status === 200, 300_000, 250);
    }
    const tList = performance.now();
    let listed = 0;
    for await (const _ of listAll(cp, NS, 'userbindings')) listed++;
    report(`the apiserver lists ${listed} bindings (this script, pages of 2,000)`, fmtS(performance.now() - tList));

    // An operator with nothing to serve, for the bytes per object below.
    const empty = await startReplica({ kubeconfigPath: cp.kubeconfigPath, identity: 'sso-operator-0', namespace: OPERATOR_NS, watch: [EMPTY_NS], extraArgs: ['--log-level', 'warn'] });
    const emptyRss = await settledRss(empty);
    report('RSS of an operator with nothing to serve', `${(emptyRss / MiB).toFixed(0)} MiB`);
    empty.signal('SIGTERM');
    await empty.exited;

    // 1. Cold start with everything present ------------------------------------------------
    const tStart = performance.now();
    const startedAt = Date.now();
    op = await start();
    const readyMs = performance.now() - tStart;
    const last = BINDINGS - 1;
    const lastProbe = { baseURL: op.baseURL, publicURL: PUBLIC_URL, namespace: NS, connector: `c${last % CONNECTORS}`, issuer: issuer(NS, last % CONNECTORS) };
    await pollFor('the last binding usable', async () => (await signInAs(lastProbe, keyA, `u${last}@example.com`)).status === 303, 60_000, 20);
    const usableMs = performance.now() - tStart;
    const usableAt = Date.now();
    const synced = op.logLines().find((l) => l.msg === 'Kubernetes informers synced');
    report(`cold start to /readyz with ${CONNECTORS} connectors and ${BINDINGS} bindings`, fmtS(readyMs), '5 s', readyMs <= 5000);
    report(`${BINDINGS} bindings listed and usable (process start to the last one's sign-in)`, fmtS(usableMs), '20 s', usableMs <= 20_000);
    if (synced) report("  (the informers' initial lists, as the operator logs them)", `${synced.ms} ms`);
    const rssAll = await settledRss(op, 5000);
    const heap = await metric(op, 'nodejs_heap_size_used_bytes', '');
    const backlog0 = await metric(op, 'sso_queue_depth', 'queue="status_bindings"');
    report(`RSS with ${CONNECTORS} connectors and ${BINDINGS} bindings`, `${(rssAll / MiB).toFixed(0)} MiB (heap used ${(heap / MiB).toFixed(0)} MiB; ${backlog0} binding statuses waiting)`, '300 MiB', rssAll <= 300 * MiB);

    // 2. Secret rotations: idle, during a burst of binding changes, right after it -------------
    const probe = () => ({ baseURL: op!.baseURL, publicURL: PUBLIC_URL, namespace: NS, connector: 'c0', issuer: issuer(NS, 0) });
    await pollFor('probe binding usable', async () => (await signInAs(probe(), keyA, PROBE_USER)).status === 303, 30_000, 50);
    let trusted = keyA;
    let untrusted = keyB;
    type Rotation = { ms: number; putMs: number; seenMs: number };
    // Another client's watch of the same Secret: when the apiserver delivered
    // each change to a watcher, so the time after it is the operator's own.
    const seen = watchObject(cp, `/api/v1/namespaces/${NS}/secrets`, 'idp-c0');
    /**
     * Replaces c0's certificate; the ms until the new key signs in and the
     * old one is refused, and the ms the apiserver took to answer the PUT
     * (part of the first: the change exists for the operator to see only
     * once etcd has it).
     */
    const rotate = async (): Promise<Rotation> => {
      const [from, to] = [trusted, untrusted];
      const t = performance.now();
      const res = await kubeRequest(cp!, 'PUT', `/api/v1/namespaces/${NS}/secrets/idp-c0`, secretManifest(NS, 0, to.certPem));
      const putMs = performance.now() - t;
      if (res.status !== 200) throw new Error(`rotate: HTTP ${res.status} ${res.text.slice(0, 200)}`);
      const rv = String(res.body.metadata.resourceVersion);
      for (;;) {
        if ((await signInAs(probe(), to, PROBE_USER)).status === 303 && (await signInAs(probe(), from, PROBE_USER)).status === 401) break;
        if (performance.now() - t > 30_000) throw new Error('a rotation was not in effect after 30 s');
        await sleep(5);
      }
      const ms = performance.now() - t;
      [trusted, untrusted] = [to, from];
      await pollFor('the change seen by a watch of this script', () => seen.arrived.has(rv), 30_000, 5);
      return { ms, putMs, seenMs: seen.arrived.get(rv)! - t };
    };
    const rotations = async (n: number, gapMs: number, until?: () => boolean): Promise<Rotation[]> => {
      const ms: Rotation[] = [];
      for (let i = 0; i < n || (until !== undefined && !until()); i++) {
        if (until !== undefined && until()) break;
        ms.push(await rotate());
        await sleep(gapMs);
      }
      return ms;
    };
    const rotationRow = (label: string, rs: Rotation[]) => {
      const ms = rs.map((r) => r.ms);
      const put = rs.map((r) => r.putMs);
      const watched = rs.map((r) => r.seenMs);
      const after = rs.map((r) => r.ms - r.seenMs);
      const pair = (xs: number[]) => `${percentile(xs, 50).toFixed(0)} / ${percentile(xs, 99).toFixed(0)}`;
      report(`Secret rotation in effect, ${label} (${ms.length}): p50 / p99`, `${pair(ms)} ms`, 'p99 1 s', percentile(ms, 99) <= 1000);
      report('  (the PUT answered; the change reaching a watch of this script; in effect after that)', `${pair(put)}; ${pair(watched)}; ${pair(after)} ms`);
    };
    rotationRow('idle', await rotations(ROTATIONS, 200));

    let changed = 0;
    let burstDone = false;
    const round = Date.now() % 1000;
    const burstCpu0 = cpuMsOf(op.pid);
    const burstTicks0 = machineTicks();
    const burstT0 = performance.now();
    const burst = pool(BURST, CREATE_CONCURRENCY, async (i) => {
      const res = await kubeRequest(cp!, 'PATCH', `${bindingsPath}/u${i}`, { spec: { groups: ['staff', `moved-${round}`] } }, 'application/merge-patch+json');
      if (res.status !== 200) throw new Error(`patch u${i}: HTTP ${res.status}`);
      changed++;
    }).finally(() => (burstDone = true));
    await pollFor('the burst under way', () => changed >= Math.min(1000, BURST / 10) || burstDone, 120_000, 50);
    const during = await rotations(0, 300, () => burstDone);
    const burstMs = await burst;
    const burstWall = performance.now() - burstT0;
    const operatorShare = (cpuMsOf(op.pid) - burstCpu0) / burstWall;
    const ticks = machineTicks();
    const machineBusy = (ticks.busy - burstTicks0.busy) / (ticks.total - burstTicks0.total);
    const backlog = await metric(op, 'sso_queue_depth', 'queue="status_bindings"');
    const after = await rotations(ROTATIONS, 100);
    say(`${BURST} binding changes sent in ${fmtS(burstMs)} (${(BURST / (burstMs / 1000)).toFixed(0)} per second)`);
    rotationRow(`during a burst of ${BURST} binding changes`, during);
    report('  (during the burst: the operator\'s CPU, in cores; every core of the machine busy)', `${operatorShare.toFixed(2)}; ${Math.round(100 * machineBusy)}%`);
    rotationRow(`right after it (${backlog} binding statuses waiting)`, after);

    // 3. 1,000 more connectors and Secrets at once ------------------------------------------
    const rssBefore = await settledRss(op);
    const t0 = performance.now();
    const createMs = await createConnectors(NEW_NS);
    const lastCreate = performance.now();
    say(`${CONNECTORS} connectors and Secrets created in ${fmtS(createMs)}`);
    const serving = pollFor('every new connector served', async () => (await metric(op!, 'sso_connectors', 'state="ready"')) === 2 * CONNECTORS, 300_000, 100).then(() => performance.now());
    await pollFor('every new connector Ready=True', async () => (await readyConnectors(cp!, NEW_NS)) === CONNECTORS, 600_000, 250);
    const readyAt = performance.now();
    const servingAt = await serving;
    report(`${CONNECTORS} new connectors served (registry) after the last create`, fmtS(servingAt - lastCreate));
    report(`${CONNECTORS} new connectors Ready=True (status written) after the last create`, fmtS(readyAt - lastCreate), '10 s', readyAt - lastCreate <= 10_000);
    report(`  (the same from the first create; --kube-qps ${QPS} allows no less than ${fmtS((CONNECTORS / QPS) * 1000)})`, fmtS(readyAt - t0));
    await pollFor('connector statuses and Events written', async () => (await metric(op!, 'sso_queue_depth', 'queue="status_connectors"')) === 0, 300_000, 500);
    const rssAfter = await settledRss(op);
    report('bytes per connector (RSS with 1,000 more, minus before, / 1,000)', `${((rssAfter - rssBefore) / CONNECTORS / 1024).toFixed(1)} KiB`);
    report('bytes per binding (RSS of the cold start, minus an empty operator, minus the connectors, / bindings)', `${((rssAll - emptyRss - (rssAfter - rssBefore)) / BINDINGS).toFixed(0)} B`);

    // 4. Writes per second, as the apiserver counts them -------------------------------------
    const writes = await auditedWrites(auditDir);
    const times = writes.map((w) => w.at);
    const atStart = writes.filter((w) => w.at >= startedAt && w.at <= usableAt);
    const connectorWrites = atStart.filter((w) => w.what.startsWith('patch ssoconnectors/status')).length;
    report('  status and Event writes during the cold start (connector statuses)', `${atStart.length} (${connectorWrites})`);
    const peak = peakPerSecond(times);
    report(`status and Event writes: ${times.length}, most in any one second`, String(peak), `<= --kube-qps ${QPS}`, peak <= QPS);

    // 5. The new connectors go again (so the cache holds what it says), with the operator watching.
    const deleteCpu0 = cpuMsOf(op.pid);
    await pool(CONNECTORS, CREATE_CONCURRENCY, async (i) => {
      await kubeRequest(cp!, 'DELETE', `${connectorsPath(NEW_NS)}/c${i}`);
      await kubeRequest(cp!, 'DELETE', `/api/v1/namespaces/${NEW_NS}/secrets/idp-c${i}`);
    });
    const lastDelete = performance.now();
    await pollFor('the deleted connectors gone', async () => (await metric(op!, 'sso_connectors', 'state="ready"')) === CONNECTORS, 300_000, 100);
    report(`${CONNECTORS} connectors and Secrets deleted: gone from the registry after the last delete; the operator's CPU for it all`, `${fmtS(performance.now() - lastDelete)}; ${fmtS(cpuMsOf(op.pid) - deleteCpu0)}`);
    await op.destroy();
    op = undefined;
    return 0;
  } finally {
    clearTimeout(limit);
    printTable();
    await op?.destroy();
    await cp?.stop();
    await rm(auditDir, { recursive: true, force: true });
  }
}

function printTable(): void {
  const width = Math.max(...rows.map((r) => r.figure.length), 10);
  const vwidth = Math.max(...rows.map((r) => r.value.length), 10);
  console.log(`\nScale on a real kube-apiserver (shared 2-core machine: timings are noisy)`);
  for (const r of rows) {
    console.log(`${r.figure.padEnd(width)}  ${r.value.padEnd(vwidth)}  ${r.target ? `${r.target.padEnd(16)} ${r.met ? 'MET' : 'MISSED'}` : ''}`);
  }
  console.log(`SCALE_JSON ${JSON.stringify(rows)}`);
}

try {
  process.exit(await main());
} catch (err) {
  console.error(err);
  process.exit(1);
}
