import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { parseManifests } from '../../../src/store/parse-manifests.ts';

test('splits multi-document files and drops empty documents', () => {
  const { documents, problems } = parseManifests('a.yaml', '---\na: 1\n---\n# only a comment\n---\nb: 2\n---\n');
  assert.deepEqual(problems, []);
  assert.deepEqual(
    documents.map((d) => [d.documentIndex, d.path, d.value]),
    [
      [0, '$', { a: 1 }],
      [2, '$', { b: 2 }],
    ],
  );
});

test('a syntax error names line and column and spares the other documents', () => {
  const { documents, problems } = parseManifests('x/b.yml', 'a: 1\n---\nkind: Secret\nmetadata:\n  name: s\nb: [1\n---\nc: 3\n');
  assert.deepEqual(
    documents.map((d) => d.value),
    [{ a: 1 }, { c: 3 }],
  );
  assert.equal(problems.length, 1);
  const [p] = problems;
  assert.equal(p?.file, 'x/b.yml');
  assert.equal(p?.documentIndex, 1);
  assert.equal(p?.reason, 'YAMLSyntaxError');
  assert.match(p?.message ?? '', /at line 7, column 1/);
  assert.doesNotMatch(p?.message ?? '', /\n/);
  assert.deepEqual(p?.object, { kind: 'Secret', name: 's', namespace: 'default' });
});

test('duplicate keys and unresolved aliases are syntax errors', () => {
  const { problems } = parseManifests('c.yaml', 'a: 1\na: 2\n---\nb: *nope\n');
  assert.deepEqual(
    problems.map((p) => [p.documentIndex, p.reason]),
    [
      [0, 'YAMLSyntaxError'],
      [1, 'YAMLSyntaxError'],
    ],
  );
  assert.match(problems[0]?.message ?? '', /line 2, column 1/);
});

test('expands kind: List into items with their own paths', () => {
  const { documents, problems } = parseManifests('l.yaml', 'x: 0\n---\napiVersion: v1\nkind: List\nitems:\n- {k: 1}\n- {k: 2}\n');
  assert.deepEqual(problems, []);
  assert.deepEqual(
    documents.map((d) => [d.documentIndex, d.path, d.value]),
    [
      [0, '$', { x: 0 }],
      [1, '$.items[0]', { k: 1 }],
      [1, '$.items[1]', { k: 2 }],
    ],
  );
  const broken = parseManifests('l.yaml', 'kind: List\nitems: 3\n');
  assert.equal(broken.problems[0]?.path, '$.items');
});

test('values JSON cannot hold are refused with their path', () => {
  const { documents, problems } = parseManifests('v.yaml', 'kind: Secret\ndata:\n  x: !!binary aGVsbG8=\n---\nn: .inf\n---\nok: true\n');
  assert.deepEqual(
    problems.map((p) => [p.documentIndex, p.path, p.reason]),
    [
      [0, '$.data.x', 'InvalidValue'],
      [1, '$.n', 'InvalidValue'],
    ],
  );
  assert.deepEqual(
    documents.map((d) => d.value),
    [{ ok: true }],
  );
});

test('JSON files parse too, and dates stay strings', () => {
  const { documents } = parseManifests('j.json', '{"kind": "ConfigMap", "data": {"when": "2024-01-01"}}');
  assert.deepEqual(documents[0]?.value, { kind: 'ConfigMap', data: { when: '2024-01-01' } });
  const yaml = parseManifests('d.yaml', 'when: 2024-01-01\nflag: yes\n');
  assert.deepEqual(yaml.documents[0]?.value, { when: '2024-01-01', flag: 'yes' });
});

test('__proto__ keys do not pollute prototypes', () => {
  const { documents } = parseManifests('p.yaml', '__proto__:\n  polluted: 1\n');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(documents[0]?.value), Object.prototype);
});
