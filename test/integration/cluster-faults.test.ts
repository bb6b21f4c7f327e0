// Faults in cluster mode, with a client signing in every second throughout
// (a whole SP-initiated sign-in through a real SimpleSAMLphp, in a fresh
// browser each time, recorded as {time, status, reason}):
//
// 1. the apiserver restarts: every sign-in keeps succeeding from the caches,
//    /readyz stays on, and status writes resume after;
// 2. the referenced Secret is deleted (503 ConnectorNotReady, never 303),
//    recreated (success again), then replaced by one holding a certificate
//    SimpleSAMLphp does not sign with (401, never 303), then fixed;
// 3. the operator's connection to the apiserver is cut while the binding is
//    deleted and etcd is compacted (the apiserver runs without a watch cache,
//    so the resumed watch gets 410 Gone): the store relists and every sign-in
//    after that is 403, never 303;
// 4. two replicas as separate processes (the real CLI, default Lease timings
//    15 s / 10 s / 2 s): kill -9 of the leader, the other keeps serving,
//    takes over and writes status; then a SIGTERM of the new leader with a
//    slow sign-in in flight: /readyz off before it exits, the sign-in
//    completes, exit 0 within 10 s, the Lease released and taken over at once.
//
// "Never wrongly accepted" is checked on the recorded attempts by the time the
// deciding request was sent, against the moment the operator was seen to
// apply the change (its /admin/status) or, for a binding, the first refusal.
// Every measured time is printed. The file takes 70-105 s on 2 cores, most
// of it the 15 s Lease expiry of test 4 and the 7 s apiserver restart.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import {
  BINDING,
  CONNECTOR,
  GROUP_VERSION,
  IDP_SECRET,
  LEASE,
  NS,
  USERS,
  applyOk,
  baselineManifests,
  bindingManifest,
  conditionOf,
  deleteObject,
  idpSecretManifest,
  mergePatch,
  pollFor,
  spURLs,
  startClusterFixture,
  startFixtureOperator,
  waitForObject,
  BrowserClient,
  type ClusterFixture,
  type K8sObject,
} from '../support/cluster-fixtures.ts';
import type { TestClusterOperator } from '../support/cluster-operator.ts';
import {
  LeaseWatcher,
  Signer,
  describeAttempts,
  formatSummary,
  isAccepted,
  slowFormPost,
  startReplica,
  summarize,
  toSamlResponse,
  type Replica,
  type SignInAttempt,
} from '../support/fault-tools.ts';
import { compactEtcd } from '../support/kube.ts';
import { cuttableProxy, type CuttableProxy } from '../support/tcp-proxy.ts';
import { reservePort, type PortReservation } from '../support/system-deps.ts';

const CONNECTOR_REF = { kind: 'SsoConnector', namespace: NS.teamA, name: CONNECTOR } as const;
const KEY = `${NS.teamA}/${CONNECTOR}`;
/** After a fault ends, sign-ins must succeed again within this. */
const CONVERGENCE_MS = 30_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for `p`, at most `ms`; the timer is cleared either way, so the file leaves none running when it ends. */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const isSuccess = (a: SignInAttempt) => a.status === 303 && a.reason === 'Success' && a.session;

/** Asserts every attempt matches, and that there were at least `min` of them (so the check is never vacuous). */
function assertAll(attempts: SignInAttempt[], min: number, what: string, ok: (a: SignInAttempt) => boolean, origin?: number): void {
  assert.ok(attempts.length >= min, `${what}: expected at least ${min} attempts, got ${describeAttempts(attempts, origin)}`);
  const bad = attempts.filter((a) => !ok(a));
  assert.deepEqual(bad, [], `${what}: ${describeAttempts(bad, origin)} among ${describeAttempts(attempts, origin)}`);
}

function assertNoneAccepted(attempts: SignInAttempt[], what: string, origin?: number): void {
  const accepted = attempts.filter(isAccepted);
  assert.deepEqual(accepted, [], `${what}: sign-ins wrongly accepted: ${describeAttempts(accepted, origin)}`);
}

