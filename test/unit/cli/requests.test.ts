// `sso-operator requests list|approve|deny` in standalone mode, on temporary
// folders: requests written by the operator's own store
// (DirectoryAccessRequestStore), listed with their ages, approved or denied
// by moving the rewritten file (comments kept) into the manifests folder,
// where the operator's own loader admits it and the store no longer reports
// it waiting; never over an existing file or a second definition; the
// request named by the user and connector; usage errors.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { DirectoryAccessRequestStore, requestBinding, requestBindingName } from '../../../src/access/requests.ts';
import { admit } from '../../../src/api/index.ts';
import { loadManifests } from '../../../src/store/load-manifests.ts';
import { onCleanup } from '../../support/cleanup.ts';
import { runCli } from '../../support/cli.ts';

const NOW = new Date('2030-05-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const ALICE = requestBindingName('corp', 'alice@example.com');
const BOB = requestBindingName('corp', 'bob@example.com');
const CAROL = requestBindingName('demo', 'carol@example.com');

/** A working folder with state/requests filled by the operator's store (alice 3h ago, bob 90 s ago in team-a; carol in default) and an empty manifests/. */
async function workdir(): Promise<{ cwd: string; store: DirectoryAccessRequestStore; run: (argv: string[]) => ReturnType<typeof runCli> }> {
  const cwd = await mkdtemp(join(tmpdir(), 'sso-cli-requests-'));
  onCleanup(() => rm(cwd, { recursive: true, force: true }));
  const store = new DirectoryAccessRequestStore(join(cwd, 'state', 'requests'));
  await store.create(requestBinding('team-a', 'corp', 'alice@example.com', ago(3 * 3600_000)));
  await store.create(requestBinding('team-a', 'corp', 'bob@example.com', ago(90_000)));
  await store.create(requestBinding('default', 'demo', 'carol@example.com', ago(10 * 60_000)));
  await mkdir(join(cwd, 'manifests'));
  return { cwd, store, run: (argv) => runCli(argv, { cwd, now: NOW }) };
}

const rowsOf = (table: string) =>
  table
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{3,}/));

const exists = (p: string) => stat(p).then(() => true, () => false);
/** A folder's entries, sorted, as a literal array of this realm (readdir's comes from Node's). */
const ls = async (p: string) => [...(await readdir(p))].sort();

describe('sso-operator requests list (standalone)', () => {
  it('lists every request of the requests folder with user, connector, approval, age and file; -n filters; --requests-dir equals --state-dir', async () => {
    const { run } = await workdir();
    const r = await run(['requests', 'list', '--state-dir', 'state']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const teamA = [
      ['team-a', ALICE, 'alice@example.com', 'corp', 'Pending', '3h', '<none>', `state/requests/team-a/${ALICE}.yaml`],
      ['team-a', BOB, 'bob@example.com', 'corp', 'Pending', '90s', '<none>', `state/requests/team-a/${BOB}.yaml`],
    ].sort((a, b) => (a[1]! < b[1]! ? -1 : 1));
    assert.deepEqual(rowsOf(r.stdout), [
      ['NAMESPACE', 'NAME', 'USER', 'CONNECTOR', 'APPROVAL', 'REQUESTED', 'REASON', 'FILE'],
      ['default', CAROL, 'carol@example.com', 'demo', 'Pending', '10m', '<none>', `state/requests/default/${CAROL}.yaml`],
      ...teamA,
    ]);
    const same = await run(['requests', 'list', '--requests-dir', 'state/requests']);
    assert.equal(same.stdout, r.stdout);
    const json = await run(['requests', 'list', '--state-dir', 'state', '-n', 'team-a', '-o', 'json']);
    assert.equal(json.code, 0);
    const list = JSON.parse(json.stdout) as Record<string, unknown>[];
    assert.deepEqual(list.map((e) => e.user).sort(), ['alice@example.com', 'bob@example.com']);
    assert.deepEqual(list.find((e) => e.user === 'alice@example.com'), {
      namespace: 'team-a',
      name: ALICE,
      user: 'alice@example.com',
      connectors: ['corp'],
      approval: 'Pending',
      requestedAt: ago(3 * 3600_000).toISOString(),
      file: `state/requests/team-a/${ALICE}.yaml`,
      inEffect: false,
    });
  });

  it('with --manifests also the requests moved there: decided ones with --all only; json and yaml', async () => {
    const { run } = await workdir();
    assert.equal((await run(['requests', 'approve', ALICE, '-n', 'team-a', '--state-dir', 'state', '--manifests', 'manifests'])).code, 0);
    const pending = await run(['requests', 'list', '--state-dir', 'state', '--manifests', 'manifests', '-o', 'yaml']);
    assert.deepEqual((parseYaml(pending.stdout) as { name: string }[]).map((e) => e.name).sort(), [BOB, CAROL].sort());
    const all = await run(['requests', 'list', '--state-dir', 'state', '--manifests', 'manifests', '--all', '-n', 'team-a']);
    assert.equal(all.code, 0, all.stderr);
    const rows = rowsOf(all.stdout);
    assert.deepEqual(rows.find((row) => row[1] === ALICE), ['team-a', ALICE, 'alice@example.com', 'corp', 'Approved', '3h', '<none>', `manifests/team-a/${ALICE}.yaml`]);
    assert.equal(rows.length, 3);
    const json = JSON.parse((await run(['requests', 'list', '--state-dir', 'state', '--manifests', 'manifests', '--all', '-o', 'json'])).stdout) as { name: string; inEffect: boolean }[];
    assert.equal(json.find((e) => e.name === ALICE)?.inEffect, true);
  });

  it('nothing waiting: a message on stderr, exit 0; -o json prints []; a requests folder not created yet is noted', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'sso-cli-requests-'));
    onCleanup(() => rm(cwd, { recursive: true, force: true }));
    const none = await runCli(['requests', 'list', '--state-dir', 'state'], { cwd });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /state\/requests does not exist: no access request was made yet/);
    assert.match(none.stderr, /No pending access requests\./);
    assert.deepEqual(await runCli(['requests', 'list', '--requests-dir', cwd, '-o', 'json'], { cwd }), { code: 0, stdout: '[]\n', stderr: '' });
  });

  it('a request file the operator could not have written: the problem on stderr, exit 1, the others still listed', async () => {
    const { cwd, run } = await workdir();
    await writeFile(join(cwd, 'state', 'requests', 'team-a', 'broken.yaml'), 'kind: UserBinding\nspec: [\n');
    const r = await run(['requests', 'list', '--state-dir', 'state']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^sso-operator: state\/requests\/team-a\/broken\.yaml document 0: /);
    assert.equal(rowsOf(r.stdout).length, 4);
  });
});

