import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeconfigError, loadKubeAccess } from '../../../src/store/kube-access.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sso-kubeaccess-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SECRET_TOKEN = 'tok-3a9f0c1e-never-logged';

function kubeconfig(cluster: string, user: string, extra = ''): string {
  return `apiVersion: v1
kind: Config
current-context: ctx
contexts:
- name: ctx
  context: {cluster: c1, user: u1}
- name: other
  context: {cluster: c2, user: u2}
clusters:
- name: c1
  cluster:
${cluster}
- name: c2
  cluster: {server: "https://wrong.example"}
users:
- name: u1
  user:
${user}
- name: u2
  user: {token: wrong}
${extra}`;
}

async function load(text: string) {
  const path = join(dir, 'kubeconfig');
  await writeFile(path, text);
  return loadKubeAccess(path);
}

describe('loadKubeAccess: a kubeconfig file', () => {
  it("reads the current context's cluster and user: files relative to the kubeconfig, data fields, token", async () => {
    await writeFile(join(dir, 'ca.crt'), 'CA-PEM');
    const access = await load(kubeconfig('    server: https://10.0.0.1:6443/\n    certificate-authority: ca.crt\n    tls-server-name: api.internal', `    client-certificate-data: ${Buffer.from('CERT-PEM').toString('base64')}\n    client-key-data: ${Buffer.from('KEY-PEM').toString('base64')}\n    token: ${SECRET_TOKEN}`));
    assert.deepEqual(access.getCurrentCluster(), { name: 'c1', server: 'https://10.0.0.1:6443/', skipTLSVerify: false, tlsServerName: 'api.internal' });
    const opts: https.RequestOptions = { headers: { accept: 'application/json' } };
    await access.applyToHTTPSOptions(opts);
    assert.equal(String(opts.ca), 'CA-PEM');
    assert.equal(String(opts.cert), 'CERT-PEM');
    assert.equal(String(opts.key), 'KEY-PEM');
    assert.equal(opts.servername, 'api.internal');
    assert.equal(opts.rejectUnauthorized, undefined);
    assert.deepEqual(opts.headers, { accept: 'application/json', Authorization: `Bearer ${SECRET_TOKEN}` });
    assert.ok(opts.agent instanceof https.Agent);
    const again: https.RequestOptions = {};
    await access.applyToHTTPSOptions(again);
    assert.equal(again.agent, opts.agent, 'one agent per config (kube-agent.ts keeps its keep-alive twin)');
  });

  it('prefers a token file to an inline token, as client-go does, and refuses an empty one', async () => {
    await writeFile(join(dir, 'token'), 'from-file\n');
    const both = await load(kubeconfig('    server: https://k', `    token: ${SECRET_TOKEN}\n    tokenFile: token`));
    const opts: https.RequestOptions = {};
    await both.applyToHTTPSOptions(opts);
    assert.equal((opts.headers as Record<string, string>).Authorization, 'Bearer from-file');
    await writeFile(join(dir, 'token'), '\n');
    await assert.rejects(load(kubeconfig('    server: https://k', '    tokenFile: token')), /tokenFile .* cannot be read or is empty/);
  });

  it('never writes the kubeconfig to stderr: YAML warnings quote the line', async () => {
    const warnings: string[] = [];
    const listen = (w: Error) => warnings.push(`${w.name} ${w.message}`);
    process.on('warning', listen);
    const write = process.stderr.write;
    const written: string[] = [];
    process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      await load(kubeconfig('    server: https://k', `    token: !secret ${SECRET_TOKEN}`));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.stderr.write = write;
      process.off('warning', listen);
    }
    assert.deepEqual(warnings.filter((w) => w.includes(SECRET_TOKEN)), []);
    assert.deepEqual(written.filter((w) => w.includes(SECRET_TOKEN)), []);
  });

  it('reads a token file, and basic auth', async () => {
    await writeFile(join(dir, 'token'), `${SECRET_TOKEN}\n`);
    const fromFile = await load(kubeconfig('    server: https://k', '    tokenFile: token'));
    const opts: https.RequestOptions = {};
    await fromFile.applyToHTTPSOptions(opts);
    assert.equal((opts.headers as Record<string, string>).Authorization, `Bearer ${SECRET_TOKEN}`);
    const basic = await load(kubeconfig('    server: https://k\n    insecure-skip-tls-verify: true', '    username: admin\n    password: pw'));
    const b: https.RequestOptions = {};
    await basic.applyToHTTPSOptions(b);
    assert.equal(b.auth, 'admin:pw');
    assert.equal(b.rejectUnauthorized, false);
    assert.equal(b.headers, undefined, 'no Authorization header without a token');
  });

  it('keeps TLS verification on unless insecure-skip-tls-verify is the boolean true', async () => {
    const quoted = await load(kubeconfig('    server: https://k\n    insecure-skip-tls-verify: "true"', ''));
    const opts: https.RequestOptions = {};
    await quoted.applyToHTTPSOptions(opts);
    assert.equal(opts.rejectUnauthorized, undefined);
    assert.equal(quoted.getCurrentCluster()?.skipTLSVerify, false);
    await assert.rejects(load(kubeconfig('    server: HTTP://127.0.0.1:8080', '')), /http:\/\/ server is allowed only/);
  });

  it('allows plain HTTP only with insecure-skip-tls-verify, as client-node does', async () => {
    await assert.rejects(load(kubeconfig('    server: http://127.0.0.1:8080', `    token: ${SECRET_TOKEN}`)), (err: Error) => err instanceof KubeconfigError && /insecure-skip-tls-verify/.test(err.message) && !err.message.includes(SECRET_TOKEN));
    const access = await load(kubeconfig('    server: http://127.0.0.1:8080\n    insecure-skip-tls-verify: true', ''));
    const opts: https.RequestOptions = {};
    await access.applyToHTTPSOptions(opts);
    assert.ok(opts.agent instanceof http.Agent && !(opts.agent instanceof https.Agent));
  });

  it('hands exec, auth-provider and impersonating users and proxied clusters to client-node', async () => {
    const exec = await load(kubeconfig('    server: https://k', '    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/false}'));
    assert.ok(exec instanceof KubeConfig);
    // Impersonation is not silently dropped (the operator would run with the base identity, often an admin).
    const as = await load(kubeconfig('    server: https://k', `    token: ${SECRET_TOKEN}\n    as: system:serviceaccount:sso:operator`));
    assert.ok(as instanceof KubeConfig);
    const opts: https.RequestOptions = {};
    await as.applyToHTTPSOptions(opts);
    assert.equal((opts.headers as Record<string, string>)['Impersonate-User'], 'system:serviceaccount:sso:operator');
    const proxied = await load(kubeconfig('    server: https://k\n    proxy-url: http://proxy:3128', `    token: ${SECRET_TOKEN}`));
    assert.ok(proxied instanceof KubeConfig);
    assert.equal(proxied.getCurrentCluster()?.server, 'https://k');
  });

  it('refuses a broken kubeconfig with the file and field named, and no credential in the message', async () => {
    const cases: [string, RegExp][] = [
      [`current-context: ctx\nusers: [{name: u1, user: {token: "${SECRET_TOKEN}"}}]\n  bad: [`, /not valid YAML/],
      [kubeconfig('    server: https://k', `    token: ${SECRET_TOKEN}`).replace('current-context: ctx', 'current-context: nope'), /no context named "nope"/],
      [kubeconfig('    insecure-skip-tls-verify: true', `    token: ${SECRET_TOKEN}`), /has no server/],
      [kubeconfig('    server: https://k\n    certificate-authority: missing.crt', `    token: ${SECRET_TOKEN}`), /certificate-authority .*missing\.crt cannot be read/],
      [kubeconfig('    server: https://k', '    token: [1, 2]'), /token is not a string/],
      [kubeconfig('    server: https://k', '    tokenFile: no-such-file'), /tokenFile .*no-such-file cannot be read/],
      [kubeconfig('    server: https://k\n    insecure-skip-tls-verify: true\n    certificate-authority-data: Q0E=', `    token: ${SECRET_TOKEN}`), /certificate authority and insecure-skip-tls-verify/],
      [kubeconfig('    server: https://k', `    token: ${SECRET_TOKEN}`).replace('context: {cluster: c1, user: u1}', 'context: {user: u1}'), /no cluster named/],
      // Handed to client-node (impersonation), which refuses a cluster without a server: its message is not passed on.
      [kubeconfig('    insecure-skip-tls-verify: true', `    token: ${SECRET_TOKEN}\n    as: someone`), /cannot be loaded/],
      ['{}', /no current-context/],
    ];
    for (const [text, why] of cases) {
      await assert.rejects(load(text), (err: Error) => {
        assert.ok(err instanceof KubeconfigError, err.message);
        assert.match(err.message, why);
        assert.ok(err.message.includes(join(dir, 'kubeconfig')), err.message);
        assert.ok(!err.message.includes(SECRET_TOKEN), err.message);
        return true;
      });
    }
    await assert.rejects(loadKubeAccess(join(dir, 'absent')), /no such file/);
  });
});

describe('loadKubeAccess: in a pod', () => {
  it('says what is missing outside a pod', async () => {
    await assert.rejects(loadKubeAccess(undefined, {}), (err: Error) => err instanceof KubeconfigError && /KUBERNETES_SERVICE_HOST/.test(err.message) && /--kubeconfig/.test(err.message));
  });
});
