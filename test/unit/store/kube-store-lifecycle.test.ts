// KubernetesStore with a fake apiserver: admission of custom resources,
// metadata kept as the apiserver sent it, relist diffs, namespaces, sync
// timeout, stop, and the staleness metric.

import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import type { Admit } from '../../../src/store/admission.ts';
import { KubernetesStore, type KubernetesStoreOptions } from '../../../src/store/kubernetes-store.ts';
import type { StoreEvent } from '../../../src/store/types.ts';
import { fakeAdmit } from './fake-admit.ts';
import { FakeTransport, meta, until } from './kube-fakes.ts';

const GV = 'sso.operator.dev/v1alpha1';
const CONNECTORS = `/apis/${GV}/ssoconnectors`;
const ALL = [CONNECTORS, `/apis/${GV}/userbindings`, '/api/v1/secrets', '/api/v1/configmaps'];

/** Like the apiserver: an object's generation moves with every change of its spec, and only then. */
const generations = new Map<string, { spec: string; generation: number }>();
function generationOf(name: string, spec: Record<string, unknown>): number {
  const text = JSON.stringify(spec);
  const known = generations.get(name);
  const generation = known === undefined ? 1 : known.spec === text ? known.generation : known.generation + 1;
  generations.set(name, { spec: text, generation });
  return generation;
}

function connector(name: string, rv: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { apiVersion: GV, kind: 'SsoConnector', ...meta('a', name, rv, { generation: generationOf(name, spec), managedFields: [{ manager: 'x' }] }), spec, ...extra };
}

/** Adds a default, like the real admit, and refuses `displayName: legacy`. */
const strictAdmit: Admit = (doc) => {
  const d = structuredClone(doc) as { spec?: Record<string, unknown> };
  if (d.spec?.displayName === 'legacy') {
    return { ok: false, errors: [{ path: '$.spec.displayName', reason: 'FieldValueInvalid', message: 'legacy is no longer allowed' }] };
  }
  if (d.spec) d.spec.enabled ??= true;
  return fakeAdmit(d);
};

const stores: KubernetesStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.stop()));
});

function makeStore(transport: FakeTransport, options: Partial<KubernetesStoreOptions> = {}) {
  const store = new KubernetesStore({ kubeConfig: new KubeConfig(), admit: strictAdmit, transport, backoff: { initialMs: 5, maxMs: 20 }, ...options });
  stores.push(store);
  const events: StoreEvent[] = [];
  store.onChange((e) => events.push(e));
  return { store, events };
}

function emptyLists(transport: FakeTransport, paths = ALL) {
  for (const p of paths) transport.lists.set(p, () => ({ resourceVersion: '1', items: [] }));
}

