// KubernetesStore against a real kube-apiserver + etcd (test/support/kube.ts).
//
// Two control planes start side by side: the main one (default flags) and one
// with --watch-cache=false, where compacting etcd makes the store's next watch
// fail with 410 Gone; the store reaches the latter through a TCP proxy the
// test can cut, so the watch breaks while objects are deleted behind its back.
//
// The CRDs are installed with every schema default removed, as if the objects
// had been stored before those defaults existed: the store's own admission
// must then supply them.

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { admit } from '../../src/api/index.ts';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.ts';
import type { Admit } from '../../src/store/admission.ts';
import { KubernetesStore } from '../../src/store/kubernetes-store.ts';
import type { StoreEvent } from '../../src/store/types.ts';
import { compactEtcd, kubeRequest, startControlPlane, waitForCrdEstablished, type ControlPlane } from '../support/kube.ts';
import { cuttableProxy } from '../support/tcp-proxy.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GV = 'sso.operator.dev/v1alpha1';

// ---------------------------------------------------------------------------------
// Helpers

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function captureLogger(lines: LogLine[]) {
  const at = (level: string) => (fields: object, msg: string) => {
    lines.push({ level, msg, fields: fields as Record<string, unknown> });
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** Records every event with its arrival time; waits for the first matching one after a mark. */
function recorder(store: KubernetesStore) {
  const events: { at: number; event: StoreEvent }[] = [];
  store.onChange((event) => events.push({ at: Date.now(), event }));
  const matches = (e: StoreEvent, type: StoreEvent['type'], kind: string, ns: string, name: string) =>
    e.type === type && e.object.kind === kind && e.object.metadata.namespace === ns && e.object.metadata.name === name;
  return {
    events,
    mark: () => events.length,
    async wait(from: number, type: StoreEvent['type'], kind: string, ns: string, name: string, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.slice(from).find((r) => matches(r.event, type, kind, ns, name));
        if (hit) return hit;
        if (Date.now() > deadline) {
          const seen = events.slice(from).map((r) => `${r.event.type} ${r.event.object.kind} ${r.event.object.metadata.namespace}/${r.event.object.metadata.name}`);
          throw new Error(`no ${type} of ${kind} ${ns}/${name} within ${timeoutMs} ms; saw: ${JSON.stringify(seen)}`);
        }
        await sleep(10);
      }
    },
    since(from: number, kind: string, ns: string, name: string) {
      return events.slice(from).filter((r) => r.event.object.kind === kind && r.event.object.metadata.namespace === ns && r.event.object.metadata.name === name);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok<T = any>(p: Promise<{ status: number; body: T; text: string }>, what: string): Promise<T> {
  const r = await p;
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text.slice(0, 500)}`);
  return r.body;
}

/** Removes every schema `default` (not properties that happen to be called "default"). */
function stripDefaults(node: unknown, parentKey = ''): void {
  if (Array.isArray(node)) {
    for (const item of node) stripDefaults(item);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  if (parentKey !== 'properties') delete obj.default;
  for (const [key, child] of Object.entries(obj)) stripDefaults(child, key);
}

async function installCrds(cp: ControlPlane): Promise<void> {
  const names: string[] = [];
  for (const file of ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml']) {
    // Raw JSON through kubeRequest, so nothing is lost to client-node's models.
    const crd = parseYaml(await readFile(join(ROOT, 'crds', file), 'utf8'));
    stripDefaults(crd.spec.versions);
    await ok(kubeRequest(cp, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd), `create CRD ${file}`);
    names.push(crd.metadata.name);
  }
  for (const name of names) await waitForCrdEstablished(cp, name);
}

let connectorTemplate: any;
function connector(ns: string, name: string, displayName = `Connector ${name}`): any {
  const c = structuredClone(connectorTemplate);
  c.metadata = { name, namespace: ns };
  c.spec.displayName = displayName;
  delete c.spec.reference; // unique per namespace; not what these tests are about
  return c;
}

function binding(ns: string, name: string, connectors: string[]): any {
  return { apiVersion: GV, kind: 'UserBinding', metadata: { name, namespace: ns }, spec: { user: `${name}@example.com`, connectors } };
}

const crPath = (plural: string, ns: string, name?: string) => `/apis/${GV}/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
const secretPath = (ns: string, name?: string) => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;

async function createNamespaces(cp: ControlPlane, ...names: string[]): Promise<void> {
  for (const name of names) await ok(kubeRequest(cp, 'POST', '/api/v1/namespaces', { metadata: { name } }), `namespace ${name}`);
}

function kubeConfigFor(cp: ControlPlane, server = cp.server): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  if (server !== cp.server) {
    kc.loadFromString(kc.exportConfig().replace(cp.server, server));
  }
  return kc;
}

async function stalenessOf(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.informerStaleness.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.resource), v.value]));
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const timings: string[] = [];
const note = (line: string) => {
  timings.push(line);
  console.log(`[kube-store] ${line}`);
};

