import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { renderCrds } from '../../../src/api/index.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const TOOL = join(ROOT, 'tools', 'gen-crds.ts');
const NAMES = ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml'];

test('generation is deterministic and matches crds/', async () => {
  const a = renderCrds();
  const b = renderCrds();
  assert.deepEqual([...a.keys()].sort(), NAMES);
  for (const name of NAMES) {
    assert.equal(a.get(name), b.get(name));
    assert.equal(await readFile(join(ROOT, 'crds', name), 'utf8'), a.get(name), `crds/${name} is stale: run node tools/gen-crds.ts`);
  }
});

test('--check passes on a fresh copy and detects a hand edit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'crds-'));
  try {
    await run(process.execPath, [TOOL, '--dir', dir]);
    await run(process.execPath, [TOOL, '--check', '--dir', dir]);
    const file = join(dir, NAMES[0]!);
    await writeFile(file, (await readFile(file, 'utf8')).replace('default: 8h', 'default: 9h'));
    await assert.rejects(run(process.execPath, [TOOL, '--check', '--dir', dir]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /sso\.operator\.dev_ssoconnectors\.yaml: differs/);
      assert.match(err.stderr, /9h/);
      return true;
    });
    await rm(join(dir, NAMES[1]!));
    await cp(file, join(dir, 'stray.yaml'));
    await assert.rejects(run(process.execPath, [TOOL, '--check', '--dir', dir]), (err: { stderr: string }) =>
      /userbindings\.yaml: missing/.test(err.stderr) && /stray\.yaml/.test(err.stderr));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

type Node = Record<string, any>;

function* nodes(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  for (const [k, v] of Object.entries(node.properties ?? {})) yield* nodes(v as Node, `${path}.${k}`);
  if (node.items) yield* nodes(node.items, `${path}[*]`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') yield* nodes(node.additionalProperties, `${path}{*}`);
}

for (const name of NAMES) {
  test(`${name} parses and is a structural schema`, () => {
    const crd = parse(renderCrds().get(name)!);
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.equal(crd.spec.group, 'sso.operator.dev');
    const [version, ...others] = crd.spec.versions;
    assert.equal(others.length, 0);
    assert.equal(version.name, 'v1alpha1');
    assert.deepEqual(version.subresources, { status: {} });
    const root = version.schema.openAPIV3Schema;
    for (const [path, node] of nodes(root, '$')) {
      assert.ok(
        typeof node.type === 'string' || node['x-kubernetes-int-or-string'] || node['x-kubernetes-preserve-unknown-fields'],
        `${path} has no type`,
      );
      for (const bad of ['$id', '$schema', 'const', 'anyOf', 'oneOf', 'allOf', 'not', 'propertyNames', 'patternProperties', 'errorMessage', 'uniqueItems']) {
        assert.ok(!(bad in node), `${path} has ${bad}`);
      }
      assert.ok(typeof node.additionalProperties !== 'boolean', `${path} has additionalProperties: ${node.additionalProperties}`);
      for (const r of node['x-kubernetes-validations'] ?? []) assert.ok(r.rule && r.message, `${path}: rule without message`);
      // CEL cost limits: strings and lists under a rule need bounds.
      if (node['x-kubernetes-validations'] && node.type === 'string') assert.ok(node.maxLength, `${path}: unbounded string under CEL`);
    }
    assert.deepEqual(root.properties.metadata, { type: 'object' });
    const conditions = root.properties.status.properties.conditions;
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(conditions.items.required.sort(), ['lastTransitionTime', 'message', 'reason', 'status', 'type']);
  });
}

test('SsoConnector names, printer columns and defaults', () => {
  const crd = parse(renderCrds().get(NAMES[0]!)!);
  assert.deepEqual(crd.spec.names.shortNames, ['ssoc']);
  assert.equal(crd.spec.names.plural, 'ssoconnectors');
  const cols = crd.spec.versions[0].additionalPrinterColumns.map((c: Node) => [c.name, c.jsonPath, c.priority ?? 0]);
  assert.deepEqual(cols, [
    ['Reference', '.spec.reference', 0],
    ['Type', '.spec.protocol', 0],
    ['Issuer', '.spec.saml.idp.entityID', 1],
    ['Endpoint', '.spec.saml.idp.ssoURL', 1],
    ['OIDC Issuer', '.spec.oidc.issuer', 1],
    ['Provider', '.spec.oauth2.provider', 0],
    ['NameID', '.spec.saml.sp.nameIDPolicy.format', 1],
    ['Ready', '.status.conditions[?(@.type=="Ready")].status', 0],
    ['Age', '.metadata.creationTimestamp', 0],
  ]);
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
  assert.equal(spec.properties.enabled.default, true);
  assert.deepEqual(spec.properties.protocol.enum, ['SAML2', 'OIDC', 'OAuth2']);
  assert.equal(spec.properties.saml.properties.security.properties.maxResponseBytes.default, 262144);
  assert.equal(spec.properties.saml.properties.idp.properties.certificates.minItems, 1);
});

test('UserBinding printer columns', () => {
  const crd = parse(renderCrds().get(NAMES[1]!)!);
  assert.deepEqual(
    crd.spec.versions[0].additionalPrinterColumns.map((c: Node) => [c.name, c.jsonPath]),
    [
      ['User', '.spec.user'],
      ['Approval', '.spec.approval'],
      ['Phase', '.status.phase'],
      ['Age', '.metadata.creationTimestamp'],
    ],
  );
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
  assert.equal(spec.properties.approval.default, 'Approved');
  assert.deepEqual(spec.required, ['user', 'connectors']);
});
