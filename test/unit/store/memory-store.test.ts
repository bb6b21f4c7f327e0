import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import type { StoreEvent } from '../../../src/store/types.ts';
import { memoryLogger } from './helpers.ts';

const conn = (name: string, spec: unknown, namespace?: string) => ({
  apiVersion: 'sso.operator.dev/v1alpha1',
  kind: 'SsoConnector' as const,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  spec,
});

test('fills uid, generation, resourceVersion and creationTimestamp like an apiserver', async () => {
  const store = new MemoryStore({ now: () => Date.parse('2025-01-01T00:00:00Z') });
  await store.start();
  assert.equal(store.synced(), true);
  const a = store.upsert(conn('a', { protocol: 'SAML2' }));
  const b = store.upsert(conn('b', { protocol: 'SAML2' }, 'team'));
  assert.equal(a.metadata.namespace, 'default');
  assert.equal(a.metadata.generation, 1);
  assert.match(a.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.notEqual(a.metadata.uid, b.metadata.uid);
  // Same clock reading: later objects still get a later timestamp.
  assert.equal(a.metadata.creationTimestamp, '2025-01-01T00:00:00.000Z');
  assert.equal(b.metadata.creationTimestamp, '2025-01-01T00:00:00.001Z');
  assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));

  const a2 = store.upsert(conn('a', { protocol: 'OIDC' }));
  assert.equal(a2.metadata.generation, 2);
  assert.equal(a2.metadata.uid, a.metadata.uid);
  assert.equal(a2.metadata.creationTimestamp, a.metadata.creationTimestamp);
  assert.ok(Number(a2.metadata.resourceVersion) > Number(b.metadata.resourceVersion));

  // A label change is a new resourceVersion but the same generation.
  const a3 = store.upsert({ ...conn('a', { protocol: 'OIDC' }), metadata: { name: 'a', labels: { x: 'y' } } });
  assert.equal(a3.metadata.generation, 2);
  assert.notEqual(a3.metadata.resourceVersion, a2.metadata.resourceVersion);
});

test('an identical upsert emits nothing; changes and deletes emit once', () => {
  const store = new MemoryStore();
  const events: StoreEvent[] = [];
  store.onChange((e) => events.push(e));
  const first = store.upsert(conn('a', { protocol: 'SAML2', x: [1, 2] }));
  // Client-set server fields are ignored, as are key orders.
  store.upsert({ ...conn('a', { x: [1, 2], protocol: 'SAML2' }), metadata: { name: 'a', namespace: 'default', uid: 'forged', generation: 9 } });
  assert.equal(events.length, 1);
  assert.equal(store.get('SsoConnector', 'default', 'a')?.metadata.uid, first.metadata.uid);
  assert.equal(store.delete('SsoConnector', 'default', 'a')?.type, 'delete');
  assert.equal(store.delete('SsoConnector', 'default', 'a'), undefined);
  assert.deepEqual(
    events.map((e) => e.type),
    ['upsert', 'delete'],
  );
  assert.equal(store.get('SsoConnector', 'default', 'a'), undefined);
});

test('Secrets: stringData merged into data as base64, no generation', () => {
  const store = new MemoryStore();
  const s = store.upsert({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's' },
    data: { a: 'YQ==', b: 'b2xk' },
    stringData: { b: 'new', c: 'héllo' },
  });
  assert.deepEqual(s.data, { a: 'YQ==', b: Buffer.from('new').toString('base64'), c: Buffer.from('héllo').toString('base64') });
  assert.equal(s.stringData, undefined);
  assert.equal(s.metadata.generation, undefined);
  assert.throws(() => store.upsert({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: { a: 'not base64!' } }), /base64/);
});

test('stored objects are frozen and listed in namespace/name order', () => {
  const store = new MemoryStore({ objects: [conn('b', {}), conn('a', {}, 'z'), conn('a', {})] });
  const listed = store.list('SsoConnector');
  assert.deepEqual(
    listed.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['default/a', 'default/b', 'z/a'],
  );
  assert.deepEqual(
    store.list('SsoConnector', 'z').map((o) => o.metadata.name),
    ['a'],
  );
  assert.throws(() => {
    (listed[0]?.metadata as { name: string }).name = 'changed';
  }, TypeError);
});

test('a throwing listener is logged and does not stop the others', () => {
  const { logger, lines } = memoryLogger();
  const store = new MemoryStore({ logger });
  const seen: string[] = [];
  store.onChange(() => {
    throw new Error('boom');
  });
  const off = store.onChange((e) => seen.push(e.object.metadata.name));
  store.upsert(conn('a', {}));
  assert.deepEqual(seen, ['a']);
  assert.equal(lines.filter((l) => l.level === 'error' && l.msg === 'store listener failed').length, 1);
  off();
  store.upsert(conn('b', {}));
  assert.deepEqual(seen, ['a']);
});

test('setProblems is what problems() returns', () => {
  const store = new MemoryStore();
  assert.deepEqual(store.problems(), []);
  store.setProblems([{ file: 'a.yaml', documentIndex: 0, path: '$', reason: 'Invalid', message: 'x' }]);
  assert.equal(store.problems()[0]?.reason, 'Invalid');
});
