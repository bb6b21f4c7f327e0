// A real standalone operator (directory store + controller + HTTP on
// loopback) fed one good connector and, per case, a bad document: every bad
// input is reported with a clear reason in /admin/status, fails closed, and
// never disturbs the good connector.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Problem {
  file: string;
  documentIndex: number;
  path: string;
  reason: string;
  message: string;
}
interface AdminStatus {
  problems: Problem[];
  resources: { kind: string; namespace: string; name: string; status: { phase?: string; conditions?: Condition[] } }[];
}

let pem = '';

function indent(text: string, spaces: number): string {
  return text.trim().split('\n').map((l) => ' '.repeat(spaces) + l).join('\n');
}

interface ConnectorYaml {
  specExtra?: string;
  samlExtra?: string;
  /** YAML of the `certificates:` list items, at 8 spaces (default: the inline IdP certificate). */
  certificates?: string;
  reference?: string;
}

function connectorYaml(name: string, o: ConnectorYaml = {}): string {
  const certificates = o.certificates ?? `        - pem: |\n${indent(pem, 12)}`;
  return [
    'apiVersion: sso.operator.dev/v1alpha1',
    'kind: SsoConnector',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  protocol: SAML2',
    ...(o.reference ? [`  reference: ${o.reference}`] : []),
    ...(o.specExtra ? [o.specExtra] : []),
    '  saml:',
    '    idp:',
    '      entityID: https://idp.example.test/metadata',
    '      ssoURL: https://idp.example.test/sso',
    '      certificates:',
    certificates,
    ...(o.samlExtra ? [o.samlExtra] : []),
    '',
  ].join('\n');
}

function bindingYaml(name: string, user: string, connector: string): string {
  return `apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata:\n  name: ${name}\nspec:\n  user: ${user}\n  connectors: [${connector}]\n`;
}

const GOOD = () => `${connectorYaml('good')}---\n${bindingYaml('alice', 'alice@example.com', 'good')}`;

async function status(op: TestOperator): Promise<AdminStatus> {
  const res = await fetch(`${op.adminURL}/admin/status`);
  assert.equal(res.status, 200);
  return (await res.json()) as AdminStatus;
}

function resource(s: AdminStatus, kind: string, name: string) {
  return s.resources.find((r) => r.kind === kind && r.namespace === 'default' && r.name === name);
}

function condition(s: AdminStatus, name: string, type: string): Condition | undefined {
  return resource(s, 'SsoConnector', name)?.status.conditions?.find((c) => c.type === type);
}

function problemOf(s: AdminStatus, file: string): Problem | undefined {
  return s.problems.find((p) => p.file === file);
}

async function httpStatus(op: TestOperator, path: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(`${op.baseURL}${path}`, { redirect: 'manual', ...init });
  return { status: res.status, body: await res.text() };
}

/** The good connector is Ready, its metadata served and its login answering. */
async function assertGoodServing(op: TestOperator): Promise<void> {
  const s = await status(op);
  const ready = condition(s, 'good', 'Ready');
  assert.equal(ready?.status, 'True', `good connector Ready: ${JSON.stringify(ready)}`);
  assert.equal(resource(s, 'UserBinding', 'alice')?.status.phase, 'Active');
  assert.ok(!s.problems.some((p) => p.file === 'good.yaml'), 'no problem reported for good.yaml');
  const metadata = await httpStatus(op, '/saml/default/good/metadata');
  assert.equal(metadata.status, 200);
  assert.ok(metadata.body.includes('EntityDescriptor'));
  assert.equal((await httpStatus(op, '/saml/default/good/login')).status, 302);
}

/** A connector that must fail closed: 503 ConnectorNotReady on each endpoint. */
async function assertFailsClosed(op: TestOperator, name: string): Promise<void> {
  for (const [path, init] of [
    [`/saml/default/${name}/metadata`, undefined],
    [`/saml/default/${name}/login`, undefined],
    [`/saml/default/${name}/acs`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'SAMLResponse=AAAA' }],
  ] as const) {
    const res = await httpStatus(op, path, init);
    assert.equal(res.status, 503, `${path}: ${res.status}`);
    assert.ok(res.body.includes('<code>ConnectorNotReady</code>'), path);
  }
}

async function withOperator(files: Record<string, string>, run: (op: TestOperator) => Promise<void>): Promise<void> {
  const op = await startTestOperator({ manifests: { 'good.yaml': GOOD(), ...files } });
  try {
    await assertGoodServing(op);
    await run(op);
    await assertGoodServing(op);
  } finally {
    await op.stop();
  }
}