describe('cluster faults, with a client signing in every second', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(300_000);
  let fx: ClusterFixture;
  let proxy: CuttableProxy;
  let op: TestClusterOperator | undefined;
  let lease: LeaseWatcher | undefined;
  const replicas: Replica[] = [];
  const signers: Signer[] = [];
  const ports = { a: 0, b: 0 };
  // Held from beforeAll() until each replica starts: the IdP must know the URLs up front.
  const held: Partial<Record<keyof typeof ports, PortReservation>> = {};
  const measured: string[] = [];
  const t0 = Date.now();
  const note = (line: string) => {
    measured.push(line);
    console.log(`[faults] ${line}`);
  };
  const signer = (name: string, baseURL: string) => {
    const s = new Signer(name, { idp: fx.idp, baseURL }).start();
    signers.push(s);
    return s;
  };

  /** Whether the operator at `adminURL` serves the connector right now (its registry, via /admin/status). */
  const serving = async (adminURL: string): Promise<boolean | undefined> => {
    const res = await fetch(`${adminURL}/admin/status`);
    const body = (await res.json()) as { connectors: { key: string; ready: boolean }[] };
    return body.connectors.find((c) => c.key === KEY)?.ready;
  };
  /** Date.now() when the operator was first seen serving (want=true) or refusing (want=false) the connector. */
  const whenServing = async (adminURL: string, want: boolean, timeoutMs = 10_000): Promise<number> => {
    await pollFor(`connector ${want ? 'served' : 'not served'} by ${adminURL}`, async () => (await serving(adminURL)) === want, timeoutMs, 10);
    return Date.now();
  };

  /** Edits the connector's spec; resolves once the leader wrote the matching observedGeneration, with the ms it took. */
  const specEditReachesStatus = async (label: string, check: (o: K8sObject) => boolean = () => true): Promise<{ ms: number; obj: K8sObject }> => {
    const t = Date.now();
    const patched = await mergePatch(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR, { spec: { displayName: `SimpleSAMLphp (${label})` } });
    const generation = patched.metadata.generation as number;
    const { obj } = await waitForObject(
      fx.cp,
      CONNECTOR_REF,
      (o) => o.status?.observedGeneration === generation && conditionOf(o, 'Ready')?.observedGeneration === generation && check(o),
      CONVERGENCE_MS,
    );
    return { ms: Date.now() - t, obj };
  };

  /** Prints the operator's log tail when a test body throws. */
  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (op) console.error(`--- in-process operator log (last 30 lines) ---\n${op.rawLogs().split('\n').slice(-30).join('\n')}`);
      for (const r of replicas) console.error(`--- replica ${r.identity} output (last 3 kB) ---\n${r.output().slice(-3000)}`);
      throw err;
    }
  };

  beforeAll(async () => {
    held.a = await reservePort();
    held.b = await reservePort();
    ports.a = held.a.port;
    ports.b = held.b.port;
    // No watch cache: the apiserver's watches read etcd, so compacting etcd makes an old resourceVersion 410 Gone.
    // The connector is registered for the in-process operator (fx.baseURL) and both replicas.
    fx = await startClusterFixture({
      apiserverFlags: ['--watch-cache=false'],
      extraBaseURLs: Object.values(ports).map((p) => `http://127.0.0.1:${p}`),
    });
    note(`setup: ${JSON.stringify(fx.timings)} ms`);
    await applyOk(fx.cp, ...baselineManifests(fx));
    // The in-process operator reaches the apiserver through a proxy the tests can cut.
    proxy = await cuttableProxy(fx.cp.server);
    op = await startFixtureOperator(fx, { kubeconfigPath: await fx.kubeconfigVia(proxy.url, 'sa-kubeconfig-proxied'), identity: 'in-process' });
    await waitForObject(fx.cp, CONNECTOR_REF, (o) => conditionOf(o, 'Ready')?.status === 'True' && o.status?.loginURL === spURLs(op!.baseURL, NS.teamA, CONNECTOR).loginURL);
  });

  afterAll(async () => {
    await Promise.all(Object.values(held).map((h) => h.release()));
    await Promise.all(signers.map((s) => s.stop()));
    await lease?.stop();
    for (const r of replicas) {
      r.signal('SIGTERM');
      await atMost(r.exited, 10_000);
      await r.destroy();
    }
    await op?.stop();
    await proxy?.close();
    await fx?.stop();
    console.log(`[faults] summary (whole file ${((Date.now() - t0) / 1000).toFixed(1)} s):\n  ${measured.join('\n  ')}`);
  });

  it('1. apiserver restart: sign-ins keep succeeding from the caches, /readyz stays on, status writes resume', () =>
    withLogs(async () => {
      const s = signer('restart', op!.baseURL);
      await s.waitFor(0, 'a first successful sign-in', isSuccess, 15_000);
      const readyz: { at: number; status: number }[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const status = await fetch(`${op!.adminURL}/readyz`).then((r) => r.status, () => 0);
          readyz.push({ at: Date.now(), status });
          await sleep(200);
        }
      })();

      const tDown = Date.now();
      await fx.cp.restartApiserver();
      const tUp = Date.now();
      // Status writes resume: a spec edit made now is seen (informers reconnect) and its status written (the leader renews).
      const edit = await specEditReachesStatus('after restart');
      await s.waitForAttempts(tUp, 2);
      sampling = false;
      await sampler;
      await s.stop();

      const during = s.between(tDown, tUp);
      note(`1. apiserver down for ${tUp - tDown} ms; sign-ins during the outage: ${formatSummary(summarize(during))}`);
      note(`1. spec edit after the restart -> observedGeneration ${edit.obj.status?.observedGeneration} written: ${edit.ms} ms (recovery time)`);
      const recovered = op!.logs.filter((l) => l.msg === 'informer recovered' && Number(l.time) >= tDown);
      note(
        `1. informers recovered ${recovered.length ? Math.max(...recovered.map((l) => Number(l.time))) - tDown : '-'} ms after the restart began ` +
          `(down for up to ${Math.max(0, ...recovered.map((l) => Number(l.downMs)))} ms); all sign-ins: ${formatSummary(summarize(s.attempts))}`,
      );
      // The outage was real for the operator: its informers lost the apiserver.
      assert.ok(op!.logs.some((l) => l.msg === 'informer restarting' && Number(l.time) >= tDown), 'the informers noticed the outage');
      assert.ok(recovered.length > 0, 'the informers logged their recovery');
      assertAll(during, 1, 'sign-ins while the apiserver was down', isSuccess, tDown);
      assertAll(s.attempts, 4, 'every sign-in, before, during and after', isSuccess, tDown);
      const outage = readyz.filter((r) => r.at >= tDown && r.at <= tUp);
      assert.ok(outage.length >= 1, 'readiness was sampled during the outage');
      assert.deepEqual(outage.filter((r) => r.status !== 200), [], `/readyz stays 200 while serving from the caches (${outage.length} samples)`);
    }));

  it('2. referenced Secret deleted and recreated: 503 while gone, 401 while it holds another certificate, never 303', () =>
    withLogs(async () => {
      const s = signer('secret', op!.baseURL);
      await s.waitFor(0, 'a first successful sign-in', isSuccess, 15_000);

      // Deleted: refused with 503 ConnectorNotReady from the moment the operator applied it.
      const tDelete = Date.now();
      await deleteObject(fx.cp, 'v1', 'Secret', NS.teamA, IDP_SECRET);
      const tGone = await whenServing(op!.adminURL, false);
      note(`2. Secret deleted -> connector refused by the operator after ${tGone - tDelete} ms`);
      assert.ok(tGone - tDelete < 2000, `a deleted Secret takes effect within a second or so (took ${tGone - tDelete} ms)`);
      const notReady = await waitForObject(fx.cp, CONNECTOR_REF, (o) => conditionOf(o, 'Ready')?.status === 'False');
      note(`2. Ready=False (${conditionOf(notReady.obj, 'Ready')?.reason}) written ${notReady.ms} ms after the check began`);
      await s.waitForAttempts(tGone, 3);

      // Recreated with the IdP's certificate: success again.
      const tRecreate = Date.now();
      await applyOk(fx.cp, idpSecretManifest(NS.teamA, IDP_SECRET, [fx.keys.old.certPem]));
      const back = await s.waitFor(tRecreate, 'a successful sign-in after the Secret was recreated', isSuccess, CONVERGENCE_MS);
      note(`2. Secret recreated -> first successful sign-in ${back.end - tRecreate} ms later`);
      await s.waitForAttempts(back.end, 2);

      // Deleted again and recreated with a certificate SimpleSAMLphp does not sign with: 401, never 303.
      const tDelete2 = Date.now();
      await deleteObject(fx.cp, 'v1', 'Secret', NS.teamA, IDP_SECRET);
      const tGone2 = await whenServing(op!.adminURL, false);
      await applyOk(fx.cp, idpSecretManifest(NS.teamA, IDP_SECRET, [fx.keys.new.certPem]));
      const tWrong = await whenServing(op!.adminURL, true);
      note(`2. Secret recreated with another certificate -> served (and refusing) ${tWrong - tGone2} ms after it was seen gone`);
      await s.waitForAttempts(tWrong, 3);

      // Fixed in place: success again.
      const tFix = Date.now();
      await applyOk(fx.cp, idpSecretManifest(NS.teamA, IDP_SECRET, [fx.keys.old.certPem]));
      const fixed = await s.waitFor(tFix, 'a successful sign-in after the certificate was fixed', isSuccess, CONVERGENCE_MS);
      note(`2. certificate fixed -> first successful sign-in ${fixed.end - tFix} ms later`);
      await s.waitForAttempts(fixed.end, 2);
      await s.stop();
      note(`2. all sign-ins: ${formatSummary(summarize(s.attempts))}`);

      const gone = s.between(tGone, tRecreate);
      assertNoneAccepted(gone, 'while the Secret was gone', tDelete);
      assertAll(gone, 2, 'while the Secret was gone', (a) => a.status === 503 && a.reason === 'ConnectorNotReady', tDelete);
      // Until the first success after the recreate, only refusals; from it on, only successes.
      assertAll(s.between(tRecreate, back.decidedAt), 0, 'recreated, not yet applied', (a) => a.status === 503, tDelete);
      assertAll(s.between(back.decidedAt, tDelete2), 2, 'after the recreate', isSuccess, tDelete);
      const gone2 = s.between(tGone2, tWrong);
      assertAll(gone2, 0, 'while the Secret was gone again', (a) => a.status === 503 && a.reason === 'ConnectorNotReady', tDelete);
      const wrong = s.between(tWrong, tFix);
      assertNoneAccepted(wrong, 'with a certificate the IdP does not sign with', tDelete);
      assertAll(wrong, 2, 'with a certificate the IdP does not sign with', (a) => a.status === 401 && ['CertificateNotTrusted', 'SignatureInvalid'].includes(a.reason), tDelete);
      assertAll(s.between(tFix, fixed.decidedAt), 0, 'fixed, not yet applied', (a) => a.status === 401, tDelete);
      assertAll(s.between(fixed.decidedAt), 2, 'after the fix', isSuccess, tDelete);
      // Nothing between the deletes and the successes was accepted either (the operator saw them first).
      assertNoneAccepted(s.between(tGone, back.decidedAt), 'between the delete and the recreate', tDelete);
      assertNoneAccepted(s.between(tGone2, fixed.decidedAt), 'between the second delete and the fix', tDelete);
    }));

  it('3. 410 Gone (etcd compacted while cut off, no watch cache): the store relists; the binding deleted meanwhile refuses with 403, never 303', () =>
    withLogs(async () => {
      const s = signer('gone', op!.baseURL);
      await s.waitFor(0, 'a first successful sign-in', isSuccess, 15_000);

      proxy.cut();
      const tCut = Date.now();
      await deleteObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, BINDING);
      const revision = await compactEtcd(fx.cp);
      await s.waitForAttempts(tCut, 2);
      proxy.heal();
      const tHeal = Date.now();

      const refused = await s.waitFor(tHeal, 'a 403 after the store relisted', (a) => a.status === 403, CONVERGENCE_MS);
      note(`3. cut for ${tHeal - tCut} ms (etcd compacted at revision ${revision}); first 403 ${refused.decidedAt - tHeal} ms after the connection healed`);
      await s.waitForAttempts(refused.end, 3);

      const tRebind = Date.now();
      await applyOk(fx.cp, bindingManifest({ user: USERS.alice.email, connectors: [CONNECTOR], groups: [...USERS.alice.groups] }));
      const back = await s.waitFor(tRebind, 'a successful sign-in after the binding was restored', isSuccess, CONVERGENCE_MS);
      note(`3. binding restored -> first successful sign-in ${back.end - tRebind} ms later`);
      await s.waitForAttempts(back.end, 2);
      await s.stop();
      const edit = await specEditReachesStatus('after 410');
      note(`3. spec edit -> observedGeneration written ${edit.ms} ms; all sign-ins: ${formatSummary(summarize(s.attempts))}`);

      const relists = op!.logs.filter((l) => String(l.msg).includes('(410); relisting') && Number(l.time) >= tHeal);
      note(`3. relists after 410: ${relists.map((l) => l.resource).join(', ')}`);
      assert.ok(relists.some((l) => l.resource === 'userbindings'), `the UserBinding informer relisted after a 410: ${JSON.stringify(relists)}`);
      // While cut off the operator serves what its caches hold (it cannot know of the delete).
      assertAll(s.between(tCut, tHeal), 2, 'while cut off from the apiserver', isSuccess, tCut);
      const unbound = s.between(refused.decidedAt, tRebind);
      assertNoneAccepted(unbound, 'after the binding delete was applied', tCut);
      assertAll(unbound, 3, 'after the binding delete was applied', (a) => a.status === 403 && a.reason === 'BindingNotActive', tCut);
      assertAll(s.between(tRebind, back.decidedAt), 0, 'rebound, not yet applied', (a) => a.status === 403, tCut);
      assertAll(s.between(back.decidedAt), 2, 'after the binding was restored', isSuccess, tCut);
    }));

  it('4. two replicas (real CLI processes): kill -9 of the leader, then SIGTERM of the new one with a sign-in in flight', () =>
    withLogs(async () => {
      // The in-process operator leaves (releasing the Lease); replica A takes it, then B joins.
      await op!.stop();
      op = undefined;
      lease = new LeaseWatcher(fx.cp, NS.operator, LEASE, { intervalMs: 50 });
      const tA = Date.now();
      await held.a?.release();
      const a = await startReplica({ kubeconfigPath: fx.sa.kubeconfigPath, identity: 'replica-a', port: ports.a });
      replicas.push(a);
      await lease.waitForHolder('replica-a', tA, 10_000);
      await held.b?.release();
      const b = await startReplica({ kubeconfigPath: fx.sa.kubeconfigPath, identity: 'replica-b', port: ports.b });
      replicas.push(b);
      note(`4. replica A ready and leader, B ready: ${Date.now() - tA} ms`);
      await waitForObject(fx.cp, CONNECTOR_REF, (o) => o.status?.loginURL === spURLs(a.baseURL, NS.teamA, CONNECTOR).loginURL);
      const sa = signer('replica-a', a.baseURL);
      const sb = signer('replica-b', b.baseURL);
      await sa.waitForAttempts(tA, 2);
      await sb.waitForAttempts(tA, 2);
      assertAll(sa.attempts, 2, 'replica A (leader) serves', isSuccess);
      assertAll(sb.attempts, 2, 'replica B (follower) serves', isSuccess);

      // kill -9 of the leader: B keeps serving, takes over after the lease expires, and writes status.
      const tKill = Date.now();
      a.signal('SIGKILL');
      const killed = await a.exited;
      // A2 comes back on A's port later: hold it meanwhile.
      held.a = await reservePort(ports.a);
      await sa.stop();
      assert.equal(killed.signal, 'SIGKILL');
      const takeover = await lease.waitForHolder('replica-b', tKill, CONVERGENCE_MS);
      const failover = takeover.at - tKill;
      note(`4. kill -9 of leader A -> B holds the Lease after ${failover} ms (lease 15 s, retry 2 s)`);
      // Never two leaders: B may not take a Lease that A renewed less than leaseDuration (15 s) ago, and A renewed within 2 s of its death.
      assert.ok(failover >= 12_000, `B took over only ${failover} ms after A died: earlier than the lease allows`);
      const flushed = await waitForObject(fx.cp, CONNECTOR_REF, (o) => o.status?.loginURL === spURLs(b.baseURL, NS.teamA, CONNECTOR).loginURL, 10_000);
      note(`4. B's status (its own URLs) in the apiserver ${flushed.ms} ms after the takeover was seen`);
      const edit = await specEditReachesStatus('leader B', (o) => o.status?.loginURL === spURLs(b.baseURL, NS.teamA, CONNECTOR).loginURL);
      note(`4. spec edit -> observedGeneration written by B: ${edit.ms} ms`);
      await sb.waitForAttempts(Date.now(), 1);
      await sb.stop();
      note(`4. B's sign-ins across the failover: ${formatSummary(summarize(sb.between(tKill)))}`);
      assertAll(sb.between(tKill), 12, "B's sign-ins from the kill until it wrote status", isSuccess, tKill);

      // A comes back as A2; then SIGTERM of leader B while a sign-in streams its SAMLResponse slowly.
      await held.a.release();
      const a2 = await startReplica({ kubeconfigPath: fx.sa.kubeconfigPath, identity: 'replica-a2', port: ports.a });
      replicas.push(a2);
      const sa2 = signer('replica-a2', a2.baseURL);
      await sa2.waitFor(0, 'a successful sign-in at A2', isSuccess, 15_000);
      const browser = new BrowserClient();
      const pending = await toSamlResponse(browser, { idp: fx.idp, baseURL: b.baseURL });
      assert.ok('form' in pending, `a sign-in at B reaches its ACS form: ${JSON.stringify(pending)}`);
      const form = pending.form;

      const readyz: { at: number; status: number }[] = [];
      const sampler = (async () => {
        while (b.running) {
          readyz.push({ at: Date.now(), status: await fetch(`${b.adminURL}/readyz`).then((r) => r.status, () => 0) });
          await sleep(25);
        }
      })();
      let tTerm = 0;
      // Like a browser, the client keeps its connection open after the answer (Chromium: 300 s).
      const browserAgent = new Agent({ keepAlive: true, timeout: 120_000 });
      const post = slowFormPost(form.action, form, browser.cookies.header(form.action), {
        chunks: 16,
        gapMs: 200,
        agent: browserAgent,
        onFirstChunk: () =>
          void sleep(400).then(() => {
            tTerm = Date.now();
            b.signal('SIGTERM');
          }),
      });
      // New work is refused while the slow one finishes.
      await pollFor('B /readyz 503 after SIGTERM', () => readyz.some((r) => tTerm > 0 && r.at > tTerm && r.status === 503), 5000, 10);
      const fresh = await fetch(`${b.baseURL}/saml/${NS.teamA}/${CONNECTOR}/login?rd=%2Fapp`, { redirect: 'manual' }).then(
        (r) => `${r.status}`,
        (err: { cause?: { code?: string } }) => err.cause?.code ?? 'error',
      );
      const answer = await post;
      const exit = await b.exited;
      browserAgent.destroy();
      await sampler;
      const release = lease.changes.find((c) => c.at >= tTerm && c.holder === '');
      const takeover2 = await lease.waitForHolder('replica-a2', tTerm, 20_000).catch(() => undefined);
      const firstUnready = readyz.find((r) => r.at >= tTerm && r.status !== 200);
      note(
        `4. SIGTERM of B: /readyz ${firstUnready?.status} after ${firstUnready ? firstUnready.at - tTerm : '-'} ms; a new request got ${fresh}; ` +
          `the in-flight sign-in answered ${answer.status} ${answer.at - tTerm} ms after SIGTERM; exit ${exit.code} after ${exit.at - tTerm} ms; ` +
          `Lease ${release ? `released after ${release.at - tTerm} ms, ` : 'not seen released, '}taken by A2 ${takeover2 ? `${takeover2.at - exit.at} ms after B exited` : 'not within 20 s'}`,
      );
      assert.ok(firstUnready && firstUnready.status === 503 && firstUnready.at < exit.at, `/readyz went 503 before B exited: ${JSON.stringify(readyz.filter((r) => r.at >= tTerm - 100))}`);
      assert.ok(!/^[23]\d\d$/.test(fresh), `a new request after SIGTERM is refused (got ${fresh})`);
      assert.ok(answer.at > tTerm + 1000, 'the slow sign-in was still in flight for a while after SIGTERM');
      assert.equal(answer.status, 303, `the in-flight sign-in completed: ${answer.status} ${answer.body.slice(0, 500)}`);
      assert.ok([answer.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith('sso_session=')), 'the in-flight sign-in got its session');
      assert.equal(exit.code, 0, `B exits 0 (got ${JSON.stringify(exit)})`);
      assert.ok(exit.at - tTerm <= 10_000, `B exits within 10 s of SIGTERM (took ${exit.at - tTerm} ms)`);
      // Once the last in-flight request is answered nothing holds it: an idle keep-alive connection does not.
      assert.ok(exit.at - answer.at <= 2000, `B exits soon after its last request was answered (took ${exit.at - answer.at} ms)`);
      assert.ok(b.logLines().some((l) => l.msg === 'leader lease released'), 'B released the Lease');
      // Released, A2 takes it at its next retry (2 s), not after the 15 s lease.
      assert.ok(takeover2, 'A2 took over the Lease');
      assert.ok(takeover2.at - exit.at <= 3000, `A2 took over ${takeover2.at - exit.at} ms after B exited`);
      const edit2 = await specEditReachesStatus('leader A2', (o) => o.status?.loginURL === spURLs(a2.baseURL, NS.teamA, CONNECTOR).loginURL);
      note(`4. spec edit -> observedGeneration written by A2: ${edit2.ms} ms`);
      await sa2.stop();
      note(`4. A2's sign-ins across B's shutdown: ${formatSummary(summarize(sa2.attempts))}`);
      assertAll(sa2.attempts, 3, "A2's sign-ins", isSuccess, tTerm);
    }));
});