const names = (events: StoreEvent[]) => events.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name}`);

describe('KubernetesStore (fake apiserver)', () => {
  it('serves custom resources with the apiserver metadata as sent and the admitted defaults', async () => {
    const transport = new FakeTransport();
    emptyLists(transport);
    transport.lists.set(CONNECTORS, () => ({
      resourceVersion: '10',
      items: [connector('c1', '7', { displayName: 'One' }, { status: { observedGeneration: 1 } })],
    }));
    const { store } = makeStore(transport);
    await store.start();
    const c1 = store.get('SsoConnector', 'a', 'c1');
    assert.deepEqual(c1, {
      apiVersion: GV,
      kind: 'SsoConnector',
      metadata: { name: 'c1', namespace: 'a', uid: 'uid-a-c1', generation: 1, resourceVersion: '7', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { displayName: 'One', enabled: true },
    });
    assert.ok(Object.isFrozen(c1) && Object.isFrozen(c1?.spec), 'served objects are frozen');
  });

  it('turns a change of resourceVersion alone (a status write) into no event', async () => {
    const transport = new FakeTransport();
    emptyLists(transport);
    transport.lists.set(CONNECTORS, () => ({ resourceVersion: '10', items: [connector('c1', '7', { displayName: 'One' })] }));
    const { store, events } = makeStore(transport);
    await store.start();
    events.length = 0;
    const watch = await transport.openWatch(CONNECTORS);
    watch.send('MODIFIED', connector('c1', '8', { displayName: 'One' }, { status: { observedGeneration: 1 } }));
    await until(() => store.get('SsoConnector', 'a', 'c1')?.metadata.resourceVersion === '8', 'the status echo');
    // The status is kept apart from the object, for the status writer's comparisons.
    assert.deepEqual(store.observedStatus('SsoConnector', 'a', 'c1'), { observedGeneration: 1 });
    assert.equal(store.get('SsoConnector', 'a', 'c1')?.status, undefined);
    watch.send('MODIFIED', connector('c1', '9', { displayName: 'Two' }));
    await until(() => events.length === 1, 'the real change');
    assert.equal(store.get('SsoConnector', 'a', 'c1')?.metadata.resourceVersion, '9');
    assert.deepEqual(names(events), ['upsert a/c1']);
    assert.equal(store.observedStatus('SsoConnector', 'a', 'c1'), undefined, 'the last version carried no status');
  });

  it('does not serve a refused custom resource, reports it with its identity, and serves it once fixed', async () => {
    const transport = new FakeTransport();
    emptyLists(transport);
    transport.lists.set(CONNECTORS, () => ({ resourceVersion: '10', items: [connector('old', '5', { displayName: 'legacy' }), connector('ok', '6', { displayName: 'fine' })] }));
    const { store, events } = makeStore(transport);
    await store.start();
    assert.equal(store.get('SsoConnector', 'a', 'old'), undefined);
    assert.deepEqual(store.list('SsoConnector').map((c) => c.metadata.name), ['ok']);
    assert.deepEqual(store.problems(), [
      {
        file: `/apis/${GV}/namespaces/a/ssoconnectors/old`,
        documentIndex: 0,
        path: '$.spec.displayName',
        reason: 'FieldValueInvalid',
        message: 'legacy is no longer allowed',
        object: { kind: 'SsoConnector', namespace: 'a', name: 'old' },
      },
    ]);
    // The refusal is announced as a delete, so a controller shows it as not ready.
    assert.deepEqual(names(events), ['delete a/old', 'upsert a/ok']);

    const watch = await transport.openWatch(CONNECTORS);
    events.length = 0;
    watch.send('MODIFIED', connector('old', '11', { displayName: 'modern' }));
    watch.send('MODIFIED', connector('ok', '12', { displayName: 'legacy' })); // now refused: served no more
    await until(() => events.length === 2, 'two events');
    assert.deepEqual(names(events), ['upsert a/old', 'delete a/ok']);
    assert.deepEqual(store.problems().map((p) => p.object?.name), ['ok']);
    assert.equal(store.get('SsoConnector', 'a', 'ok'), undefined);

    // Deleted while refused: the problem goes, and listeners hear of it.
    watch.send('DELETED', connector('ok', '13', { displayName: 'legacy' }));
    await until(() => events.length === 3, 'the delete');
    assert.deepEqual(store.problems(), []);
  });

  it('on a relist, emits deletes for what disappeared and nothing for what did not change', async () => {
    const transport = new FakeTransport();
    emptyLists(transport);
    let items = [connector('keep', '5', { displayName: 'k' }), connector('drop', '6', { displayName: 'd' })];
    transport.lists.set(CONNECTORS, () => ({ resourceVersion: '10', items }));
    const { store, events } = makeStore(transport);
    await store.start();
    events.length = 0;
    items = [connector('keep', '5', { displayName: 'k' }), connector('new', '20', { displayName: 'n' })];
    const watch = await transport.openWatch(CONNECTORS);
    watch.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
    await until(() => events.length === 2, 'the relist diff');
    assert.deepEqual(names(events).sort(), ['delete a/drop', 'upsert a/new']);
  });

  it('lists a background kind only once asked (whenSynced), after start() resolved; synced() does not wait for it', async () => {
    const transport = new FakeTransport();
    emptyLists(transport);
    const BINDINGS = `/apis/${GV}/userbindings`;
    transport.lists.set(BINDINGS, () => ({ resourceVersion: '3', items: [{ apiVersion: GV, kind: 'UserBinding', ...meta('a', 'b1', '2', { generation: 1 }), spec: { user: 'u@example.com', connectors: ['c'] } }] }));
    const { store, events } = makeStore(transport, { background: ['UserBinding'] });
    await store.start();
    assert.equal(store.synced(), true);
    assert.equal(transport.count('list', BINDINGS), 0, 'not listed before the caller asks');
    assert.equal(store.list('UserBinding').length, 0);
    await store.whenSynced('UserBinding');
    assert.equal(transport.count('list', BINDINGS), 1);
    assert.deepEqual(names(events), ['upsert a/b1'], 'its objects arrive as events');
    await transport.openWatch(BINDINGS);
  });

  it('watches each given namespace, never the whole cluster', async () => {
    const transport = new FakeTransport();
    for (const ns of ['a', 'b']) {
      emptyLists(transport, [`/apis/${GV}/namespaces/${ns}/ssoconnectors`, `/apis/${GV}/namespaces/${ns}/userbindings`, `/api/v1/namespaces/${ns}/secrets`, `/api/v1/namespaces/${ns}/configmaps`]);
    }
    const { store } = makeStore(transport, { namespaces: ['a', 'b', 'a'] });
    await store.start();
    const lists = transport.requests.filter((r) => r.method === 'list').map((r) => r.path.split('?')[0]);
    assert.equal(lists.length, 8);
    assert.ok(lists.every((p) => /\/namespaces\/(a|b)\//.test(p as string)), JSON.stringify(lists));
  });

  it('start() fails after the sync timeout naming the resource and the reason, and leaves nothing running', async () => {
    // Timers of the whole process: the test runner's own may end meanwhile, so "none left" is "no more than before".
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timers();
    const transport = new FakeTransport();
    emptyLists(transport, ALL.slice(1)); // no SsoConnector list: 404, as without the CRD
    const { store } = makeStore(transport, { syncTimeoutMs: 150 });
    await assert.rejects(store.start(), (err: Error) => {
      assert.match(err.message, /did not sync within 0\.15 s: ssoconnectors \(HTTP 404: the server could not find the requested resource\)/);
      assert.doesNotMatch(err.message, /userbindings/);
      return true;
    });
    assert.equal(store.synced(), false);
    await new Promise((r) => setImmediate(r));
    assert.ok(timers() <= baseline, `${timers()} timers, ${baseline} before`);
    await assert.rejects(store.start(), /cannot be started again/);
  });

  it('stop() closes every watch and clears every timer', async () => {
    // Timers of the whole process: the test runner's own may end meanwhile, so "none left" is "no more than before".
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timers();
    const transport = new FakeTransport();
    emptyLists(transport);
    transport.lists.set('/api/v1/secrets', () => ({ resourceVersion: '1', items: [meta('a', 's', '1')] }));
    transport.objects.set('/api/v1/namespaces/a/secrets/s', () => {
      throw new Error('ECONNRESET'); // keeps a retry timer pending
    });
    const { store } = makeStore(transport, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await store.start();
    await store.changeInterest('Secret', ['a/s'], []);
    for (const base of ALL) await transport.openWatch(base);
    assert.ok(timers() > baseline);
    await store.stop();
    assert.ok(transport.watches.every((w) => w.closed));
    await new Promise((r) => setImmediate(r));
    assert.ok(timers() <= baseline, `${timers()} timers, ${baseline} before`);
  });

  it('reports staleness per resource at scrape time, and stops reporting when stopped', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const transport = new FakeTransport();
    emptyLists(transport);
    const { store } = makeStore(transport, { metrics });
    await store.start();
    const read = async () => Object.fromEntries((await metrics.informerStaleness.get()).values.map((v) => [v.labels.resource, v.value]));
    const fresh = await read();
    assert.deepEqual(Object.keys(fresh).sort(), ['configmaps', 'secrets', 'ssoconnectors', 'userbindings']);
    await new Promise((r) => setTimeout(r, 120));
    const later = await read();
    for (const resource of Object.keys(fresh)) assert.ok((later[resource] as number) >= 0.1, `${resource}: ${later[resource]}`);
    const watch = await transport.openWatch(CONNECTORS);
    watch.send('BOOKMARK', { metadata: { name: '', resourceVersion: '5' } });
    await new Promise((r) => setTimeout(r, 10));
    const afterBookmark = await read();
    assert.ok((afterBookmark.ssoconnectors as number) < 0.1, `a bookmark is a sign of life: ${afterBookmark.ssoconnectors}`);
    assert.ok((afterBookmark.secrets as number) >= 0.1);
    assert.match(await metrics.registry.metrics(), /sso_informer_staleness_seconds\{resource="secrets"\}/);
    await store.stop();
    assert.deepEqual((await metrics.informerStaleness.get()).values, []);
  });
});