describe('standalone operator with bad input', () => {
  beforeAll(async () => {
    pem = (await signingIdentity('idp')).certPem;
  });

  test('malformed YAML: YAMLSyntaxError with the line', async () => {
    await withOperator({ 'broken.yaml': 'apiVersion: sso.operator.dev/v1alpha1\nkind: SsoConnector\nmetadata:\n  name: [oops\n  x: 1\n' }, async (op) => {
      const p = problemOf(await status(op), 'broken.yaml');
      assert.ok(p, 'problem reported');
      assert.equal(p.reason, 'YAMLSyntaxError');
      assert.equal(p.documentIndex, 0);
      assert.equal(p.path, '$');
      assert.match(p.message, /line \d+/);
    });
  });

  test('unknown field: UnknownField with its path; that connector fails closed with ManifestInvalid', async () => {
    await withOperator({ 'unknown.yaml': connectorYaml('typo', { samlExtra: '    idpInitated:\n      enabled: true' }) }, async (op) => {
      const s = await status(op);
      const p = problemOf(s, 'unknown.yaml');
      assert.ok(p);
      assert.equal(p.reason, 'UnknownField');
      assert.equal(p.path, '$.spec.saml.idpInitated');
      assert.equal(p.documentIndex, 0);
      const ready = condition(s, 'typo', 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'ManifestInvalid');
      assert.match(ready?.message ?? '', /unknown\.yaml document 0: \$\.spec\.saml\.idpInitated/);
      await assertFailsClosed(op, 'typo');
    });
  });

  test('missing Secret: Ready=False SecretNotFound, endpoints 503; the Secret appearing fixes it', async () => {
    const certificates = '        - secretRef:\n            name: idp-cert\n            key: tls.crt';
    await withOperator({ 'secret-ref.yaml': connectorYaml('needs-secret', { certificates }) }, async (op) => {
      const s = await status(op);
      const ready = condition(s, 'needs-secret', 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'SecretNotFound');
      assert.match(ready?.message ?? '', /idp-cert/);
      assert.equal(condition(s, 'needs-secret', 'CertificatesValid')?.status, 'Unknown', 'a dependent condition is Unknown, not stale');
      await assertFailsClosed(op, 'needs-secret');

      await op.writeManifest('secret.yaml', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: idp-cert\nstringData:\n  tls.crt: |\n${indent(pem, 4)}\n`);
      await waitFor(async () => (await httpStatus(op, '/saml/default/needs-secret/metadata')).status === 200);
      assert.equal(condition(await status(op), 'needs-secret', 'Ready')?.status, 'True');
    });
  });

  test('bad PEM: Ready=False CertificateInvalid', async () => {
    const certificates = '        - pem: |\n            -----BEGIN CERTIFICATE-----\n            AAAA\n            -----END CERTIFICATE-----';
    await withOperator({ 'bad-pem.yaml': connectorYaml('bad-pem', { certificates }) }, async (op) => {
      const s = await status(op);
      const ready = condition(s, 'bad-pem', 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'CertificateInvalid');
      assert.equal(condition(s, 'bad-pem', 'CertificatesValid')?.reason, 'CertificateInvalid');
      await assertFailsClosed(op, 'bad-pem');
    });
  });

  for (const target of ['https://evil.com', '//evil.com']) {
    test(`absolute idpInitiated.redirectPath ${target}: RuleViolation`, async () => {
      const samlExtra = `    idpInitiated:\n      enabled: true\n      redirectPath: "${target}"`;
      await withOperator({ 'redirect.yaml': connectorYaml('redirector', { samlExtra }) }, async (op) => {
        const s = await status(op);
        const p = problemOf(s, 'redirect.yaml');
        assert.ok(p);
        assert.equal(p.reason, 'RuleViolation');
        assert.equal(p.path, '$.spec.saml.idpInitiated.redirectPath');
        assert.equal(condition(s, 'redirector', 'Ready')?.reason, 'ManifestInvalid');
        await assertFailsClosed(op, 'redirector');
      });
    });
  }

  test('duplicate reference: the later-created connector loses ReferenceUnique and is not served', async () => {
    await withOperator({ 'first.yaml': connectorYaml('first', { reference: 'legacy-7' }) }, async (op) => {
      assert.equal((await httpStatus(op, '/saml/default/first/metadata')).status, 200);
      await op.writeManifest('second.yaml', connectorYaml('second', { reference: 'legacy-7' }));
      const { value: s } = await waitFor(async () => {
        const st = await status(op);
        return condition(st, 'second', 'ReferenceUnique') ? st : undefined;
      });
      assert.ok(s);
      const unique = condition(s, 'second', 'ReferenceUnique');
      assert.equal(unique?.status, 'False');
      assert.equal(unique?.reason, 'ReferenceConflict');
      assert.match(unique?.message ?? '', /first/);
      assert.equal(condition(s, 'second', 'Ready')?.status, 'False');
      assert.equal(condition(s, 'second', 'Ready')?.reason, 'ReferenceConflict');
      assert.equal(condition(s, 'first', 'ReferenceUnique')?.status, 'True');
      assert.equal(condition(s, 'first', 'Ready')?.status, 'True');
      await assertFailsClosed(op, 'second');
      assert.equal((await httpStatus(op, '/saml/default/first/metadata')).status, 200);
    });
  });

  test('a valid connector edited into an invalid one fails closed (ManifestInvalid), and back', async () => {
    await withOperator({ 'edited.yaml': connectorYaml('edited') }, async (op) => {
      assert.equal((await httpStatus(op, '/saml/default/edited/metadata')).status, 200);

      const started = performance.now();
      await op.writeManifest('edited.yaml', connectorYaml('edited', { specExtra: '  stage: Staging' }));
      const { ms } = await waitFor(async () => (await httpStatus(op, '/saml/default/edited/metadata')).status === 503);
      console.log(`reload delay for one edit: ${ms} ms until the edited connector answered 503 (${Math.round(performance.now() - started)} ms including the write)`);

      const s = await status(op);
      const ready = condition(s, 'edited', 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'ManifestInvalid');
      assert.match(ready?.message ?? '', /\$\.spec\.stage/);
      const p = problemOf(s, 'edited.yaml');
      assert.equal(p?.path, '$.spec.stage');
      await assertFailsClosed(op, 'edited');
      await assertGoodServing(op);

      await op.writeManifest('edited.yaml', connectorYaml('edited'));
      await waitFor(async () => (await httpStatus(op, '/saml/default/edited/metadata')).status === 200);
      const back = await status(op);
      assert.equal(condition(back, 'edited', 'Ready')?.status, 'True');
      assert.equal(problemOf(back, 'edited.yaml'), undefined, 'the problem is gone');
    });
  });

  test('a multi-document file: the bad document is reported by index, the others load', async () => {
    const multi = [
      connectorYaml('multi-a'),
      connectorYaml('multi-b', { specExtra: '  enabled: perhaps' }),
      bindingYaml('bob', 'bob@example.com', 'multi-a'),
    ].join('---\n');
    await withOperator({ 'multi.yaml': multi }, async (op) => {
      const s = await status(op);
      const problems = s.problems.filter((p) => p.file === 'multi.yaml');
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.documentIndex, 1);
      assert.equal(problems[0]!.path, '$.spec.enabled');
      assert.equal(condition(s, 'multi-a', 'Ready')?.status, 'True');
      assert.equal(resource(s, 'UserBinding', 'bob')?.status.phase, 'Active');
      assert.equal(condition(s, 'multi-b', 'Ready')?.reason, 'ManifestInvalid');
      assert.equal((await httpStatus(op, '/saml/default/multi-a/metadata')).status, 200);
      await assertFailsClosed(op, 'multi-b');
    });
  });

  describe('every bad document at once', () => {
    let op: TestOperator;
    afterAll(async () => op?.stop());

    test('the good connector is untouched and the operator is ready', async () => {
      op = await startTestOperator({
        manifests: {
          'good.yaml': GOOD(),
          'broken.yaml': 'kind: SsoConnector\nmetadata: {name: [\n',
          'unknown.yaml': connectorYaml('typo', { specExtra: '  colour: blue' }),
          'bad-pem.yaml': connectorYaml('bad-pem', { certificates: '        - pem: "not a certificate"' }),
          'redirect.yaml': connectorYaml('redirector', { samlExtra: '    idpInitiated:\n      enabled: true\n      redirectPath: //evil.com' }),
        },
      });
      await assertGoodServing(op);
      const s = await status(op);
      assert.deepEqual(
        s.problems.map((p) => `${p.file}:${p.reason}`).sort(),
        ['broken.yaml:YAMLSyntaxError', 'redirect.yaml:RuleViolation', 'unknown.yaml:UnknownField'],
      );
      assert.equal(condition(s, 'bad-pem', 'Ready')?.reason, 'CertificateInvalid');
      assert.equal((await fetch(`${op.adminURL}/readyz`)).status, 200);
    });
  });
});
