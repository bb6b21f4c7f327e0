// KubeStatusSink, EventRecorder and LeaderElector against a real kube-apiserver
// (test/support/kube.ts): status through the status subresource by server-side
// apply, Events with series aggregation, and leader election on a real Lease
// with release on stop and takeover after expiry.

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { kubeRequest, startControlPlane, waitForCrdEstablished, type ControlPlane } from '../support/kube.ts';
import { KubeStatusSink } from '../../src/controller/kube-status-sink.ts';
import { StatusWriter } from '../../src/controller/status-writer.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { KubeApiError } from '../../src/controller/kube-client.ts';
import { KubeLeaseApi, LeaderElector, type Lease, type LeaseApi } from '../../src/controller/leader-election.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NS = 'status-leader';
const BASE = `/apis/sso.operator.dev/v1alpha1/namespaces/${NS}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = { info() {}, warn() {}, error() {} };

function readyStatus(generation: number, ready: 'True' | 'False') {
  return {
    observedGeneration: generation,
    conditions: [
      {
        type: 'Ready',
        status: ready,
        reason: ready === 'True' ? 'Serving' : 'SecretNotFound',
        message: ready === 'True' ? 'serving' : 'Secret status-leader/demo-idp-signing not found',
        lastTransitionTime: '2026-03-01T12:00:00Z',
        observedGeneration: generation,
      },
    ],
    loginURL: `https://sso.example.test/saml/${NS}/demo/login`,
    entityID: `https://sso.example.test/saml/${NS}/demo/metadata`,
    acsURL: `https://sso.example.test/saml/${NS}/demo/acs`,
    metadataURL: `https://sso.example.test/saml/${NS}/demo/metadata`,
    certificates: [{ fingerprint: 'sha256:' + 'ab'.repeat(32), subject: 'CN=idp', notAfter: '2030-01-01T00:00:00.000Z', source: 'secret/demo-idp-signing#tls.crt' }],
  };
}

/** Polls until cond() holds; resolves with the elapsed ms. */
async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - t0;
}

/** A replica's Lease calls, with a switch that cuts it off from the apiserver (a crash that never released). */
class SeverableLeaseApi implements LeaseApi {
  severed = false;
  readonly #inner: LeaseApi;
  constructor(inner: LeaseApi) {
    this.#inner = inner;
  }
  #check(): void {
    if (this.severed) throw new Error('connect ECONNREFUSED (severed by the test)');
  }
  async get(ns: string, name: string) {
    this.#check();
    return this.#inner.get(ns, name);
  }
  async create(l: Lease) {
    this.#check();
    return this.#inner.create(l);
  }
  async update(l: Lease) {
    this.#check();
    return this.#inner.update(l);
  }
}