// ---------------------------------------------------------------------------------

describe('KubernetesStore on a real apiserver', () => {
  let cp: ControlPlane;
  let cpNoCache: ControlPlane;
  let store: KubernetesStore;
  let rec: ReturnType<typeof recorder>;
  let metrics: Metrics;
  const logs: LogLine[] = [];
  const stores: KubernetesStore[] = [];
  const newStore = (opts: Partial<ConstructorParameters<typeof KubernetesStore>[0]> & { kubeConfig: k8s.KubeConfig }) => {
    const s = new KubernetesStore({ admit: admit as Admit, ...opts }) // default backoff: 200 ms doubling to 30 s;
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    connectorTemplate = parseYaml(await readFile(join(ROOT, 'examples', 'connector.yaml'), 'utf8'));
    [cp, cpNoCache] = await Promise.all([
      startControlPlane({ verbose: false }),
      startControlPlane({ verbose: false, apiserverFlags: ['--watch-cache=false'] }),
    ]);
    await Promise.all([installCrds(cp), installCrds(cpNoCache)]);
    await createNamespaces(cp, 'team-a', 'team-b');
    // The first create after Established is held ~2 s by the apiserver; absorb it here.
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-a'), connector('team-a', 'c1')), 'create c1');
    await ok(kubeRequest(cp, 'POST', crPath('userbindings', 'team-a'), binding('team-a', 'alice', ['c1'])), 'create binding');
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-b'), connector('team-b', 'c2')), 'create c2');
    metrics = createMetrics({ defaultMetrics: false });
    store = newStore({ kubeConfig: kubeConfigFor(cp), logger: captureLogger(logs), metrics });
    rec = recorder(store);
    const t = Date.now();
    await store.start();
    note(`initial sync ${Date.now() - t} ms`);
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.stop()));
    await Promise.all([cp?.stop(), cpNoCache?.stop()]);
    console.log(`[kube-store] summary: ${timings.join('; ')}`);
  });

  it('lists connectors and bindings with the apiserver metadata and the admitted defaults', async () => {
    assert.equal(store.synced(), true);
    const live = await ok(kubeRequest(cp, 'GET', crPath('ssoconnectors', 'team-a', 'c1')), 'read c1');
    // The CRD lost its defaults, so only the store's admission can have supplied them.
    assert.equal(live.spec.enabled, undefined);
    const c1 = store.get('SsoConnector', 'team-a', 'c1');
    assert.ok(c1, 'c1 is served');
    assert.equal(c1.metadata.uid, live.metadata.uid);
    assert.equal(c1.metadata.generation, live.metadata.generation);
    assert.equal(c1.metadata.resourceVersion, live.metadata.resourceVersion);
    assert.equal(c1.metadata.creationTimestamp, live.metadata.creationTimestamp);
    const spec = c1.spec as any;
    assert.equal(spec.enabled, true);
    assert.equal(spec.stage, 'Provisioning'); // as written, not defaulted over
    assert.equal(spec.saml.security.maxResponseBytes, 262144);
    assert.equal(spec.saml.clockSkew, '60s');
    assert.equal((c1 as any).status, undefined);
    assert.equal((c1.metadata as any).managedFields, undefined);
    const alice = store.get('UserBinding', 'team-a', 'alice');
    assert.equal((alice?.spec as any)?.approval, 'Approved');
    assert.deepEqual(
      store.list('SsoConnector').map((c) => `${c.metadata.namespace}/${c.metadata.name}`),
      ['team-a/c1', 'team-b/c2'],
    );
    assert.deepEqual(store.problems(), []);
  });

  it('turns create, update and delete into events', async () => {
    let mark = rec.mark();
    let t = Date.now();
    const created = await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-a'), connector('team-a', 'c3')), 'create c3');
    const up = await rec.wait(mark, 'upsert', 'SsoConnector', 'team-a', 'c3');
    note(`create -> upsert ${up.at - t} ms`);
    assert.equal(up.event.object.metadata.uid, created.metadata.uid);
    assert.equal(up.event.object.metadata.generation, 1);

    mark = rec.mark();
    t = Date.now();
    await ok(
      kubeRequest(cp, 'PATCH', crPath('ssoconnectors', 'team-a', 'c3'), { spec: { displayName: 'Renamed' } }, 'application/merge-patch+json'),
      'patch c3',
    );
    const changed = await rec.wait(mark, 'upsert', 'SsoConnector', 'team-a', 'c3');
    note(`update -> upsert ${changed.at - t} ms`);
    assert.equal((changed.event.object.spec as any).displayName, 'Renamed');
    assert.equal(changed.event.object.metadata.generation, 2);

    // A status write changes only the resourceVersion: no event, but get() is current.
    mark = rec.mark();
    const statusWrite = await ok(
      kubeRequest(cp, 'PATCH', `${crPath('ssoconnectors', 'team-a', 'c3')}/status`, { status: { observedGeneration: 2 } }, 'application/merge-patch+json'),
      'status c3',
    );
    const deadline = Date.now() + 5000;
    while (store.get('SsoConnector', 'team-a', 'c3')?.metadata.resourceVersion !== statusWrite.metadata.resourceVersion) {
      assert.ok(Date.now() < deadline, 'the status write reached the store');
      await sleep(10);
    }
    assert.deepEqual(rec.since(mark, 'SsoConnector', 'team-a', 'c3'), []);

    mark = rec.mark();
    t = Date.now();
    await ok(kubeRequest(cp, 'DELETE', crPath('ssoconnectors', 'team-a', 'c3')), 'delete c3');
    const gone = await rec.wait(mark, 'delete', 'SsoConnector', 'team-a', 'c3');
    note(`delete -> delete ${gone.at - t} ms`);
    assert.equal(store.get('SsoConnector', 'team-a', 'c3'), undefined);
  });

  it('sees only the namespaces it is told to watch', async () => {
    const onlyB = newStore({ kubeConfig: kubeConfigFor(cp), namespaces: ['team-b'] });
    const recB = recorder(onlyB);
    await onlyB.start();
    assert.deepEqual(onlyB.list('SsoConnector').map((c) => `${c.metadata.namespace}/${c.metadata.name}`), ['team-b/c2']);
    assert.deepEqual(onlyB.list('UserBinding'), []);
    const markAll = rec.mark();
    const markB = recB.mark();
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-a'), connector('team-a', 'c4')), 'create c4');
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-b'), connector('team-b', 'c5')), 'create c5');
    await recB.wait(markB, 'upsert', 'SsoConnector', 'team-b', 'c5');
    // The all-namespaces store saw c4 before c5, so onlyB had its chance to see it too.
    await rec.wait(markAll, 'upsert', 'SsoConnector', 'team-b', 'c5');
    await rec.wait(markAll, 'upsert', 'SsoConnector', 'team-a', 'c4');
    assert.deepEqual(recB.since(markB, 'SsoConnector', 'team-a', 'c4'), []);
    assert.equal(onlyB.get('SsoConnector', 'team-a', 'c4'), undefined);
    await onlyB.stop();
  });

  it('holds Secret data only for Secrets in the interest set', async () => {
    await ok(kubeRequest(cp, 'POST', secretPath('team-a'), { metadata: { name: 'idp-cert' }, data: { 'tls.crt': b64('cert-1') } }), 'secret');
    await ok(kubeRequest(cp, 'POST', secretPath('team-a'), { metadata: { name: 'unrelated' }, data: { password: b64('hunter2') } }), 'secret');
    const entry = (key: string) => store.debugCache('Secret').find((e) => e.key === key);
    const deadline = Date.now() + 5000;
    while (!entry('team-a/idp-cert') || !entry('team-a/unrelated')) {
      assert.ok(Date.now() < deadline, 'the metadata watch saw both Secrets');
      await sleep(10);
    }
    assert.equal(entry('team-a/idp-cert')?.hasData, false);
    assert.equal(entry('team-a/unrelated')?.hasData, false);
    assert.equal(store.get('Secret', 'team-a', 'idp-cert'), undefined);

    let mark = rec.mark();
    await store.changeInterest('Secret', ['team-a/idp-cert'], []);
    // Readable as soon as changeInterest resolves, and announced.
    assert.equal(store.get('Secret', 'team-a', 'idp-cert')?.data?.['tls.crt'], b64('cert-1'));
    const gained = await rec.wait(mark, 'upsert', 'Secret', 'team-a', 'idp-cert', 1000);
    assert.equal(gained.event.object.data?.['tls.crt'], b64('cert-1'));
    assert.equal(entry('team-a/idp-cert')?.hasData, true);
    assert.equal(entry('team-a/unrelated')?.hasData, false);
    assert.equal(store.get('Secret', 'team-a', 'unrelated'), undefined);
    assert.deepEqual(store.list('Secret').map((s) => s.metadata.name), ['idp-cert']);

    // A change to the unreferenced Secret is not an event; one to the referenced one is, within 1 s.
    mark = rec.mark();
    await ok(kubeRequest(cp, 'PUT', secretPath('team-a', 'unrelated'), { metadata: { name: 'unrelated' }, data: { password: b64('changed') } }), 'put');
    const t = Date.now();
    await ok(kubeRequest(cp, 'PUT', secretPath('team-a', 'idp-cert'), { metadata: { name: 'idp-cert' }, data: { 'tls.crt': b64('cert-2') } }), 'put');
    const rotated = await rec.wait(mark, 'upsert', 'Secret', 'team-a', 'idp-cert', 1000);
    note(`referenced Secret change -> upsert ${rotated.at - t} ms`);
    assert.equal(rotated.event.object.data?.['tls.crt'], b64('cert-2'));
    assert.deepEqual(rec.since(mark, 'Secret', 'team-a', 'unrelated'), []);
    assert.equal(entry('team-a/unrelated')?.hasData, false);

    // Losing interest drops the data.
    mark = rec.mark();
    await store.changeInterest('Secret', [], ['team-a/idp-cert']);
    assert.equal(entry('team-a/idp-cert')?.hasData, false);
    assert.equal(store.get('Secret', 'team-a', 'idp-cert'), undefined);
    await rec.wait(mark, 'delete', 'Secret', 'team-a', 'idp-cert', 1000);

    // Deleting a referenced Secret is a delete event.
    await store.changeInterest('Secret', ['team-a/idp-cert'], []);
    mark = rec.mark();
    const td = Date.now();
    await ok(kubeRequest(cp, 'DELETE', secretPath('team-a', 'idp-cert')), 'delete secret');
    const deleted = await rec.wait(mark, 'delete', 'Secret', 'team-a', 'idp-cert', 1000);
    note(`referenced Secret delete -> delete ${deleted.at - td} ms`);
    assert.equal(entry('team-a/idp-cert'), undefined);

    // A referenced Secret that appears later is read when it appears.
    mark = rec.mark();
    await store.changeInterest('Secret', ['team-a/idp-cert'], []);
    await ok(kubeRequest(cp, 'POST', secretPath('team-a'), { metadata: { name: 'idp-cert' }, data: { 'tls.crt': b64('cert-3') } }), 'secret');
    const appeared = await rec.wait(mark, 'upsert', 'Secret', 'team-a', 'idp-cert', 1000);
    assert.equal(appeared.event.object.data?.['tls.crt'], b64('cert-3'));
  });

  it('does not serve a custom resource that admission refuses, and reports it', async () => {
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-b'), connector('team-b', 'legacy', 'legacy setup')), 'create legacy');
    // A rule the CRD did not have when the object was stored.
    const stricter: Admit = (doc) => {
      const d = doc as any;
      if (d?.kind === 'SsoConnector' && /legacy/.test(d.spec?.displayName ?? '')) {
        return { ok: false, errors: [{ path: '$.spec.displayName', reason: 'FieldValueInvalid', message: 'legacy connectors are no longer allowed' }] };
      }
      return (admit as Admit)(doc);
    };
    const strict = newStore({ kubeConfig: kubeConfigFor(cp), namespaces: ['team-b'], admit: stricter });
    const recS = recorder(strict);
    await strict.start();
    assert.equal(strict.get('SsoConnector', 'team-b', 'legacy'), undefined);
    assert.deepEqual(strict.list('SsoConnector').map((c) => c.metadata.name), ['c2', 'c5']);
    const problems = strict.problems();
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.deepEqual(problems[0]?.object, { kind: 'SsoConnector', namespace: 'team-b', name: 'legacy' });
    assert.equal(problems[0]?.path, '$.spec.displayName');
    assert.equal(problems[0]?.reason, 'FieldValueInvalid');

    // Repaired: served again, problem gone.
    const mark = recS.mark();
    await ok(
      kubeRequest(cp, 'PATCH', crPath('ssoconnectors', 'team-b', 'legacy'), { spec: { displayName: 'Modern' } }, 'application/merge-patch+json'),
      'fix legacy',
    );
    await recS.wait(mark, 'upsert', 'SsoConnector', 'team-b', 'legacy');
    assert.deepEqual(strict.problems(), []);
    await strict.stop();
  });

  it('recovers by itself from an apiserver restart; staleness grows during the outage and drops after', async () => {
    const samples: number[] = [];
    // Every informer's staleness from the moment the apiserver is back: one
    // that recovers at once and then sees nothing is fresh only briefly.
    const resources = ['ssoconnectors', 'userbindings', 'secrets', 'configmaps'];
    const freshest: Record<string, number> = {};
    let upAt = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await stalenessOf(metrics);
        samples.push(now.ssoconnectors ?? -1);
        if (Date.now() >= upAt) for (const r of resources) freshest[r] = Math.min(freshest[r] ?? Infinity, now[r] ?? Infinity);
        await sleep(100);
      }
    })();
    const t0 = Date.now();
    await cp.restartApiserver();
    const up = Date.now();
    upAt = up;
    const mark = rec.mark();
    await ok(kubeRequest(cp, 'POST', crPath('ssoconnectors', 'team-a'), connector('team-a', 'after-restart')), 'create after restart');
    const seen = await rec.wait(mark, 'upsert', 'SsoConnector', 'team-a', 'after-restart', 30_000);
    sampling = false;
    await sampler;
    note(`apiserver restart took ${up - t0} ms; store saw a new object ${seen.at - up} ms after /readyz`);
    const reasons = [...new Set(logs.filter((l) => l.msg === 'informer restarting').map((l) => String(l.fields.reason)))];
    const downMs = Math.max(...logs.filter((l) => l.msg === 'informer recovered').map((l) => Number(l.fields.downMs)));
    const relists = logs.filter((l) => l.msg.includes('(410); relisting')).length;
    const restarts = logs.filter((l) => l.msg === 'informer restarting').length;
    note(`informers were down for up to ${downMs} ms; ${restarts} restart log lines, ${relists} relists after 410; reasons: ${reasons.join(' | ')}`);
    const peak = Math.max(...samples);
    note(`staleness peak during the outage ${peak.toFixed(1)} s`);
    assert.ok(peak >= 3, `staleness peaked at ${peak} s during a ${up - t0} ms outage`);
    // Each informer retries on its own backoff (up to 6.4 s into an 8 s outage),
    // so the others may come back a few seconds after the connectors' one; and
    // in a quiet cluster staleness grows again until the next bookmark. So:
    // each one was fresh (under 2 s) at some moment after the restart.
    const recoveredBy = Date.now() + 20_000;
    for (;;) {
      const now = await stalenessOf(metrics);
      for (const r of resources) freshest[r] = Math.min(freshest[r] ?? Infinity, now[r] ?? Infinity);
      if (resources.every((r) => freshest[r]! < 2) || Date.now() > recoveredBy) break;
      await sleep(100);
    }
    note(`every informer fresh again ${Date.now() - up} ms after /readyz`);
    for (const resource of resources) {
      assert.ok(freshest[resource]! < 2, `${resource} staleness after recovery: at least ${freshest[resource]} s`);
    }
    assert.ok(logs.some((l) => l.msg === 'informer restarting' && l.level === 'warn'), 'the restart was logged');
    assert.ok(logs.some((l) => l.msg === 'informer recovered'), 'the recovery was logged');
  });

  it('relists after 410 Gone and emits the deletes that happened while the watch was broken', async () => {
    const ns = 'gone-test';
    await createNamespaces(cpNoCache, ns);
    await ok(kubeRequest(cpNoCache, 'POST', crPath('ssoconnectors', ns), connector(ns, 'doomed')), 'create doomed');
    await ok(kubeRequest(cpNoCache, 'POST', crPath('ssoconnectors', ns), connector(ns, 'survivor')), 'create survivor');
    await ok(kubeRequest(cpNoCache, 'POST', secretPath(ns), { metadata: { name: 'doomed-cert' }, data: { 'tls.crt': b64('x') } }), 'secret');
    const proxy = await cuttableProxy(cpNoCache.server);
    const goneLogs: LogLine[] = [];
    const s = newStore({ kubeConfig: kubeConfigFor(cpNoCache, proxy.url), logger: captureLogger(goneLogs) });
    const r = recorder(s);
    try {
      await s.start();
      await s.changeInterest('Secret', [`${ns}/doomed-cert`], []);
      assert.ok(s.get('SsoConnector', ns, 'doomed'));
      assert.ok(s.get('Secret', ns, 'doomed-cert'));

      proxy.cut();
      await ok(kubeRequest(cpNoCache, 'DELETE', crPath('ssoconnectors', ns, 'doomed')), 'delete doomed');
      await ok(kubeRequest(cpNoCache, 'DELETE', secretPath(ns, 'doomed-cert')), 'delete secret');
      await compactEtcd(cpNoCache);
      const mark = r.mark();
      const t = Date.now();
      proxy.heal();
      const gone = await r.wait(mark, 'delete', 'SsoConnector', ns, 'doomed', 20_000);
      await r.wait(mark, 'delete', 'Secret', ns, 'doomed-cert', 20_000);
      note(`after compaction, the store relisted and emitted the delete ${gone.at - t} ms after the network healed`);
      assert.ok(
        goneLogs.some((l) => l.msg.includes('(410); relisting') && l.fields.resource === 'ssoconnectors'),
        `a 410 relist was logged: ${JSON.stringify(goneLogs.map((l) => l.msg))}`,
      );
      assert.ok(s.get('SsoConnector', ns, 'survivor'));
      assert.equal(s.get('SsoConnector', ns, 'doomed'), undefined);
      assert.deepEqual(r.since(mark, 'SsoConnector', ns, 'survivor'), []); // a relist of an unchanged object is no event
    } finally {
      await s.stop();
      await proxy.close();
    }
  });
});
