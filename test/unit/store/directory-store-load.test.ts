import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { DirectoryStore } from '../../../src/store/directory-store.ts';
import { binding, connector, memoryLogger, tempDir } from './helpers.ts';
import { fakeAdmit } from './fake-admit.ts';

async function load(files: Record<string, string>, extra: Partial<ConstructorParameters<typeof DirectoryStore>[0]> = {}) {
  const { dir, cleanup } = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const { logger, lines } = memoryLogger();
  const store = new DirectoryStore({ dir, admit: fakeAdmit, logger, ...extra });
  assert.equal(store.synced(), false);
  await store.start();
  assert.equal(store.synced(), true);
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

test('loads multi-document files, nested folders, defaults the namespace, skips dotfiles', async () => {
  const { store, done } = await load({
    'a.yaml': `${connector('one')}---\n${connector('two', '', 'team')}\n---\n`,
    'sub/deeper/b.yml': binding('alice', 'alice@example.com'),
    'c.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { k: 'v' } }),
    '.hidden.yaml': connector('hidden'),
    '.git/d.yaml': connector('ingit'),
    'notes.txt': connector('txt'),
  });
  onCleanup(done);
  assert.deepEqual(
    store.list('SsoConnector').map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['default/one', 'team/two'],
  );
  assert.equal(store.get('UserBinding', 'default', 'alice')?.metadata.generation, 1);
  assert.deepEqual(store.get('ConfigMap', 'default', 'cm')?.data, { k: 'v' });
  assert.deepEqual(store.problems(), []);
  const one = store.get('SsoConnector', 'default', 'one');
  const two = store.get('SsoConnector', 'team', 'two');
  assert.ok(one && two);
  assert.ok((one.metadata.creationTimestamp ?? '') < (two.metadata.creationTimestamp ?? ''), 'file order = creation order');
});

test('a refused document is a problem with file, index, path and identity; the rest loads', async () => {
  const { store, lines, done } = await load({
    'a.yaml': [connector('good1'), connector('broken', '  bad: 1'), connector('good2'), 'apiVersion: v1\nkind: Secret\nmetadata: {}\n'].join('---\n'),
    'z.yaml': 'kind: SsoConnector\nmetadata:\n  name: x\nspec: [1\n---\n' + connector('after-syntax-error'),
  });
  onCleanup(done);
  assert.deepEqual(
    store.list('SsoConnector').map((o) => o.metadata.name),
    ['after-syntax-error', 'good1', 'good2'],
  );
  const problems = store.problems();
  assert.deepEqual(
    problems.map((p) => [p.file, p.documentIndex, p.path, p.reason]),
    [
      ['a.yaml', 1, '$.spec.bad', 'FieldValueForbidden'],
      ['a.yaml', 3, '$.metadata.name', 'FieldValueRequired'],
      ['z.yaml', 0, '$', 'YAMLSyntaxError'],
    ],
  );
  assert.deepEqual(problems[0]?.object, { kind: 'SsoConnector', namespace: 'default', name: 'broken' });
  assert.deepEqual(problems[1]?.object, { kind: 'Secret' });
  assert.match(problems[2]?.message ?? '', /line \d+, column \d+/);
  assert.deepEqual(problems[2]?.object, { kind: 'SsoConnector', namespace: 'default', name: 'x' });
  // Each problem logged once, as a warning.
  assert.equal(lines.filter((l) => l.level === 'warn' && l.msg.startsWith('manifest refused')).length, 3);
  await store.reload();
  assert.equal(lines.filter((l) => l.level === 'warn').length, 3, 'a reload does not repeat them');
});

test('the same object twice: the first by path and index wins, the other is DuplicateObject', async () => {
  const { store, done } = await load({
    'b.yaml': connector('dup', '  description: from b'),
    'a.yaml': `${connector('other')}---\n${connector('dup', '  description: from a')}`,
  });
  onCleanup(done);
  assert.equal((store.get('SsoConnector', 'default', 'dup')?.spec as { description: string }).description, 'from a');
  const [p] = store.problems();
  assert.equal(p?.reason, 'DuplicateObject');
  assert.equal(p?.file, 'b.yaml');
  assert.equal(p?.documentIndex, 0);
  assert.match(p?.message ?? '', /already defined in a\.yaml \(document 1\)/);
  assert.deepEqual(p?.object, { kind: 'SsoConnector', namespace: 'default', name: 'dup' });
});

test('Secret stringData is merged into data as base64; bad base64 is refused', async () => {
  const { store, done } = await load({
    's.yaml':
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\ndata:\n  a: YQ==\nstringData:\n  b: hello\n---\n' +
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\ndata:\n  tls.crt: "%%%"\n',
  });
  onCleanup(done);
  const s = store.get('Secret', 'default', 's');
  assert.deepEqual(s?.data, { a: 'YQ==', b: Buffer.from('hello').toString('base64') });
  assert.equal(s?.stringData, undefined);
  assert.equal(s?.metadata.generation, undefined);
  assert.deepEqual(
    store.problems().map((p) => [p.documentIndex, p.path]),
    [[1, '$.data["tls.crt"]']],
  );
});

test('kind: List items are admitted one by one; unsupported kinds are problems', async () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' }, bad: true },
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } },
    ],
  };
  const { store, done } = await load({ 'l.yaml': JSON.stringify(list) });
  onCleanup(done);
  assert.deepEqual(
    store.list('ConfigMap').map((o) => o.metadata.name),
    ['one'],
  );
  assert.deepEqual(
    store.problems().map((p) => [p.documentIndex, p.path, p.reason]),
    [
      [0, '$.items[1].bad', 'FieldValueForbidden'],
      [0, '$.items[2].kind', 'UnsupportedKind'],
    ],
  );
});

