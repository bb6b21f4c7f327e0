// The admin CLI's cluster reads against a real kube-apiserver: the status a
// real operator wrote (a replica as its own process, watching team-a only),
// read back by `status` (table and json, one namespace and all of them) and
// `login-url` (status.loginURL, or computed from --public-url while an object
// has no status yet).

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import { generateSigningIdentity } from '../../src/demo-idp/keys.ts';
import { runCli } from '../support/cli.ts';
import { applyOk, createNamespaces, getObject, GROUP_VERSION, installCrds, pollFor, type K8sObject } from '../support/cluster-fixtures.ts';
import { startReplica, type Replica } from '../support/fault-tools.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';

describe('sso-operator status and login-url against a real apiserver', () => {
  jest.setTimeout(120_000);
  let cp: ControlPlane;
  let op: Replica;
  const kube = () => ['--kubeconfig', cp.kubeconfigPath];

  const ready = async (ns: string, name: string) => {
    const c = await getObject(cp, GROUP_VERSION, 'SsoConnector', ns, name);
    return (c?.status?.conditions as { type: string; status: string }[] | undefined)?.find((x) => x.type === 'Ready')?.status;
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    await installCrds(cp);
    await createNamespaces(cp, ['sso-system', 'team-a', 'team-b']);
    const idp = await generateSigningIdentity({ commonName: 'cli-cluster IdP', days: 365, algorithm: 'EC' });
    const objects: K8sObject[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'idp-cert', namespace: 'team-a' }, stringData: { 'tls.crt': idp.certPem } },
      {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: 'corp', namespace: 'team-a' },
        spec: {
          reference: 'corp-main',
          protocol: 'SAML2',
          saml: { idp: { entityID: 'https://idp.example.com/metadata', ssoURL: 'https://idp.example.com/sso', certificates: [{ secretRef: { name: 'idp-cert', key: 'tls.crt' } }] } },
        },
      },
      // Its client Secret is missing: Ready=False, SecretNotFound.
      {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: 'gh', namespace: 'team-a' },
        spec: { protocol: 'OAuth2', oauth2: { provider: 'GitHub', clientID: 'x', clientSecretRef: { name: 'gh-client', key: 'client-secret' } } },
      },
      // team-b is not watched: no status is ever written.
      {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: 'other', namespace: 'team-b' },
        spec: { protocol: 'OIDC', oidc: { issuer: 'https://login.example.com', clientID: 'x', clientSecretRef: { name: 'c', key: 'k' } } },
      },
    ];
    await applyOk(cp, ...objects);
    op = await startReplica({ kubeconfigPath: cp.kubeconfigPath, identity: 'sso-operator-0', namespace: 'sso-system', watch: ['team-a'] });
    await pollFor('the operator wrote both statuses', async () => (await ready('team-a', 'corp')) === 'True' && (await ready('team-a', 'gh')) === 'False', 30_000, 100);
  });

  afterAll(async () => {
    await op?.destroy();
    await cp?.stop();
  });

  it('status -n team-a: the kubectl get columns from the status the operator wrote, the conditions that are not fine; exit 1 (gh is not Ready)', async () => {
    const r = await runCli(['status', ...kube(), '-n', 'team-a']);
    assert.equal(r.code, 1, r.stderr);
    const [table, conditions] = r.stdout.split('\n\n');
    const rows = table!.split('\n').map((l) => l.split(/\s{3,}/));
    assert.deepEqual(rows[0], ['NAME', 'REFERENCE', 'TYPE', 'PROVIDER', 'READY', 'AGE']);
    assert.deepEqual(rows[1]!.slice(0, 5), ['corp', 'corp-main', 'SAML2', '<none>', 'True']);
    assert.deepEqual(rows[2]!.slice(0, 5), ['gh', '<none>', 'OAuth2', 'GitHub', 'False']);
    for (const row of rows.slice(1)) assert.match(row[5]!, /^\d+(s|m\d*s?)$/, 'AGE from metadata.creationTimestamp');
    const lines = conditions!.trimEnd().split('\n').map((l) => l.split(/\s{3,}/));
    assert.deepEqual(lines[0], ['CONNECTOR', 'CONDITION', 'STATUS', 'REASON', 'MESSAGE']);
    assert.deepEqual(lines.slice(1).map((l) => l.slice(0, 4)), [
      ['gh', 'Ready', 'False', 'SecretNotFound'],
      ['gh', 'ClientCredentialsValid', 'False', 'SecretNotFound'],
    ]);
    assert.equal(lines[1]![4], 'Secret team-a/gh-client not found');
  });

  it('status -A -o json: every namespace; a connector without status says so (NoStatus)', async () => {
    const r = await runCli(['status', ...kube(), '-A', '-o', 'json']);
    assert.equal(r.code, 1);
    const list = JSON.parse(r.stdout) as { namespace: string; name: string; ready?: string; loginURL?: string; creationTimestamp?: string; conditions: { type: string; status: string; reason: string }[] }[];
    assert.deepEqual(list.map((c) => `${c.namespace}/${c.name} ${c.ready ?? '-'}`), ['team-a/corp True', 'team-a/gh False', 'team-b/other -']);
    assert.equal(list[0]!.loginURL, `${op.baseURL}/saml/team-a/corp/login`);
    assert.ok(list[0]!.creationTimestamp);
    assert.deepEqual(list[0]!.conditions, []);
    assert.deepEqual(list[2]!.conditions.map((c) => `${c.type} ${c.status} ${c.reason}`), ['Ready Unknown NoStatus']);
    const table = await runCli(['status', ...kube(), '--all-namespaces']);
    assert.match(table.stdout, /^NAMESPACE\s+NAME\s+REFERENCE/);
    assert.match(table.stdout, /^team-b\/other\s+Ready\s+Unknown\s+NoStatus\s+no status yet/m);
  });

  it("status without -n reads the context's namespace (default here): nothing there, exit 0", async () => {
    const r = await runCli(['status', ...kube()]);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: 'No resources found in default namespace.\n' });
  });

  it('login-url prints the status.loginURL the operator wrote', async () => {
    assert.deepEqual(await runCli(['login-url', 'team-a/corp', ...kube()]), { code: 0, stdout: `${op.baseURL}/saml/team-a/corp/login\n`, stderr: '' });
    assert.equal((await runCli(['login-url', 'gh', '-n', 'team-a', ...kube()])).stdout, `${op.baseURL}/oauth2/team-a/gh/login\n`);
    // --public-url does not override what the operator publishes; a different one is pointed out.
    const other = await runCli(['login-url', 'team-a/corp', ...kube(), '--public-url', 'https://sso.example.com']);
    assert.equal(other.stdout, `${op.baseURL}/saml/team-a/corp/login\n`);
    assert.match(other.stderr, /not under --public-url https:\/\/sso\.example\.com/);
  });

  it('login-url of a connector without status: exit 1, or computed from --public-url; of one that does not exist: exit 1', async () => {
    const none = await runCli(['login-url', 'team-b/other', ...kube()]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no status\.loginURL yet .*give --public-url/);
    const computed = await runCli(['login-url', 'team-b/other', ...kube(), '--public-url', 'https://sso.example.com']);
    assert.equal(computed.code, 0);
    assert.equal(computed.stdout, 'https://sso.example.com/oidc/team-b/other/login\n');
    assert.match(computed.stderr, /computed from --public-url/);
    const missing = await runCli(['login-url', 'team-a/nope', ...kube()]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'sso-operator: SsoConnector team-a/nope not found\n');
  });
});