describe('sso-operator requests approve and deny (standalone)', () => {
  it('approve: the file, comments kept, set Approved and moved into the manifests folder; the operator admits it and no longer sees it waiting', async () => {
    const { cwd, store, run } = await workdir();
    const source = join(cwd, 'state', 'requests', 'team-a', `${ALICE}.yaml`);
    const before = await readFile(source, 'utf8');
    const r = await run(['requests', 'approve', ALICE, '-n', 'team-a', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `UserBinding team-a/${ALICE} approved (user alice@example.com, connector corp): state/requests/team-a/${ALICE}.yaml moved to manifests/team-a/${ALICE}.yaml\n`);
    assert.equal(await exists(source), false);
    const target = join(cwd, 'manifests', 'team-a', `${ALICE}.yaml`);
    const after = await readFile(target, 'utf8');
    assert.equal(after, before.replace('approval: Pending', 'approval: Approved'), 'only the approval changed; the comments are kept');
    assert.match(after, /^# Access request from alice@example\.com for connector corp/);
    assert.equal((await stat(target)).mode & 0o777, 0o600, 'the mode of the request file');
    assert.deepEqual(await ls(join(cwd, 'manifests', 'team-a')), [`${ALICE}.yaml`], 'no temporary file left');
    assert.equal(await store.has('team-a', ALICE), false);
    assert.equal(await store.has('team-a', BOB), true);
    const loaded = await loadManifests(join(cwd, 'manifests'), admit);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual(
      loaded.objects.map((o) => [o.object.kind, o.object.metadata.namespace, o.object.metadata.name, (o.object.spec as { approval?: string }).approval]),
      [['UserBinding', 'team-a', ALICE, 'Approved']],
    );
  });

  it('deny --reason: Denied with the reason, moved too (the user then sees Access denied); approve --reason records it; NAMESPACE/NAME and no -n work', async () => {
    const { cwd, run } = await workdir();
    const deny = await run(['requests', 'deny', `team-a/${BOB}`, '--reason', 'not on the team: ask #infra', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(deny.code, 0, deny.stderr);
    assert.match(deny.stdout, new RegExp(`^UserBinding team-a/${BOB} denied \\(user bob@example\\.com, connector corp\\)`));
    const denied = parseYaml(await readFile(join(cwd, 'manifests', 'team-a', `${BOB}.yaml`), 'utf8')) as { spec: Record<string, unknown> };
    assert.deepEqual(denied.spec, { user: 'bob@example.com', connectors: ['corp'], approval: 'Denied', reason: 'not on the team: ask #infra' });
    // No -n: found in whichever namespace holds it.
    const approve = await run(['requests', 'approve', CAROL, '--reason', 'ticket 42', '--requests-dir', 'state/requests', '--manifests', 'manifests']);
    assert.equal(approve.code, 0, approve.stderr);
    const approved = parseYaml(await readFile(join(cwd, 'manifests', 'default', `${CAROL}.yaml`), 'utf8')) as { spec: Record<string, unknown> };
    assert.equal(approved.spec.approval, 'Approved');
    assert.equal(approved.spec.reason, 'ticket 42');
  });

  it('--user EMAIL --connector NAME (or the email as argument) names the request as the operator does; the email compared as bindings compare it', async () => {
    const { cwd, run } = await workdir();
    const r = await run(['requests', 'approve', '--user', 'Alice@EXAMPLE.com', '--connector', 'corp', '-n', 'team-a', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await exists(join(cwd, 'manifests', 'team-a', `${ALICE}.yaml`)));
    const positional = await run(['requests', 'deny', 'bob@example.com', '--connector', 'team-a/corp', '--reason', 'no', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(positional.code, 0, positional.stderr);
    assert.ok(await exists(join(cwd, 'manifests', 'team-a', `${BOB}.yaml`)));
    const nobody = await run(['requests', 'approve', '--user', 'nobody@example.com', '--connector', 'corp', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(nobody.code, 1);
    assert.equal(nobody.stderr, `sso-operator: no access request ${requestBindingName('corp', 'nobody@example.com')} (the request of nobody@example.com at connector corp) in state/requests\n`);
  });

  it('never overwrites: a file at the target, or the same binding defined elsewhere in the manifests folder: exit 1, both files untouched', async () => {
    const { cwd, run } = await workdir();
    const source = join(cwd, 'state', 'requests', 'team-a', `${ALICE}.yaml`);
    const original = await readFile(source, 'utf8');
    await mkdir(join(cwd, 'manifests', 'team-a'));
    await writeFile(join(cwd, 'manifests', 'team-a', `${ALICE}.yaml`), '# mine\n');
    const r = await run(['requests', 'approve', ALICE, '-n', 'team-a', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `sso-operator: manifests/team-a/${ALICE}.yaml exists already: not overwritten; state/requests/team-a/${ALICE}.yaml is left where it is\n`);
    assert.equal(await readFile(join(cwd, 'manifests', 'team-a', `${ALICE}.yaml`), 'utf8'), '# mine\n');
    assert.equal(await readFile(source, 'utf8'), original);
    assert.deepEqual(await ls(join(cwd, 'manifests', 'team-a')), [`${ALICE}.yaml`], 'no temporary file left');

    // The same binding declared in another file of the folder: a second definition would be a duplicate.
    await writeFile(
      join(cwd, 'manifests', 'bindings.yaml'),
      `apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata: {name: ${BOB}, namespace: team-a}\nspec: {user: bob@example.com, connectors: [corp]}\n`,
    );
    const dup = await run(['requests', 'deny', BOB, '-n', 'team-a', '--reason', 'x', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, new RegExp(`UserBinding team-a/${BOB} is already defined in the manifests folder \\(manifests/bindings\\.yaml\\)`));
    assert.ok(await exists(join(cwd, 'state', 'requests', 'team-a', `${BOB}.yaml`)));
    assert.equal(await exists(join(cwd, 'manifests', 'team-a', `${BOB}.yaml`)), false);
  });

  it('unknown names exit 1 (the others are still done); a request already moved, or a binding that is not a request, is named as such', async () => {
    const { cwd, run } = await workdir();
    const r = await run(['requests', 'approve', 'access-corp-nope', ALICE, '-n', 'team-a', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'sso-operator: no access request team-a/access-corp-nope in state/requests\n');
    assert.ok(await exists(join(cwd, 'manifests', 'team-a', `${ALICE}.yaml`)), 'the known one was approved');
    const again = await run(['requests', 'deny', ALICE, '--reason', 'changed my mind', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `sso-operator: UserBinding team-a/${ALICE} is already in the manifests folder (manifests/team-a/${ALICE}.yaml, approval Approved): edit it there\n`);
    await writeFile(join(cwd, 'manifests', 'git.yaml'), 'apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata: {name: dave, namespace: team-a}\nspec: {user: dave@example.com, connectors: [corp]}\n');
    const git = await run(['requests', 'deny', 'team-a/dave', '--reason', 'x', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(git.code, 1);
    assert.match(git.stderr, /UserBinding team-a\/dave is not an access request \(no label sso\.operator\.dev\/access-request=true, manifests\/git\.yaml\): refused/);
  });

  it('a file in the requests folder that is not a labelled request, or names another binding: refused, left in place', async () => {
    const { cwd, run } = await workdir();
    const dir = join(cwd, 'state', 'requests', 'team-a');
    await writeFile(join(dir, 'plain.yaml'), 'apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata: {name: plain, namespace: team-a}\nspec: {user: x@example.com, connectors: [corp], approval: Pending}\n');
    const plain = await run(['requests', 'approve', 'team-a/plain', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr, 'sso-operator: state/requests/team-a/plain.yaml: is not an access request (no label sso.operator.dev/access-request=true): refused\n');
    await writeFile(join(dir, 'other.yaml'), (await readFile(join(dir, `${ALICE}.yaml`), 'utf8')));
    const other = await run(['requests', 'approve', 'team-a/other', '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, new RegExp(`names UserBinding team-a/${ALICE}, not team-a/other: refused`));
    assert.deepEqual(await ls(join(cwd, 'manifests')), []);
  });

  it('the same name in two namespaces without -n: exit 1, asks for -n', async () => {
    const { cwd, store, run } = await workdir();
    await store.create(requestBinding('team-b', 'corp', 'alice@example.com', NOW));
    const r = await run(['requests', 'approve', ALICE, '--state-dir', 'state', '--manifests', 'manifests']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `sso-operator: ${ALICE} is a request in several namespaces (team-a, team-b): give -n NAMESPACE or NAMESPACE/NAME\n`);
    assert.deepEqual(await ls(join(cwd, 'manifests')), []);
  });

  it('a manifests folder that does not exist: exit 1, nothing moved', async () => {
    const { cwd, run } = await workdir();
    const r = await run(['requests', 'approve', ALICE, '--state-dir', 'state', '--manifests', 'typo']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the manifests folder typo does not exist/);
    assert.ok(await exists(join(cwd, 'state', 'requests', 'team-a', `${ALICE}.yaml`)));
    assert.equal(await exists(join(cwd, 'typo')), false);
  });
});

describe('sso-operator requests: usage', () => {
  it('--help, -h, help requests: the usage naming every subcommand, exit 0', async () => {
    for (const argv of [['requests', '--help'], ['requests', 'approve', '-h'], ['help', 'requests']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.ok(r.stdout.startsWith('Usage: sso-operator requests list [flags]\n       sso-operator requests approve'), r.stdout.slice(0, 100));
    }
    assert.match((await runCli(['requests', '--help'], { prog: 'kubectl sso' })).stdout, /^Usage: kubectl sso requests list/);
  });

  it('usage errors exit 2 and point to --help', async () => {
    const dirs = ['--state-dir', 'state', '--manifests', 'manifests'];
    const cases: [string[], RegExp][] = [
      [['requests'], /give a subcommand: list, approve or deny/],
      [['requests', 'remove', 'x'], /unknown subcommand "remove"/],
      [['requests', 'list', 'extra', '--state-dir', 's'], /unexpected argument "extra"/],
      [['requests', 'list', '-n', 'a', '-A', '--state-dir', 's'], /not both/],
      [['requests', 'list', '-o', 'wide', '--state-dir', 's'], /--output must be one of json, yaml/],
      [['requests', 'list', '--reason', 'x', '--state-dir', 's'], /--reason does not apply to list/],
      [['requests', 'approve', 'x', '--all', ...dirs], /--all does not apply to approve/],
      [['requests', 'approve', 'x', '-o', 'json', ...dirs], /--output does not apply to approve/],
      [['requests', 'approve', ...dirs], /give the request: NAME\.\.\./],
      [['requests', 'approve', 'x', '--state-dir', 'state'], /needs --manifests DIR/],
      [['requests', 'approve', 'x', '--kubeconfig', 'k', ...dirs], /--kubeconfig reads a cluster and cannot be combined/],
      [['requests', 'deny', 'x', ...dirs], /deny needs --reason TEXT/],
      [['requests', 'deny', 'x', '--reason', ' ', ...dirs], /--reason must not be empty/],
      [['requests', 'deny', 'x', '--reason', 'y'.repeat(1025), ...dirs], /--reason is longer than 1024 characters/],
      [['requests', 'approve', 'Not_A_Name', ...dirs], /"Not_A_Name" is not a UserBinding NAME or NAMESPACE\/NAME/],
      [['requests', 'approve', 'a/x', '-n', 'b', ...dirs], /a\/x names namespace a, -n says b/],
      [['requests', 'approve', 'alice@example.com', ...dirs], /"alice@example\.com" is a user: give --connector NAME/],
      [['requests', 'approve', '--user', 'alice@example.com', ...dirs], /is a user: give --connector NAME/],
      [['requests', 'approve', 'x', '--connector', 'corp', ...dirs], /--connector goes with --user/],
      [['requests', 'approve', '--user', 'a@b.c', '--connector', 'Bad/Name', ...dirs], /is not a connector NAME/],
      [['requests', 'list'], /no cluster to read/],
      [['requests', 'list', '--frobnicate'], /--frobnicate/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv, { env: { HOME: '/nonexistent' } });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
      assert.match(r.stderr, /Run 'sso-operator requests --help' for usage\./, argv.join(' '));
      assert.equal(r.stdout, '');
    }
  });
});