test('overlay objects are present and win over a manifest of the same name', async () => {
  const overlay = [
    { apiVersion: 'v1', kind: 'Secret' as const, metadata: { name: 'demo-idp-cert', namespace: 'default' }, stringData: { 'tls.crt': 'PEM' } },
  ];
  const { store, done } = await load(
    { 's.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-idp-cert\nstringData:\n  tls.crt: mine\n' },
    { overlay },
  );
  onCleanup(done);
  assert.deepEqual(store.get('Secret', 'default', 'demo-idp-cert')?.data, { 'tls.crt': Buffer.from('PEM').toString('base64') });
  assert.equal(store.problems()[0]?.reason, 'DuplicateObject');
  assert.match(store.problems()[0]?.message ?? '', /provided by the operator/);
});

test('follows file links the way a mounted ConfigMap lays them out', async () => {
  const { dir, cleanup } = tempDir();
  mkdirSync(path.join(dir, '..2025_01_01'));
  writeFileSync(path.join(dir, '..2025_01_01', 'c.yaml'), connector('mounted'));
  symlinkSync('..2025_01_01', path.join(dir, '..data'));
  symlinkSync('..data/c.yaml', path.join(dir, 'c.yaml'));
  symlinkSync('.', path.join(dir, 'loop')); // a link loop must not hang
  const store = new DirectoryStore({ dir, admit: fakeAdmit });
  onCleanup(async () => {
    await store.stop();
    cleanup();
  });
  await store.start();
  assert.deepEqual(
    store.list('SsoConnector').map((o) => o.metadata.name),
    ['mounted'],
  );
  assert.deepEqual(store.problems(), []);
});

test('a missing folder loads nothing and says so', async () => {
  const { dir, cleanup } = tempDir();
  onCleanup(cleanup);
  const store = new DirectoryStore({ dir: path.join(dir, 'nope'), admit: fakeAdmit });
  await store.start();
  onCleanup(() => store.stop());
  assert.equal(store.synced(), true);
  assert.equal(store.list('SsoConnector').length, 0);
  assert.equal(store.problems()[0]?.reason, 'DirectoryMissing');
});

test('a reload parses and admits only the files whose content changed; duplicates across files are still found', async () => {
  const admitted: string[] = [];
  const countingAdmit: typeof fakeAdmit = (doc) => {
    admitted.push(String((doc as { metadata?: { name?: string } }).metadata?.name));
    return fakeAdmit(doc);
  };
  const many = Array.from({ length: 50 }, (_, i) => binding(`b${i}`, `u${i}@example.com`)).join('---\n');
  const { store, dir, done } = await load({ 'bindings.yaml': many, 'connector.yaml': connector('one') }, { admit: countingAdmit, rescanMs: 0, watch: false });
  onCleanup(done);
  assert.equal(admitted.length, 51);
  admitted.length = 0;

  writeFileSync(path.join(dir, 'connector.yaml'), connector('one', '  description: edited'));
  await store.reload();
  assert.deepEqual(admitted, ['one'], 'only the edited file');
  assert.match(JSON.stringify(store.get('SsoConnector', 'default', 'one')?.spec), /edited/);
  assert.equal(store.list('UserBinding').length, 50);

  // Rewritten with the same content: nothing admitted, nothing changed.
  writeFileSync(path.join(dir, 'bindings.yaml'), many);
  admitted.length = 0;
  await store.reload();
  assert.deepEqual(admitted, []);

  // A new file defining a binding the cached file also defines: still a duplicate.
  writeFileSync(path.join(dir, 'z-dup.yaml'), binding('b3', 'other@example.com'));
  await store.reload();
  assert.deepEqual(admitted, ['b3']);
  assert.ok(store.problems().some((p) => p.file === 'z-dup.yaml' && p.reason === 'DuplicateObject'));
  assert.equal((store.get('UserBinding', 'default', 'b3')?.spec as { user: string }).user, 'u3@example.com');

  // A file removed and restored is read again (its cached outcome was dropped with it).
  rmSync(path.join(dir, 'z-dup.yaml'));
  await store.reload();
  admitted.length = 0;
  writeFileSync(path.join(dir, 'z-dup.yaml'), binding('b3', 'other@example.com'));
  await store.reload();
  assert.deepEqual(admitted, ['b3']);
});
