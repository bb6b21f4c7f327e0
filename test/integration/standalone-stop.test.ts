// Stopping a real standalone operator while a client stalls in the middle of
// a request body: Node's request timeout stops with the server, so without a
// bound fastify's close() would wait for that client for ever, past the CLI's
// 10 s shutdown bound. stop() cuts what is still open at the end of its
// grace (STOP_GRACE_MS), logs it, and finishes; a request that completes in
// time is answered as before.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { afterAll, describe, test } from '@jest/globals';
import { STOP_GRACE_MS } from '../../src/operator.ts';
import { REQUEST_TIMEOUT_MS } from '../../src/server/public-app.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

let op: TestOperator | undefined;
afterAll(async () => {
  await op?.stop().catch(() => undefined);
});

function connectorYaml(pem: string): string {
  return [
    'apiVersion: sso.operator.dev/v1alpha1',
    'kind: SsoConnector',
    'metadata:',
    '  name: demo',
    'spec:',
    '  protocol: SAML2',
    '  saml:',
    '    idp:',
    '      entityID: https://idp.example.test/metadata',
    '      ssoURL: https://idp.example.test/sso',
    '      certificates:',
    '        - pem: |',
    ...pem.trim().split('\n').map((l) => `            ${l}`),
    '',
  ].join('\n');
}

describe('stopping with a request stalled in its body', () => {
  test('the public listener has its request timeout; stop() closes a stalled connection at the end of its grace and finishes', async () => {
    const idp = await signingIdentity('idp');
    op = await startTestOperator({ manifests: { 'demo.yaml': connectorYaml(idp.certPem) } });
    const server = op.operator.publicApp.server;
    assert.equal(server.requestTimeout, REQUEST_TIMEOUT_MS);
    assert.equal(server.headersTimeout, Math.min(60_000, REQUEST_TIMEOUT_MS));
    await waitFor(async () => (await fetch(`${op!.baseURL}/saml/default/demo/metadata`)).status === 200);
    const { port } = new URL(op.baseURL);
    // A form post with a state cookie (read by fastify's body parser) and one without (read by the listener), each a tenth sent.
    const stalled = ['__Host-sso_state=x; sso_state=x', ''].map(
      (cookie) =>
        new Promise<number>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          const headers = [`host: 127.0.0.1:${port}`, 'content-type: application/x-www-form-urlencoded', 'content-length: 100000', ...(cookie ? [`cookie: ${cookie}`] : [])];
          socket.write(`POST /saml/default/demo/acs HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\nSAMLResponse=${'A'.repeat(10_000)}`);
          socket.on('close', () => resolve(Date.now()));
          socket.on('error', () => undefined);
          socket.setTimeout(20_000, () => reject(new Error('the stalled connection was never closed')));
        }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await op.stop();
    const stoppedMs = Date.now() - t0;
    const closedMs = (await Promise.all(stalled)).map((t) => t - t0);
    assert.ok(stoppedMs >= STOP_GRACE_MS - 1000 && stoppedMs < 10_000, `stop() took ${stoppedMs} ms: about the grace, within the 10 s bound`);
    for (const ms of closedMs) assert.ok(ms < 10_000, `closed after ${ms} ms`);
    assert.ok(op.logs.some((l) => l.msg === 'requests still in flight at the end of the shutdown grace: their connections are closed'), 'logged');
    assert.ok(op.logs.some((l) => l.msg === 'stopped'));
    op = undefined;
  }, 30_000);

  test('--request-timeout sets the limit: a body stalled past it gets its 408 RequestTimeout, on both paths', async () => {
    const idp = await signingIdentity('idp');
    op = await startTestOperator({ manifests: { 'demo.yaml': connectorYaml(idp.certPem) }, requestTimeoutSeconds: 1 });
    const server = op.operator.publicApp.server;
    assert.equal(server.requestTimeout, 1000);
    assert.equal(server.headersTimeout, 1000);
    await waitFor(async () => (await fetch(`${op!.baseURL}/saml/default/demo/metadata`)).status === 200);
    const { port } = new URL(op.baseURL);
    const t0 = Date.now();
    const answers = await Promise.all(
      ['__Host-sso_state=x; sso_state=x', ''].map(
        (cookie) =>
          new Promise<{ head: string; ms: number }>((resolve, reject) => {
            const socket = connect(Number(port), '127.0.0.1');
            const headers = [`host: 127.0.0.1:${port}`, 'content-type: application/x-www-form-urlencoded', 'content-length: 100000', ...(cookie ? [`cookie: ${cookie}`] : [])];
            socket.write(`POST /saml/default/demo/acs HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\nSAMLResponse=${'A'.repeat(10_000)}`);
            let got = '';
            socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
            socket.on('close', () => resolve({ head: got.split('\r\n')[0] ?? '', ms: Date.now() - t0 }));
            socket.on('error', () => undefined);
            socket.setTimeout(10_000, () => reject(new Error('no answer within 10 s')));
          }),
      ),
    );
    for (const a of answers) {
      assert.equal(a.head, 'HTTP/1.1 408 Request Timeout');
      // Node checks the limit every quarter of it (at least every 100 ms).
      assert.ok(a.ms >= 900 && a.ms < 4000, `answered after ${a.ms} ms`);
    }
    await op.stop();
    op = undefined;
  }, 30_000);
});
