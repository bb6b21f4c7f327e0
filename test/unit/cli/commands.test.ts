// The admin CLI's other commands and its shell contract: --help on every
// command (and `help <command>`), exit 2 for an unknown command or flag,
// crds equal to crds/, login-url and status on a folder of manifests, the
// kubectl plugin name, and the real binary once as a process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, jest } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { programName } from '../../../src/cli/main.ts';
import { columnKey, evalJsonPath, formatTable, humanDuration } from '../../../src/cli/table.ts';
import { REPO, runCli } from '../../support/cli.ts';

jest.setTimeout(60_000);

const COMMANDS = ['run', 'check', 'crds', 'login-url', 'status', 'requests'] as const;

describe('usage and exit codes', () => {
  it.each(COMMANDS)('%s --help, -h and help <command> print its usage naming it, exit 0', async (command) => {
    for (const argv of [[command, '--help'], [command, '-h'], ['help', command]]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`Usage: sso-operator ${command}`), `${argv.join(' ')}: ${r.stdout.slice(0, 80)}`);
      assert.equal(r.stderr, '');
    }
  });

  it('--help, help and no command: the list of commands (exit 0, 0 and 2)', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0);
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    }
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: sso-operator <command>/);
  });

  it('an unknown command exits 2 with the list of commands', async () => {
    for (const argv of [['frobnicate'], ['help', 'frobnicate'], ['--frobnicate']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /unknown command "-*frobnicate"/);
      assert.match(r.stderr, /Usage: sso-operator <command>/);
      assert.equal(r.stdout, '');
    }
  });

  it.each(COMMANDS)('%s with an unknown flag exits 2 and points to --help', async (command) => {
    const r = await runCli([command, '--no-such-flag', 'x']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--no-such-flag/);
    if (command !== 'run') assert.match(r.stderr, new RegExp(`Run 'sso-operator ${command} --help' for usage`));
  });

  it('other usage errors exit 2: no FILE for check, a bad --output, arguments that do not fit', async () => {
    const cases: [string[], RegExp][] = [
      [['check'], /give at least one FILE or DIR/],
      [['check', '-o', 'xml', 'examples'], /--output must be one of json, yaml/],
      [['check', '--public-url', 'http://sso.example.com', 'examples'], /plain http on a non-loopback host/],
      [['crds', 'extra'], /unexpected argument "extra"/],
      [['login-url'], /NAMESPACE\/NAME/],
      [['login-url', 'a/b', 'c/d'], /one connector only/],
      [['login-url', 'Not_A/Name', '--manifests', 'examples'], /is not NAMESPACE\/NAME/],
      [['login-url', 'a/b', '-n', 'c', '--manifests', 'examples'], /names namespace a, -n says c/],
      [['login-url', 'a/b', '--manifests', 'examples', '--kubeconfig', 'k'], /cannot be combined with --manifests/],
      [['status', '-n', 'a', '-A', '--manifests', 'examples'], /not both/],
      [['status', '-o', 'name', '--manifests', 'examples'], /--output must be one of wide, json, yaml/],
      [['status', '--fetch'], /--fetch applies to --manifests only/],
      [['status'], /no cluster to read/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv, { env: { HOME: '/nonexistent' } });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
    }
  });

  it('as the kubectl plugin: kubectl-sso is named kubectl sso in usage and messages', async () => {
    assert.equal(programName('/usr/local/bin/kubectl-sso'), 'kubectl sso');
    assert.equal(programName('/repo/src/cli.ts'), 'sso-operator');
    assert.equal(programName(undefined), 'sso-operator');
    const help = await runCli(['check', '--help'], { prog: 'kubectl sso' });
    assert.ok(help.stdout.startsWith('Usage: kubectl sso check [flags] FILE|DIR...'));
    assert.doesNotMatch(help.stdout, /sso-operator check/);
    const bad = await runCli(['check'], { prog: 'kubectl sso' });
    assert.match(bad.stderr, /^kubectl sso check: give at least one FILE or DIR/);
  });

  it('the real binary, invoked as kubectl-sso through a symlink (as kubectl runs a plugin): check and --help, with exit codes', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'kubectl-sso-'));
    try {
      await symlink(join(REPO, 'src/cli.ts'), join(bin, 'kubectl-sso'));
      const run = (args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(join(bin, 'kubectl-sso'), args, {
            cwd: REPO,
            // The node of node_modules/.bin (Node 24) first, as in `npm test`.
            env: { PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH ?? ''}`, HOME: bin },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
          child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
          child.on('error', reject);
          child.on('exit', (code) => resolve({ code, stdout, stderr }));
        });
      const ok = await run(['check', '--demo-idp', 'examples']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'checked 5 files, 7 objects: 0 problems\n');
      const broken = await run(['check', '-o', 'json', 'test/fixtures/broken-manifests']);
      assert.equal(broken.code, 1, broken.stderr);
      assert.equal((JSON.parse(broken.stdout) as unknown[]).length, 56);
      const help = await run(['status', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: kubectl sso status/);
      const usage = await run(['nope']);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /^kubectl sso: unknown command "nope"/);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});

describe('sso-operator crds', () => {
  it('prints exactly the files of crds/ (generated from src/api in this binary), in name order', async () => {
    const r = await runCli(['crds']);
    assert.equal(r.code, 0);
    const files = ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml'];
    const expected = (await Promise.all(files.map((f) => readFile(join(REPO, 'crds', f), 'utf8')))).join('');
    assert.equal(r.stdout, expected);
  });

  it('does not read crds/ at run time: the same output from another folder', async () => {
    const elsewhere = await runCli(['crds'], { cwd: tmpdir() });
    assert.equal(elsewhere.stdout, (await runCli(['crds'])).stdout);
  });
});

describe('sso-operator login-url (a folder of manifests)', () => {
  it('prints the URL the status shows, for SAML, OIDC and OAuth2 connectors', async () => {
    assert.deepEqual(await runCli(['login-url', 'default/demo', '--manifests', 'examples']), { code: 0, stdout: 'http://localhost:8080/saml/default/demo/login\n', stderr: '' });
    const oidc = await runCli(['login-url', 'demo-oidc', '-n', 'default', '--manifests', 'examples', '--public-url', 'https://sso.example.com/base/']);
    assert.equal(oidc.stdout, 'https://sso.example.com/base/oidc/default/demo-oidc/login\n');
    const fromEnv = await runCli(['login-url', 'broken/valid-github', '--manifests', 'test/fixtures/broken-manifests'], { env: { SSO_PUBLIC_URL: 'https://sso.example.com' } });
    assert.equal(fromEnv.stdout, 'https://sso.example.com/oauth2/broken/valid-github/login\n');
    // A name without a namespace is in default.
    assert.equal((await runCli(['login-url', 'demo', '--manifests', 'examples'])).stdout, 'http://localhost:8080/saml/default/demo/login\n');
  });

  it('a connector that is not there, or whose manifest is refused: exit 1 with the reason', async () => {
    const missing = await runCli(['login-url', 'default/nope', '--manifests', 'examples']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no SsoConnector default\/nope in examples/);
    const refused = await runCli(['login-url', 'broken/cel-session-ttl', '--manifests', 'test/fixtures/broken-manifests']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the manifest of SsoConnector broken\/cel-session-ttl is refused: .*cel-session-ttl\.yaml document 0: \$\.spec\.session\.ttl: ttl must be a positive duration/);
    assert.equal(refused.stdout, '');
  });
});

describe('sso-operator status (a folder of manifests)', () => {

  it('shows the columns of kubectl get ssoconnectors and the conditions that are not fine; exit 1 while one is not Ready', async () => {
    const r = await runCli(['status', '--manifests', 'examples']);
    assert.equal(r.code, 1);
    const [table, conditions] = r.stdout.split('\n\n');
    assert.deepEqual(table!.split('\n').map((l) => l.split(/\s{3,}/)), [
      ['NAMESPACE', 'NAME', 'REFERENCE', 'TYPE', 'PROVIDER', 'READY', 'AGE'],
      ['default', 'demo', 'demo-idp', 'SAML2', '<none>', 'False', '<none>'],
      ['default', 'demo-encrypted', 'demo-idp-encrypted', 'SAML2', '<none>', 'Unknown', '<none>'],
      ['default', 'demo-oidc', '<none>', 'OIDC', '<none>', 'False', '<none>'],
    ]);
    const rows = conditions!.trimEnd().split('\n').map((l) => l.split(/\s{3,}/).slice(0, 4));
    assert.deepEqual(rows[0], ['CONNECTOR', 'CONDITION', 'STATUS', 'REASON']);
    assert.deepEqual(rows.slice(1), [
      ['default/demo', 'Ready', 'False', 'SecretNotFound'],
      ['default/demo', 'SecretsResolved', 'False', 'SecretNotFound'],
      ['default/demo', 'CertificatesValid', 'Unknown', 'SecretsUnresolved'],
      ['default/demo', 'CertificateExpiringSoon', 'Unknown', 'CertificatesNotValid'],
      ['default/demo-encrypted', 'Ready', 'Unknown', 'NotFetched'],
      ['default/demo-encrypted', 'MetadataUnsigned', 'True', 'NoSigningCertificates'],
      ['default/demo-encrypted', 'IdPMetadataSynced', 'Unknown', 'NotFetched'],
      ['default/demo-encrypted', 'CertificatesValid', 'Unknown', 'IdPMetadataUnavailable'],
      ['default/demo-encrypted', 'CertificateExpiringSoon', 'Unknown', 'CertificatesNotValid'],
      ['default/demo-oidc', 'Ready', 'False', 'SecretNotFound'],
      ['default/demo-oidc', 'ClientCredentialsValid', 'False', 'SecretNotFound'],
      ['default/demo-oidc', 'OIDCDiscoverySucceeded', 'Unknown', 'NotFetched'],
    ]);
  });

  it('with --demo-idp the SAML connector is Ready; OIDC discovery is not fetched offline (Unknown, not a failure): exit 0; -o wide adds the priority-1 columns', async () => {
    const r = await runCli(['status', '--manifests', 'examples', '--demo-idp', '-o', 'wide']);
    assert.equal(r.code, 0, r.stdout);
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines[0]!.split(/\s{3,}/), ['NAMESPACE', 'NAME', 'REFERENCE', 'TYPE', 'ISSUER', 'ENDPOINT', 'OIDC ISSUER', 'PROVIDER', 'NAMEID', 'READY', 'AGE']);
    assert.deepEqual(lines[1]!.split(/\s{3,}/), ['default', 'demo', 'demo-idp', 'SAML2', 'http://localhost:8080/demo-idp/metadata', 'http://localhost:8080/demo-idp/sso', '<none>', '<none>', 'EmailAddress', 'True', '<none>']);
    assert.match(r.stdout, /default\/demo-oidc\s+OIDCDiscoverySucceeded\s+Unknown\s+NotFetched\s+the discovery document of http:\/\/localhost:8080\/demo-op was not fetched/);
    assert.doesNotMatch(r.stdout, /default\/demo\s/);
  });

  it('-o json and -o yaml: one object per connector with the columns, the login URL and the conditions that are not fine', async () => {
    const r = await runCli(['status', '--manifests', 'examples', '--demo-idp', '-o', 'json']);
    assert.equal(r.code, 0);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.deepEqual(list[0], {
      namespace: 'default',
      name: 'demo',
      reference: 'demo-idp',
      type: 'SAML2',
      issuer: 'http://localhost:8080/demo-idp/metadata',
      endpoint: 'http://localhost:8080/demo-idp/sso',
      nameID: 'EmailAddress',
      ready: 'True',
      loginURL: 'http://localhost:8080/saml/default/demo/login',
      conditions: [],
    });
    const oidc = list.find((c) => c.name === 'demo-oidc')!;
    assert.equal(oidc.loginURL, 'http://localhost:8080/oidc/default/demo-oidc/login');
    assert.deepEqual((oidc.conditions as { reason: string }[]).map((c) => c.reason), ['NotFetched', 'NotFetched']);
    // The example configured only from the demo IdP's metadata: not fetched offline either.
    const encrypted = list.find((c) => c.name === 'demo-encrypted')!;
    assert.equal(encrypted.ready, 'Unknown');
    assert.ok((encrypted.conditions as { reason: string }[]).some((c) => c.reason === 'NotFetched'));
    const yaml = await runCli(['status', '--manifests', 'examples', '--demo-idp', '-o', 'yaml']);
    assert.deepEqual(parseYaml(yaml.stdout), list);
  });

  it('a refused connector manifest shows as the controller shows it (Ready=False ManifestInvalid); -n filters; a note points to check', async () => {
    const r = await runCli(['status', '--manifests', 'test/fixtures/broken-manifests', '-n', 'broken']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^NAME\s+REFERENCE\s+TYPE\s+PROVIDER\s+READY\s+AGE$/m);
    assert.match(r.stdout, /^cel-session-ttl\s+<none>\s+<none>\s+<none>\s+False\s+<none>$/m);
    assert.match(r.stdout, /^cel-session-ttl\s+Ready\s+False\s+ManifestInvalid\s+test\/fixtures\/broken-manifests\/cel-session-ttl\.yaml document 0: \$\.spec\.session\.ttl: ttl must be a positive duration$/m);
    assert.match(r.stdout, /^valid-github\s+<none>\s+OAuth2\s+GitHub\s+True\s+<none>$/m);
    assert.match(r.stdout, /^reference-conflict-b\s+ReferenceUnique\s+False\s+ReferenceConflict\s/m);
    assert.match(r.stderr, /^note: 40 manifest problem\(s\) \(refused documents, duplicates\); sso-operator check test\/fixtures\/broken-manifests lists them$/m);
    const other = await runCli(['status', '--manifests', 'examples', '-n', 'elsewhere']);
    assert.equal(other.code, 0);
    assert.equal(other.stdout, '');
    assert.equal(other.stderr, 'No resources found in elsewhere namespace.\n');
  });
});

describe('status helpers', () => {
  it('humanDuration prints ages as kubectl does', () => {
    const s = 1000;
    const cases: [number, string][] = [
      [-5 * s, '<invalid>'],
      [0, '0s'],
      [119 * s, '119s'],
      [120 * s, '2m'],
      [(9 * 60 + 5) * s, '9m5s'],
      [179 * 60 * s, '179m'],
      [3 * 3600 * s, '3h'],
      [(7 * 3600 + 30 * 60) * s, '7h30m'],
      [47 * 3600 * s, '47h'],
      [(3 * 24 + 5) * 3600 * s, '3d5h'],
      [400 * 24 * 3600 * s, '400d'],
      [(3 * 365 + 10) * 24 * 3600 * s, '3y10d'],
      [10 * 365 * 24 * 3600 * s, '10y'],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, String(ms));
  });

  it('evalJsonPath reads the printer columns the CRD declares', () => {
    const obj = { spec: { reference: 'r', saml: { idp: { entityID: 'e' } } }, status: { conditions: [{ type: 'Other', status: 'x' }, { type: 'Ready', status: 'False' }] } };
    assert.equal(evalJsonPath(obj, '.spec.reference'), 'r');
    assert.equal(evalJsonPath(obj, '.spec.saml.idp.entityID'), 'e');
    assert.equal(evalJsonPath(obj, '.spec.oidc.issuer'), undefined);
    assert.equal(evalJsonPath(obj, '.status.conditions[?(@.type=="Ready")].status'), 'False');
    assert.equal(evalJsonPath(obj, '.status.conditions[0].type'), 'Other');
    assert.throws(() => evalJsonPath(obj, '.spec..x'), /unsupported JSONPath/);
  });

  it('columnKey and formatTable', () => {
    assert.deepEqual(['Reference', 'OIDC Issuer', 'NameID', 'Ready'].map(columnKey), ['reference', 'oidcIssuer', 'nameID', 'ready']);
    assert.equal(formatTable(['A', 'LONG'], [['xx', 'y'], ['x', 'zz']]), 'A    LONG\nxx   y\nx    zz\n');
  });
});

describe('login-url and status against a cluster that does not answer', () => {
  it('exit 1 with the reason, within the request time limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sso-cli-kubeconfig-'));
    try {
      const kubeconfig = join(dir, 'config');
      await writeFile(
        kubeconfig,
        `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: team-a}}]
current-context: ctx
`,
      );
      const status = await runCli(['status', '--kubeconfig', kubeconfig]);
      assert.equal(status.code, 1);
      assert.match(status.stderr, /^sso-operator status: list SsoConnectors in team-a: .*ECONNREFUSED/);
      const login = await runCli(['login-url', 'demo', '--kubeconfig', kubeconfig]);
      assert.equal(login.code, 1);
      assert.match(login.stderr, /get SsoConnector team-a\/demo: .*ECONNREFUSED/);
      const context = await runCli(['status', '--kubeconfig', kubeconfig, '--context', 'nope']);
      assert.equal(context.code, 2);
      assert.match(context.stderr, /the kubeconfig has no context "nope"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
