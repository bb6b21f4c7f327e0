import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { DirectoryStore, type DirectoryStoreOptions } from '../../../src/store/directory-store.ts';
import type { StoreEvent } from '../../../src/store/types.ts';
import { collectUntil, connector, describe, memoryLogger, sleep, tempDir } from './helpers.ts';
import { fakeAdmit } from './fake-admit.ts';

async function started(files: Record<string, string>, options: Partial<DirectoryStoreOptions> = {}) {
  const { dir, cleanup } = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const { logger, lines } = memoryLogger();
  const store = new DirectoryStore({ dir, admit: fakeAdmit, logger, ...options });
  await store.start();
  return {
    store,
    dir,
    lines,
    done: async () => {
      await store.stop();
      cleanup();
    },
  };
}

const spec = (o: StoreEvent['object'] | undefined) => o?.spec as Record<string, unknown> | undefined;

test('an edit becomes one upsert with generation + 1', async () => {
  const { store, dir, done } = await started({ 'c.yaml': connector('a') + '---\n' + connector('b') });
  onCleanup(done);
  const before = store.get('SsoConnector', 'default', 'a');
  assert.equal(before?.metadata.generation, 1);

  const waiting = collectUntil(store, (events) => events.length >= 1);
  const t0 = performance.now();
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: changed') + '---\n' + connector('b'));
  const events = await waiting;
  const delay = performance.now() - t0;
  console.log(`reload delay: ${Math.round(delay)} ms`);
  assert.ok(delay < 10_000);
  await sleep(200); // nothing else should follow (b did not change)
  assert.deepEqual(events.map(describe), ['upsert SsoConnector default/a']);
  const after = events[0]?.object;
  assert.equal(after?.metadata.generation, 2);
  assert.equal(after?.metadata.uid, before?.metadata.uid);
  assert.equal(after?.metadata.creationTimestamp, before?.metadata.creationTimestamp);
  assert.ok(Number(after?.metadata.resourceVersion) > Number(before?.metadata.resourceVersion));
  assert.equal(spec(store.get('SsoConnector', 'default', 'a'))?.description, 'changed');
});

test('a save that changes nothing emits nothing', async () => {
  const text = connector('a');
  const { store, dir, done } = await started({ 'c.yaml': text });
  onCleanup(done);
  const events: StoreEvent[] = [];
  store.onChange((e) => events.push(e));
  writeFileSync(path.join(dir, 'c.yaml'), text);
  // Same content, other formatting and a comment: still the same object.
  writeFileSync(path.join(dir, 'c.yaml'), `# a comment\n${text.replace('protocol: SAML2', 'protocol: "SAML2"')}`);
  utimesSync(path.join(dir, 'c.yaml'), new Date(), new Date());
  await sleep(400);
  await store.reload();
  assert.deepEqual(events.map(describe), []);
});

test('deleting a file deletes its objects', async () => {
  const { store, dir, done } = await started({ 'c.yaml': connector('a') + '---\n' + connector('b'), 'keep.yaml': connector('k') });
  onCleanup(done);
  const waiting = collectUntil(store, (events) => events.length >= 2);
  rmSync(path.join(dir, 'c.yaml'));
  const events = await waiting;
  assert.deepEqual(events.map(describe).sort(), ['delete SsoConnector default/a', 'delete SsoConnector default/b']);
  assert.deepEqual(
    store.list('SsoConnector').map((o) => o.metadata.name),
    ['k'],
  );
});

