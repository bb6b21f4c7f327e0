// Secret data only for referenced Secrets, through KubernetesStore with a
// fake apiserver: what is requested, what is held, which events go out.

import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesStore } from '../../../src/store/kubernetes-store.ts';
import { ACCEPT_METADATA, ACCEPT_METADATA_LIST } from '../../../src/store/kube-resources.ts';
import { KubeHttpError } from '../../../src/store/kube-transport.ts';
import type { StoreEvent } from '../../../src/store/types.ts';
import { fakeAdmit } from './fake-admit.ts';
import { FakeTransport, meta, until } from './kube-fakes.ts';

const SECRETS = '/api/v1/secrets';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function secret(ns: string, name: string, rv: string, value: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    ...meta(ns, name, rv, {
      managedFields: [{ manager: 'kubectl' }],
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"data":{"v":"${value}"}}`, team: 'a' },
    }),
    data: { v: b64(value) },
  };
}

const stores: KubernetesStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.stop()));
});

async function started(secrets: ReturnType<typeof meta>[] = []) {
  const transport = new FakeTransport();
  for (const base of ['/apis/sso.operator.dev/v1alpha1/ssoconnectors', '/apis/sso.operator.dev/v1alpha1/userbindings', '/api/v1/configmaps']) {
    transport.lists.set(base, () => ({ resourceVersion: '1', items: [] }));
  }
  transport.lists.set(SECRETS, () => ({ resourceVersion: '100', items: secrets }));
  const store = new KubernetesStore({ kubeConfig: new KubeConfig(), admit: fakeAdmit, transport, backoff: { initialMs: 5, maxMs: 20 } });
  stores.push(store);
  const events: StoreEvent[] = [];
  store.onChange((e) => events.push(e));
  await store.start();
  const watch = await transport.openWatch(SECRETS);
  return { transport, store, events, watch };
}

const gets = (t: FakeTransport) => t.requests.filter((r) => r.method === 'get').map((r) => r.path);
const names = (events: StoreEvent[]) => events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.namespace}/${e.object.metadata.name}`);

describe('KubernetesStore: Secret data only for referenced Secrets', () => {
  it('lists and watches Secrets as metadata only and reads none without interest', async () => {
    const { transport, store, watch } = await started([meta('a', 's1', '90'), meta('a', 's2', '91')]);
    const list = transport.requests.find((r) => r.method === 'list' && r.path.startsWith(`${SECRETS}?`));
    assert.equal(list?.accept, ACCEPT_METADATA_LIST);
    assert.equal(watch.accept, ACCEPT_METADATA);
    watch.send('MODIFIED', meta('a', 's1', '92'));
    await until(() => store.debugCache().find((e) => e.key === 'a/s1')?.resourceVersion === '92', 'the new version');
    assert.deepEqual(gets(transport), []);
    assert.deepEqual(store.debugCache(), [
      { key: 'a/s1', resourceVersion: '92', interested: false, hasData: false },
      { key: 'a/s2', resourceVersion: '91', interested: false, hasData: false },
    ]);
    assert.deepEqual(store.list('Secret'), []);
  });

  it('changeInterest: reads what is added, drops what is removed, and waits only for what it is asked to', async () => {
    const { transport, store, events } = await started([meta('a', 's1', '90'), meta('a', 's2', '91'), meta('a', 's3', '92')]);
    transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => secret('a', 's1', '90', 'one'));
    transport.objects.set('/api/v1/namespaces/a/secrets/s2', () => secret('a', 's2', '91', 'two'));
    transport.objects.set('/api/v1/namespaces/a/secrets/s3', () => secret('a', 's3', '92', 'three'));
    await store.changeInterest('Secret', ['a/s1', 'a/missing'], []);
    assert.equal(store.get('Secret', 'a', 's1')?.data?.v, b64('one'), 'readable once it resolves');
    assert.deepEqual(gets(transport), ['/api/v1/namespaces/a/secrets/s1']);
    // Added without waiting for it: read all the same.
    await store.changeInterest('Secret', ['a/s2', 'a/s3'], [], ['a/s3']);
    assert.equal(store.get('Secret', 'a', 's3')?.data?.v, b64('three'));
    await until(() => store.get('Secret', 'a', 's2') !== undefined, 'a/s2 read too');
    // Asked again for what is held: no second read.
    await store.changeInterest('Secret', ['a/s1'], [], ['a/s1']);
    assert.equal(gets(transport).filter((p) => p.endsWith('/s1')).length, 1);
    // Removed: its data goes, and listeners hear of it; the others stay.
    await store.changeInterest('Secret', [], ['a/s1', 'a/not-held']);
    assert.equal(store.get('Secret', 'a', 's1'), undefined);
    assert.equal(store.get('Secret', 'a', 's2')?.data?.v, b64('two'));
    // (a/s2 and a/s3 are read in parallel: either may be announced first.)
    assert.deepEqual([...names(events)].sort(), ['delete Secret a/s1', 'upsert Secret a/s1', 'upsert Secret a/s2', 'upsert Secret a/s3']);
    assert.equal(names(events).at(-1), 'delete Secret a/s1');
    assert.deepEqual(
      store.debugCache().map((e) => `${e.key} ${e.interested} ${e.hasData}`),
      ['a/s1 false false', 'a/s2 true true', 'a/s3 true true'],
    );
  });

  it('a Secret wanted again while the read begun for it before is ending is read again, whenever that falls', async () => {
    // The interleaving: a read runs; the key is dropped; the read ends and
    // stores nothing (unwanted); the key is wanted again before the read is
    // done with. For each number of microtasks between the end of the GET and
    // the new interest, the Secret must end up held.
    for (let ticks = 0; ticks <= 8; ticks++) {
      const { transport, store } = await started([meta('a', 's1', '90')]);
      transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => secret('a', 's1', '90', 'one'));
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      let began = 0;
      const get = transport.getJSON.bind(transport);
      transport.getJSON = async (path, options) => {
        if (path.endsWith('/secrets/s1') && began++ === 0) await gate;
        return get(path, options);
      };
      void store.changeInterest('Secret', ['a/s1'], [], []);
      await until(() => began > 0, 'the GET');
      await store.changeInterest('Secret', [], ['a/s1']);
      open();
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      await store.changeInterest('Secret', ['a/s1'], [], ['a/s1']);
      await until(() => store.get('Secret', 'a', 's1')?.data?.v === b64('one'), `held again (${ticks} microtasks)`);
      await store.stop();
    }
  });

  it('reads a Secret when interest is gained, announces it, and keeps no second copy of its data', async () => {
    const { transport, store, events } = await started([meta('a', 's1', '90'), meta('a', 's2', '91')]);
    transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => secret('a', 's1', '90', 'one'));
    await store.changeInterest('Secret', ['a/s1', 'a/missing'], []);
    assert.deepEqual(gets(transport), ['/api/v1/namespaces/a/secrets/s1']);
    const s1 = store.get('Secret', 'a', 's1');
    assert.equal(s1?.data?.v, b64('one'));
    assert.equal(s1?.metadata.uid, 'uid-a-s1');
    assert.equal(s1?.metadata.resourceVersion, '90');
    assert.deepEqual(s1?.metadata.annotations, { team: 'a' }, 'last-applied (a copy of the data) is dropped');
    assert.equal((s1?.metadata as unknown as Record<string, unknown>).managedFields, undefined);
    assert.deepEqual(names(events), ['upsert Secret a/s1']);
    assert.deepEqual(
      store.debugCache().map((e) => [e.key, e.hasData]),
      [['a/s1', true], ['a/s2', false]],
    );
  });

  it('rereads a referenced Secret when its resourceVersion changes, and only then', async () => {
    const { transport, store, events, watch } = await started([meta('a', 's1', '90')]);
    let value = 'one';
    let rv = '90';
    transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => secret('a', 's1', rv, value));
    await store.changeInterest('Secret', ['a/s1'], []);
    await store.changeInterest('Secret', ['a/s1'], []); // wanted already: no second read
    assert.equal(gets(transport).length, 1);
    value = 'two';
    rv = '95';
    watch.send('MODIFIED', meta('a', 's1', '95'));
    await until(() => events.length === 2, 'the second upsert');
    assert.equal(events[1]?.object.data?.v, b64('two'));
    assert.equal(gets(transport).length, 2);
    watch.send('BOOKMARK', { metadata: { name: '', resourceVersion: '99' } });
    watch.send('MODIFIED', meta('a', 's1', '95')); // the same version again (a relist would do this)
    watch.send('ADDED', meta('a', 'other', '96'));
    await until(() => store.debugCache().length === 2, 'the other Secret');
    assert.equal(gets(transport).length, 2);
    assert.equal(events.length, 2);
  });

  it('drops the data and announces a delete when interest is lost', async () => {
    const { transport, store, events } = await started([meta('a', 's1', '90')]);
    transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => secret('a', 's1', '90', 'one'));
    await store.changeInterest('Secret', ['a/s1'], []);
    await store.changeInterest('Secret', [], ['a/s1']);
    assert.equal(store.get('Secret', 'a', 's1'), undefined);
    assert.deepEqual(store.debugCache(), [{ key: 'a/s1', resourceVersion: '90', interested: false, hasData: false }]);
    assert.deepEqual(names(events), ['upsert Secret a/s1', 'delete Secret a/s1']);
  });

  it('reads a referenced Secret that appears later, and emits a delete when it goes', async () => {
    const { transport, store, events, watch } = await started();
    await store.changeInterest('Secret', ['a/late'], []);
    assert.deepEqual(gets(transport), []);
    transport.objects.set('/api/v1/namespaces/a/secrets/late', () => secret('a', 'late', '101', 'v'));
    watch.send('ADDED', meta('a', 'late', '101'));
    await until(() => events.length === 1, 'the upsert');
    assert.equal(store.get('Secret', 'a', 'late')?.data?.v, b64('v'));
    watch.send('DELETED', meta('a', 'late', '102'));
    await until(() => events.length === 2, 'the delete');
    assert.deepEqual(names(events), ['upsert Secret a/late', 'delete Secret a/late']);
    assert.deepEqual(store.debugCache(), []);
  });

  it('retries a failed read with backoff, without blocking changeInterest', async () => {
    const { transport, store, events } = await started([meta('a', 's1', '90')]);
    let failures = 2;
    transport.objects.set('/api/v1/namespaces/a/secrets/s1', () => {
      if (failures-- > 0) throw new KubeHttpError(503, undefined, 'HTTP 503: unavailable');
      return secret('a', 's1', '90', 'one');
    });
    await store.changeInterest('Secret', ['a/s1'], []);
    assert.equal(store.get('Secret', 'a', 's1'), undefined);
    await until(() => events.length === 1, 'the read after retries');
    assert.equal(gets(transport).length, 3);
  });

  it('a Secret deleted between the watch event and the read is not served', async () => {
    const { transport, store, events } = await started([meta('a', 's1', '90')]);
    await store.changeInterest('Secret', ['a/s1'], []); // no object behind the path: 404
    assert.equal(store.get('Secret', 'a', 's1'), undefined);
    assert.deepEqual(events, []);
    assert.equal(gets(transport).length, 1);
  });
  it('reads 100 newly referenced Secrets in parallel, never more than 16 at once', async () => {
    const metas = Array.from({ length: 100 }, (_, i) => meta('a', `s${i}`, String(200 + i)));
    const { transport, store } = await started(metas);
    let inFlight = 0;
    let most = 0;
    const get = transport.getJSON.bind(transport);
    transport.getJSON = async (path, options) => {
      if (path.includes('?')) return get(path, options);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return get(path, options);
    };
    for (let i = 0; i < 100; i++) transport.objects.set(`/api/v1/namespaces/a/secrets/s${i}`, () => secret('a', `s${i}`, String(200 + i), `v${i}`));
    await store.changeInterest('Secret', metas.map((m) => `a/${m.metadata.name}`), []);
    assert.equal(store.debugCache().filter((e) => e.hasData).length, 100, 'every one read before changeInterest resolved');
    assert.ok(most > 1, `read in parallel (at most ${most} at once)`);
    assert.ok(most <= 16, `${most} reads at once`);
    // Asked again with the same set: nothing is read twice.
    const before = gets(transport).length;
    await store.changeInterest('Secret', metas.map((m) => `a/${m.metadata.name}`), []);
    assert.equal(gets(transport).length, before);
  });
});
