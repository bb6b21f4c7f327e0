// The key store against a fake apiserver on loopback (the real one is in
// test/integration/kube-session-keys.test.ts): what its watch loop does at
// stop() and with a broken stream, which a real apiserver seldom shows.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from '@jest/globals';
import { KubeKeyStore } from '../../../src/session/kube-key-store.ts';
import { generateKeySet, serializeKeySet } from '../../../src/session/keys.ts';
import { loadKubeAccess } from '../../../src/store/kube-access.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fake {
  server: http.Server;
  requests: { method: string; url: string; at: number }[];
  kubeconfig: string;
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A Secret GET answers at once; the list takes `listMs`; a watch answers `watch` (held open when undefined). */
async function fakeApiserver(o: { listMs: number; watch?: string }): Promise<Fake> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'sso-operator-session-keys', namespace: 'ns', resourceVersion: '5', annotations: { 'sso.operator.dev/rotated-at': new Date().toISOString() } },
    data: { 'keys.json': Buffer.from(serializeKeySet(generateKeySet())).toString('base64') },
  };
  const requests: Fake['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', at: Date.now() });
    res.setHeader('content-type', 'application/json');
    if (req.url?.includes('watch=true')) {
      res.writeHead(200);
      if (o.watch !== undefined) res.end(o.watch);
      else res.write('');
      return;
    }
    if (req.url?.includes('fieldSelector')) {
      setTimeout(() => res.end(JSON.stringify({ kind: 'SecretList', metadata: { resourceVersion: '9' }, items: [secret] })), o.listMs);
      return;
    }
    res.end(JSON.stringify(secret));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = await mkdtemp(join(tmpdir(), 'sso-keystore-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const { port } = server.address() as AddressInfo;
  await writeFile(kubeconfig, `current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\n`);
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  return { server, requests, kubeconfig };
}

function quietLogger(lines: string[] = []) {
  const log = (obj: object, msg: string) => lines.push(`${msg} ${JSON.stringify(obj)}`);
  return { info: log, warn: log, error: log };
}

describe('KubeKeyStore watch loop (fake apiserver)', () => {
  it('opens no watch once stopped, even when stop() comes while the Secret is being re-read', async () => {
    const fake = await fakeApiserver({ listMs: 300 });
    const store = new KubeKeyStore({ kubeConfig: await loadKubeAccess(fake.kubeconfig), namespace: 'ns', isLeader: () => false, logger: quietLogger() });
    await store.start();
    // The re-read (a list) is under way now; stop before it answers.
    await store.stop();
    const stoppedAt = Date.now();
    await sleep(600);
    assert.ok(fake.requests.some((r) => r.url.includes('fieldSelector') && !r.url.includes('watch=true')), 'the re-read was under way');
    assert.deepEqual(fake.requests.filter((r) => r.url.includes('watch=true') && r.at >= stoppedAt), [], 'no watch after stop()');
    const open = await new Promise<number>((r) => fake.server.getConnections((_e, n) => r(n)));
    assert.equal(open, 0, 'no connection left open');
  });

  it('logs a broken watch stream without quoting it (it may be Secret data)', async () => {
    const fake = await fakeApiserver({ listMs: 0, watch: '{"type":"MODIFIED","object":{"data":{"keys.json":"SECRETSECRETSECRET' });
    const lines: string[] = [];
    const store = new KubeKeyStore({ kubeConfig: await loadKubeAccess(fake.kubeconfig), namespace: 'ns', isLeader: () => false, logger: quietLogger(lines) });
    await store.start();
    await sleep(400);
    await store.stop();
    const failures = lines.filter((l) => l.includes('watch failed'));
    assert.ok(failures.length > 0, lines.join('\n'));
    assert.ok(failures.every((l) => !l.includes('SECRET')), failures.join('\n'));
    assert.match(failures[0]!, /not JSON/);
  });
});
