// `sso-operator requests list|approve|deny` against a real kube-apiserver:
// access-request bindings as the operator creates them (label, annotation,
// approval: Pending) beside a binding declared in Git without the label;
// listed by label selector (Pending only, or --all, one namespace or all),
// approved by user and connector, denied with a reason (JSON merge patches
// the apiserver validates), and the unlabelled binding refused and left as
// it was.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import { requestBinding, requestBindingName } from '../../src/access/requests.ts';
import { runCli } from '../support/cli.ts';
import { applyOk, createNamespaces, getObject, GROUP_VERSION, installCrds, type K8sObject } from '../support/cluster-fixtures.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';

const NOW = new Date('2031-02-03T10:00:00Z');
const ALICE = requestBindingName('corp', 'alice@example.com');
const BOB = requestBindingName('corp', 'bob@example.com');
const CAROL = requestBindingName('wiki', 'carol@example.com');
const ERIN = requestBindingName('corp', 'erin@example.com');

const rowsOf = (table: string) =>
  table
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{3,}/));

describe('sso-operator requests against a real apiserver', () => {
  jest.setTimeout(120_000);
  let cp: ControlPlane;
  const kube = () => ['--kubeconfig', cp.kubeconfigPath];
  const run = (argv: string[]) => runCli([...argv, ...kube()], { now: NOW });
  const binding = async (ns: string, name: string) => (await getObject(cp, GROUP_VERSION, 'UserBinding', ns, name))!;

  beforeAll(async () => {
    cp = await startControlPlane();
    await installCrds(cp);
    await createNamespaces(cp, ['team-a', 'team-b']);
    const request = (ns: string, connector: string, user: string, minutesAgo: number) => requestBinding(ns, connector, user, new Date(NOW.getTime() - minutesAgo * 60_000)) as unknown as K8sObject;
    const erin = request('team-a', 'corp', 'erin@example.com', 60);
    erin.spec.approval = 'Approved';
    erin.spec.reason = 'ticket 7';
    await applyOk(
      cp,
      request('team-a', 'corp', 'alice@example.com', 5),
      request('team-a', 'corp', 'bob@example.com', 30),
      erin,
      request('team-b', 'wiki', 'carol@example.com', 3 * 60),
      // Declared in Git: Pending too, but without the access-request label.
      { apiVersion: GROUP_VERSION, kind: 'UserBinding', metadata: { name: 'dave', namespace: 'team-a' }, spec: { user: 'dave@example.com', connectors: ['corp'], approval: 'Pending' } },
    );
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('list -n team-a: the Pending requests only (label selector), with user, connector, approval and age from the annotation', async () => {
    const r = await run(['requests', 'list', '-n', 'team-a']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const rows = rowsOf(r.stdout);
    assert.deepEqual(rows[0], ['NAMESPACE', 'NAME', 'USER', 'CONNECTOR', 'APPROVAL', 'REQUESTED', 'REASON']);
    assert.deepEqual(
      rows.slice(1),
      [
        ['team-a', ALICE, 'alice@example.com', 'corp', 'Pending', '5m', '<none>'],
        ['team-a', BOB, 'bob@example.com', 'corp', 'Pending', '30m', '<none>'],
      ].sort((a, b) => (a[1]! < b[1]! ? -1 : 1)),
    );
  });

  it('list --all -A -o json: every approval in every namespace, never the unlabelled binding; without -n the context namespace (default, empty)', async () => {
    const r = await run(['requests', 'list', '--all', '-A', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { namespace: string; name: string; user: string; approval: string; reason?: string; requestedAt: string }[];
    assert.deepEqual(list.map((e) => `${e.namespace}/${e.user} ${e.approval}`).sort(), [
      'team-a/alice@example.com Pending',
      'team-a/bob@example.com Pending',
      'team-a/erin@example.com Approved',
      'team-b/carol@example.com Pending',
    ]);
    const erin = list.find((e) => e.name === ERIN)!;
    assert.equal(erin.reason, 'ticket 7');
    assert.equal(erin.requestedAt, new Date(NOW.getTime() - 60 * 60_000).toISOString());
    assert.ok(!list.some((e) => e.name === 'dave'));
    const here = await run(['requests', 'list']);
    assert.deepEqual(here, { code: 0, stdout: '', stderr: 'No pending access requests in default namespace.\n' });
  });

  it('approve --user --connector: a merge patch of spec.approval by the CLI field manager', async () => {
    const r = await run(['requests', 'approve', '--user', 'Alice@Example.com', '--connector', 'corp', '-n', 'team-a']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `UserBinding team-a/${ALICE} approved (user alice@example.com, connector corp)\n`);
    const b = await binding('team-a', ALICE);
    assert.equal(b.spec.approval, 'Approved');
    assert.equal(b.spec.reason, undefined);
    assert.equal((b.metadata.labels as Record<string, string>)['sso.operator.dev/access-request'], 'true', 'the label is kept');
    assert.ok((b.metadata.managedFields as { manager: string }[]).some((f) => f.manager === 'sso-operator-cli'));
    // Again: nothing to change.
    const again = await run(['requests', 'approve', `team-a/${ALICE}`]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /approved \(no change; /);
  });

  it('deny --reason: Denied with the reason; approving later drops the reason of the denial', async () => {
    const r = await run(['requests', 'deny', BOB, `team-b/${CAROL}`, '--reason', 'not on the team']);
    // BOB without a namespace is looked up in the context's namespace (default): not found; team-b/CAROL is denied.
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `sso-operator: UserBinding default/${BOB} not found\n`);
    assert.equal(r.stdout, `UserBinding team-b/${CAROL} denied (user carol@example.com, connector wiki)\n`);
    assert.deepEqual((await binding('team-b', CAROL)).spec, { user: 'carol@example.com', connectors: ['wiki'], approval: 'Denied', reason: 'not on the team' });

    const bob = await run(['requests', 'deny', BOB, '-n', 'team-a', '--reason', 'contractor: ask #infra']);
    assert.equal(bob.code, 0, bob.stderr);
    assert.deepEqual((await binding('team-a', BOB)).spec, { user: 'bob@example.com', connectors: ['corp'], approval: 'Denied', reason: 'contractor: ask #infra' });
    const list = await run(['requests', 'list', '-n', 'team-a', '--all']);
    assert.match(list.stdout, new RegExp(`^team-a\\s+${BOB}\\s+bob@example\\.com\\s+corp\\s+Denied\\s+30m\\s+contractor: ask #infra$`, 'm'));
    const pending = await run(['requests', 'list', '-n', 'team-a']);
    assert.deepEqual(pending, { code: 0, stdout: '', stderr: 'No pending access requests in team-a namespace. (3 decided: --all lists them)\n' });

    const approve = await run(['requests', 'approve', 'bob@example.com', '--connector', 'team-a/corp']);
    assert.equal(approve.code, 0, approve.stderr);
    assert.deepEqual((await binding('team-a', BOB)).spec, { user: 'bob@example.com', connectors: ['corp'], approval: 'Approved' });
  });

  it('a binding without the access-request label is refused (exit 1) and left as it was', async () => {
    const before = await binding('team-a', 'dave');
    for (const argv of [
      ['requests', 'approve', 'dave', '-n', 'team-a'],
      ['requests', 'deny', 'team-a/dave', '--reason', 'no'],
    ]) {
      const r = await run(argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        'sso-operator: UserBinding team-a/dave is not an access request (no label sso.operator.dev/access-request=true): refused; a binding declared in Git is never changed by this command, edit its manifest instead\n',
      );
    }
    const after = await binding('team-a', 'dave');
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.equal(after.spec.approval, 'Pending');
  });

  it('a name that does not exist: exit 1; an unknown kubeconfig context: exit 2', async () => {
    const r = await run(['requests', 'approve', 'access-corp-nope', '-n', 'team-a']);
    assert.deepEqual(r, { code: 1, stdout: '', stderr: 'sso-operator: UserBinding team-a/access-corp-nope not found\n' });
    const byUser = await run(['requests', 'approve', '--user', 'nobody@example.com', '--connector', 'team-a/corp']);
    assert.equal(byUser.code, 1);
    assert.equal(byUser.stderr, `sso-operator: UserBinding team-a/${requestBindingName('corp', 'nobody@example.com')} not found (the request of nobody@example.com at connector corp)\n`);
    const ctx = await run(['requests', 'list', '--context', 'nope']);
    assert.equal(ctx.code, 2);
    assert.match(ctx.stderr, /the kubeconfig has no context "nope"/);
  });
});