test('valid -> invalid removes the object (fail closed) and lists why; repaired, it is the same object again', async () => {
  const { store, dir, done } = await started({ 'c.yaml': connector('a') + '---\n' + connector('b') });
  onCleanup(done);
  const original = store.get('SsoConnector', 'default', 'a');

  let waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  bad: true') + '---\n' + connector('b'));
  let events = await waiting;
  assert.deepEqual(events.map(describe), ['delete SsoConnector default/a']);
  assert.equal(store.get('SsoConnector', 'default', 'a'), undefined);
  assert.ok(store.get('SsoConnector', 'default', 'b'), 'the other document is untouched');
  assert.deepEqual(store.problems(), [
    {
      file: 'c.yaml',
      documentIndex: 0,
      path: '$.spec.bad',
      reason: 'FieldValueForbidden',
      message: 'field "bad" is not allowed',
      object: { kind: 'SsoConnector', namespace: 'default', name: 'a' },
    },
  ]);

  waiting = collectUntil(store, (evs) => evs.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: fixed') + '---\n' + connector('b'));
  events = await waiting;
  assert.deepEqual(events.map(describe), ['upsert SsoConnector default/a']);
  const repaired = events[0]?.object;
  assert.equal(repaired?.metadata.uid, original?.metadata.uid);
  assert.equal(repaired?.metadata.creationTimestamp, original?.metadata.creationTimestamp);
  assert.equal(repaired?.metadata.generation, 2);
  assert.deepEqual(store.problems(), []);
});

test('a YAML syntax error also fails closed', async () => {
  const { store, dir, done } = await started({ 'c.yaml': connector('a') });
  onCleanup(done);
  const waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a') + 'spec: [oops\n');
  assert.deepEqual((await waiting).map(describe), ['delete SsoConnector default/a']);
  const [p] = store.problems();
  assert.equal(p?.reason, 'YAMLSyntaxError');
  assert.match(p?.message ?? '', /line \d+, column \d+/);
});

test('new folders and rename-over saves are seen', async () => {
  const { store, dir, done } = await started({});
  onCleanup(done);
  let waiting = collectUntil(store, (events) => events.length >= 1);
  mkdirSync(path.join(dir, 'team', 'more'), { recursive: true });
  writeFileSync(path.join(dir, 'team', 'more', 'x.yaml'), connector('x'));
  assert.deepEqual((await waiting).map(describe), ['upsert SsoConnector default/x']);

  waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'team', 'more', '.x.yaml.swp'), connector('x', '  description: v2'));
  renameSync(path.join(dir, 'team', 'more', '.x.yaml.swp'), path.join(dir, 'team', 'more', 'x.yaml'));
  const [event] = await waiting;
  assert.equal(spec(event?.object)?.description, 'v2');
});

test('the folder disappearing deletes everything (DirectoryMissing); coming back restores it', async () => {
  const { dir, cleanup } = tempDir();
  onCleanup(cleanup);
  const manifests = path.join(dir, 'manifests');
  mkdirSync(manifests);
  writeFileSync(path.join(manifests, 'c.yaml'), connector('a') + '---\n' + connector('b'));
  const store = new DirectoryStore({ dir: manifests, admit: fakeAdmit, rescanMs: 100 });
  await store.start();
  onCleanup(() => store.stop());

  let waiting = collectUntil(store, (events) => events.length >= 2);
  rmSync(manifests, { recursive: true });
  assert.deepEqual((await waiting).map(describe).sort(), ['delete SsoConnector default/a', 'delete SsoConnector default/b']);
  assert.equal(store.problems()[0]?.reason, 'DirectoryMissing');

  waiting = collectUntil(store, (events) => events.length >= 1);
  mkdirSync(manifests);
  writeFileSync(path.join(manifests, 'c.yaml'), connector('a'));
  assert.deepEqual((await waiting).map(describe), ['upsert SsoConnector default/a']);
  assert.deepEqual(store.problems(), []);

  // ...and the new folder is watched again.
  waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(manifests, 'd.yaml'), connector('d'));
  assert.deepEqual((await waiting).map(describe), ['upsert SsoConnector default/d']);
});

test('without fs.watch the safety rescan still notices changes', async () => {
  const { store, dir, done } = await started({ 'c.yaml': connector('a') }, { watch: false, rescanMs: 100 });
  onCleanup(done);
  const waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: polled'));
  const [event] = await waiting;
  assert.equal(event?.object.metadata.generation, 2);
});

test('a throwing listener is logged and the store keeps working', async () => {
  const { store, dir, lines, done } = await started({ 'c.yaml': connector('a') });
  onCleanup(done);
  store.onChange(() => {
    throw new Error('listener bug');
  });
  let waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: one'));
  await waiting;
  waiting = collectUntil(store, (events) => events.length >= 1);
  writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: two'));
  const [event] = await waiting;
  assert.equal(event?.object.metadata.generation, 3);
  assert.equal(lines.filter((l) => l.level === 'error' && l.msg === 'store listener failed').length, 2);
});
