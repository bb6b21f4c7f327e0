// Trust changes first in standalone mode too: with 20,000 bindings in the
// manifest folder, a certificate removal, a connector disable and a binding
// deny (each an edit of one file) take effect for sign-ins and /auth/verify
// within 1 s, five times each. The store parses only the file that changed;
// status is written after serving state, never before it.
//
// Runs alone, after the rest of the suite (npm run test:scale), like the
// cluster-mode one.

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import { createLogger, startStandalone, type StandaloneOperator } from '../../src/operator.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { signIn as signInAs, summary, takesEffect, verify as verifyAt } from '../support/trust-probes.ts';

const BINDINGS = 20_000;
const REPEATS = 5;
const LIMIT_MS = 1000;
const IDP_ENTITY = 'https://idp.standalone.example.test/metadata';
const note = (msg: string) => console.log(`[timing] ${msg}`);

const secretYaml = (certPem: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: idp, namespace: default}\ndata: {tls.crt: ${Buffer.from(certPem).toString('base64')}}\n`;
const connectorYaml = (enabled: boolean) =>
  [
    'apiVersion: sso.operator.dev/v1alpha1',
    'kind: SsoConnector',
    'metadata: {name: app, namespace: default}',
    'spec:',
    `  enabled: ${enabled}`,
    '  protocol: SAML2',
    '  saml:',
    `    idp: {entityID: "${IDP_ENTITY}", ssoURL: "https://idp.standalone.example.test/sso", certificates: [{secretRef: {name: idp, key: tls.crt}}]}`,
    '    idpInitiated: {enabled: true, redirectPath: /app}',
    '',
  ].join('\n');
const bindingYaml = (name: string, user: string, approval = 'Approved') =>
  `apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata: {name: ${name}, namespace: default}\nspec: {user: ${user}, connectors: [app], approval: ${approval}}\n`;

describe(`standalone: trust changes first with ${BINDINGS} bindings in the folder`, () => {
  let dir: string;
  let op: StandaloneOperator;
  let baseURL: string;
  let trusted: SigningIdentity;
  let untrusted: SigningIdentity;

  /** Writes a manifest the way an editor or GitOps agent should: whole, by rename. */
  async function put(file: string, text: string): Promise<void> {
    await writeFile(join(dir, `.${file}.tmp`), text);
    await rename(join(dir, `.${file}.tmp`), join(dir, file));
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sso-standalone-trust-'));
    [trusted, untrusted] = await Promise.all([signingIdentity('standalone-a'), signingIdentity('standalone-b')]);
    await put('secret.yaml', secretYaml(trusted.certPem));
    await put('connector.yaml', connectorYaml(true));
    await put('alice.yaml', bindingYaml('alice', 'alice@example.com'));
    const docs = Array.from({ length: BINDINGS }, (_, i) => bindingYaml(`u${i}`, `u${i}@example.com`));
    for (let f = 0; f < 4; f++) await put(`bindings-${f}.yaml`, docs.slice((f * BINDINGS) / 4, ((f + 1) * BINDINGS) / 4).join('---\n'));
    const t0 = performance.now();
    op = await startStandalone(
      {
        manifests: dir,
        demoIdp: false,
        listen: { host: '127.0.0.1', port: 0 },
        adminListen: { host: '127.0.0.1', port: 0 },
        publicURL: 'http://127.0.0.1:8080',
        allowedRedirectHosts: [],
        trustProxy: false,
        logLevel: 'warn',
        stateDir: join(dir, '.state'),
        namespaces: [],
      },
      createLogger('warn'),
    );
    baseURL = op.publicAddress;
    note(`standalone start with ${BINDINGS + 1} bindings in the folder: ready in ${(performance.now() - t0).toFixed(0)} ms`);
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  const probe = () => ({ baseURL, publicURL: 'http://127.0.0.1:8080', namespace: 'default', connector: 'app', issuer: IDP_ENTITY });
  const signIn = (key: SigningIdentity) => signInAs(probe(), key);
  const verify = (cookie: string) => verifyAt(baseURL, cookie);

  it('a certificate removal, a connector disable and a binding deny each take effect within 1 s, five times', async () => {
    const delays = { cert: [] as number[], disable: [] as number[], deny: [] as number[] };
    for (let i = 0; i < REPEATS; i++) {
      // Certificate removal: the only trusted certificate replaced.
      assert.equal((await signIn(trusted)).status, 303);
      let t0 = performance.now();
      await put('secret.yaml', secretYaml(untrusted.certPem));
      const removed = trusted;
      delays.cert.push(await takesEffect('certificate removal', t0, async () => (await signIn(removed)).status === 401));
      [trusted, untrusted] = [untrusted, trusted];
      assert.equal((await signIn(trusted)).status, 303);

      // Connector disabled: sessions stop verifying, sign-ins get 404.
      const { cookie } = await signIn(trusted);
      assert.ok(cookie);
      assert.equal(await verify(cookie), 200);
      t0 = performance.now();
      await put('connector.yaml', connectorYaml(false));
      delays.disable.push(await takesEffect('connector disable', t0, async () => (await verify(cookie)) === 401 && (await signIn(trusted)).status === 404));
      await put('connector.yaml', connectorYaml(true));
      await takesEffect('connector enabled again', performance.now(), async () => (await signIn(trusted)).status === 303);

      // Binding denied: her session stops verifying, her sign-in gets 403.
      const second = (await signIn(trusted)).cookie;
      assert.ok(second);
      t0 = performance.now();
      await put('alice.yaml', bindingYaml('alice', 'alice@example.com', 'Denied'));
      delays.deny.push(await takesEffect('binding deny', t0, async () => (await verify(second)) === 401 && (await signIn(trusted)).status === 403));
      await put('alice.yaml', bindingYaml('alice', 'alice@example.com'));
      await takesEffect('binding approved again', performance.now(), async () => (await signIn(trusted)).status === 303);
    }
    note(`standalone, ${BINDINGS} bindings: certificate removal ${summary(delays.cert)}; connector disable ${summary(delays.disable)}; binding deny ${summary(delays.deny)}`);
    for (const ms of [...delays.cert, ...delays.disable, ...delays.deny]) assert.ok(ms < LIMIT_MS, `a trust change took ${ms.toFixed(0)} ms`);
    // And status, written afterwards, says the same as what is served.
    await op.controller.idle();
    assert.equal((op.status.get('UserBinding', 'default', 'alice') as { phase: string }).phase, 'Active');
    assert.equal((op.status.get('UserBinding', 'default', `u${BINDINGS - 1}`) as { phase: string }).phase, 'Active');
  }, 120_000);
});