describe('status, events and leader election on a real apiserver', () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let connectorUid = '';

  beforeAll(async () => {
    cp = await startControlPlane();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    assert.equal((await kubeRequest(cp, 'POST', '/api/v1/namespaces', { metadata: { name: NS } })).status, 201);
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    for (const file of ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml']) {
      // loadYaml keeps x-kubernetes-* and defaults that a plain parse loses (see kube-smoke.test.ts).
      const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(await readFile(join(ROOT, 'crds', file), 'utf8'));
      const created = await ext.createCustomResourceDefinition({ body: crd });
      await waitForCrdEstablished(cp, created.metadata!.name!);
    }
    const connector = parseYaml(await readFile(join(ROOT, 'examples', 'connector.yaml'), 'utf8'));
    connector.metadata = { name: 'demo', namespace: NS };
    const made = await kubeRequest(cp, 'POST', `${BASE}/ssoconnectors`, connector);
    assert.equal(made.status, 201, made.text);
    connectorUid = made.body.metadata.uid;
    const binding = { apiVersion: 'sso.operator.dev/v1alpha1', kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: 'alice@example.com', connectors: ['demo'] } };
    assert.equal((await kubeRequest(cp, 'POST', `${BASE}/userbindings`, binding)).status, 201);
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('applies status through the status subresource as field manager sso-operator, only when it changed', async () => {
    const before = (await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body;
    let leader = true;
    const writer = new StatusWriter({ target: new KubeStatusSink({ kubeConfig: kc }), isLeader: () => leader, logger: quiet });

    writer.publish('SsoConnector', NS, 'demo', connectorUid, readyStatus(1, 'True'));
    await writer.idle();
    assert.equal(writer.writes, 1);
    const read = (await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body;
    assert.deepEqual(read.status, readyStatus(1, 'True'));
    const managers = read.metadata.managedFields as { manager: string; operation: string; subresource?: string; fieldsV1: Record<string, unknown> }[];
    const ours = managers.find((m) => m.manager === 'sso-operator');
    assert.ok(ours, `managers: ${JSON.stringify(managers.map((m) => m.manager))}`);
    assert.equal(ours.operation, 'Apply');
    assert.equal(ours.subresource, 'status');
    assert.ok('f:status' in ours.fieldsV1 && !('f:spec' in ours.fieldsV1));
    // The spec is untouched by status writes.
    assert.equal(read.metadata.generation, before.metadata.generation);
    assert.deepEqual(read.spec, before.spec);

    // The same content again (a fresh copy): no request at all.
    writer.publish('SsoConnector', NS, 'demo', connectorUid, structuredClone(readyStatus(1, 'True')));
    await writer.idle();
    assert.equal(writer.writes, 1);
    assert.equal((await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body.metadata.resourceVersion, read.metadata.resourceVersion);

    // A status without loginURL & co. (a connector whose manifest broke): the fields this manager stops sending are removed.
    const broken = { observedGeneration: 1, conditions: readyStatus(1, 'False').conditions };
    writer.publish('SsoConnector', NS, 'demo', connectorUid, broken);
    await writer.idle();
    assert.equal(writer.writes, 2);
    const after = (await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body;
    assert.deepEqual(after.status, broken);
    assert.equal(after.metadata.generation, before.metadata.generation);

    // Not leader: nothing is written, however the status changes.
    leader = false;
    writer.publish('SsoConnector', NS, 'demo', connectorUid, readyStatus(1, 'True'));
    await writer.idle();
    assert.equal(writer.writes, 2);
    assert.deepEqual((await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body.status, broken);
    writer.close();
  });

  it('a non-leader keeps the connector statuses it would write (binding statuses are published again when it leads); as leader it writes only what differs from what the objects carry', async () => {
    let leader = false;
    // What the informer would have seen on the objects.
    const observed = new Map<string, Record<string, unknown>>();
    const writer = new StatusWriter({
      target: new KubeStatusSink({ kubeConfig: kc }),
      isLeader: () => leader,
      observed: (kind, ns, name) => observed.get(`${kind}/${ns}/${name}`),
      logger: quiet,
    });
    const status = {
      phase: 'Active',
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Active', message: 'the user may sign in', lastTransitionTime: '2026-03-01T12:00:00Z' }],
    };
    writer.publish('UserBinding', NS, 'alice', undefined, status);
    writer.publish('SsoConnector', NS, 'demo', connectorUid, readyStatus(1, 'True'));
    await writer.idle();
    assert.equal(writer.writes, 0);
    assert.equal((await kubeRequest(cp, 'GET', `${BASE}/userbindings/alice`)).body.status, undefined);

    leader = true;
    writer.startedLeading();
    // A follower keeps no binding status: the controller publishes them all again (Controller.republishBindingStatuses).
    writer.publish('UserBinding', NS, 'alice', undefined, status);
    await writer.idle();
    assert.equal(writer.writes, 2);
    const alice = (await kubeRequest(cp, 'GET', `${BASE}/userbindings/alice`)).body;
    const demo = (await kubeRequest(cp, 'GET', `${BASE}/ssoconnectors/demo`)).body;
    assert.deepEqual(alice.status, status);
    assert.deepEqual(demo.status, readyStatus(1, 'True'));

    // A new term (another leader may have written meanwhile): the objects
    // carry exactly what is desired, so nothing is written again.
    observed.set(`UserBinding/${NS}/alice`, alice.status);
    observed.set(`SsoConnector/${NS}/demo`, demo.status);
    writer.startedLeading();
    writer.publish('UserBinding', NS, 'alice', undefined, status);
    await writer.idle();
    assert.equal(writer.writes, 2, 'equal to what the objects carry: no write');
    // And one that differs is written.
    observed.set(`UserBinding/${NS}/alice`, { ...alice.status, phase: 'Denied' });
    writer.startedLeading();
    writer.publish('UserBinding', NS, 'alice', undefined, status);
    await writer.idle();
    assert.equal(writer.writes, 3);
    writer.publish('UserBinding', NS, 'alice', undefined, structuredClone(status));
    await writer.idle();
    assert.equal(writer.writes, 3);
    writer.close();
  });

  it('treats a deleted object as done and throws what the apiserver refuses', async () => {
    const sink = new KubeStatusSink({ kubeConfig: kc });
    assert.equal(await sink.write('SsoConnector', NS, 'no-such-connector', readyStatus(1, 'True')), 'gone');
    const err = await sink.write('UserBinding', NS, 'alice', { phase: 'Bogus' }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof KubeApiError, `expected a KubeApiError, got ${String(err)}`);
    assert.equal(err.status, 422);
    // The writer counts neither, and retries the refused one with backoff instead of failing a reconcile.
    const warnings: string[] = [];
    const writer = new StatusWriter({ target: sink, logger: { info() {}, warn: (_o: object, msg: string) => void warnings.push(msg) } });
    writer.publish('SsoConnector', NS, 'no-such-connector', undefined, readyStatus(1, 'True'));
    writer.publish('UserBinding', NS, 'alice', undefined, { phase: 'Bogus' });
    const deadline = Date.now() + 5000;
    while (warnings.length === 0 && Date.now() < deadline) await sleep(20);
    assert.equal(writer.writes, 0);
    assert.match(warnings[0] ?? '', /status write failed; retrying/);
    assert.equal(writer.depth('SsoConnector'), 0, 'the deleted object is not retried');
    writer.close();
  });

  it('records one Event regarding the connector; a repeat joins its series', async () => {
    let leader = true;
    const rec = new EventRecorder({ kubeConfig: kc, isLeader: () => leader, logger: quiet, reportingInstance: 'replica-1' });
    const obj = { kind: 'SsoConnector', namespace: NS, name: 'demo', uid: connectorUid };
    await rec.record(obj, 'Warning', 'ConnectorInvalid', 'SecretNotFound: Secret status-leader/demo-idp-signing not found');
    await rec.record(obj, 'Warning', 'ConnectorInvalid', 'SecretNotFound: Secret status-leader/demo-idp-signing not found');
    leader = false;
    await rec.record(obj, 'Normal', 'ConnectorReady', 'serving');
    assert.equal(rec.created, 1);
    assert.equal(rec.updated, 1);

    const list = (await kubeRequest(cp, 'GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events`)).body.items as any[];
    const ours = list.filter((e) => e.regarding?.name === 'demo');
    assert.equal(ours.length, 1, JSON.stringify(ours, null, 1));
    const ev = ours[0];
    assert.equal(ev.reason, 'ConnectorInvalid');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.reportingController, 'sso.operator.dev/sso-operator');
    assert.equal(ev.reportingInstance, 'replica-1');
    assert.equal(ev.action, 'Reconcile');
    assert.equal(ev.regarding.uid, connectorUid);
    assert.equal(ev.regarding.kind, 'SsoConnector');
    assert.equal(ev.series?.count, 2);
    // Through core/v1 as well, which `kubectl describe` reads.
    const core = (await kubeRequest(cp, 'GET', `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name=demo`)).body.items as any[];
    assert.equal(core.length, 1);
    assert.equal(core[0].involvedObject.uid, connectorUid);
  });

  it('elects exactly one leader, hands over at once on stop and after expiry on a crash', async () => {
    const timing = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 };
    const electors: LeaderElector[] = [];
    const apis = new Map<LeaderElector, SeverableLeaseApi>();
    const make = (id: string) => {
      const api = new SeverableLeaseApi(new KubeLeaseApi(kc, 1000));
      const e = new LeaderElector({ leaseApi: api, namespace: NS, name: 'sso-operator', identity: id, logger: quiet, ...timing });
      electors.push(e);
      apis.set(e, api);
      return e;
    };
    let maxLeaders = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      samples++;
      maxLeaders = Math.max(maxLeaders, electors.filter((e) => e.isLeader()).length);
    }, 5);
    try {
      const a = make('replica-a');
      const b = make('replica-b');
      a.start();
      b.start();
      await until('a first leader', () => a.isLeader() || b.isLeader(), 5000);
      // Several renewals: leadership must stay put. The extra 250 ms puts the stop
      // mid-way between two retries of the follower, so the failover figure is typical.
      await sleep(2250);
      const leaders = electors.filter((e) => e.isLeader());
      assert.equal(leaders.length, 1);
      const first = leaders[0]!;
      const second = first === a ? b : a;

      // Graceful stop releases the Lease: the other takes over at its next retry, not after 3 s.
      const t0 = performance.now();
      await first.stop();
      await until('takeover after release', () => second.isLeader(), 3000);
      const releaseFailover = performance.now() - t0;
      assert.ok(releaseFailover < 1500, `took ${releaseFailover.toFixed(0)} ms after a release`);

      // A crash that never releases: the leader is cut off from the apiserver.
      const c = make('replica-c');
      c.start();
      await sleep(1200);
      assert.equal(second.isLeader(), true);
      assert.equal(c.isLeader(), false);
      const t1 = performance.now();
      apis.get(second)!.severed = true;
      const stepDown = await until('cut-off leader steps down', () => !second.isLeader(), 4000);
      await until('takeover after expiry', () => c.isLeader(), 6000);
      const expiryFailover = performance.now() - t1;
      // The lease (3 s) must run out first; the last renewal was at most one retry (0.5 s) before the cut.
      assert.ok(expiryFailover >= 2400, `took over after ${expiryFailover.toFixed(0)} ms, before the lease expired`);
      assert.ok(expiryFailover < 5000, `took ${expiryFailover.toFixed(0)} ms`);
      assert.ok(stepDown <= 2300, `the cut-off leader led ${stepDown.toFixed(0)} ms after the cut (renew deadline 2 s)`);
      console.log(
        `[kube-status-leader] failover after release: ${releaseFailover.toFixed(0)} ms; ` +
          `after a crash: ${expiryFailover.toFixed(0)} ms (cut-off leader stepped down after ${stepDown.toFixed(0)} ms); ` +
          `${samples} samples, never two leaders: ${maxLeaders <= 1}`,
      );

      const lease = (await kubeRequest(cp, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/sso-operator`)).body;
      assert.equal(lease.spec.holderIdentity, 'replica-c');
      assert.equal(lease.spec.leaseDurationSeconds, 3);
      assert.equal(lease.spec.leaseTransitions, 2);
      assert.match(lease.spec.renewTime, /\.\d{6}Z$/);
      assert.match(lease.spec.acquireTime, /\.\d{6}Z$/);
    } finally {
      clearInterval(sampler);
      for (const e of electors) await e.stop();
    }
    assert.equal(maxLeaders, 1, 'two replicas led at the same sampled moment');
    assert.ok(samples > 500, `only ${samples} samples`);
    const released = (await kubeRequest(cp, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/sso-operator`)).body;
    assert.equal(released.spec.holderIdentity ?? '', '', 'the last leader released the Lease on stop');
  });
});
