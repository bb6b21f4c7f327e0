// Probes while the caches cannot sync: the admin listener is up at once, so
// liveness answers; readiness stays 503 until every informer has listed and
// the first reconcile ran. Here the CRDs are missing at start, so the
// SsoConnector and UserBinding lists fail until they are installed.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { startCluster, type ClusterOperator } from '../../src/cluster.ts';
import type { RunConfig } from '../../src/config.ts';
import { createLogger } from '../../src/operator.ts';
import { applyOk, installCrds, NS } from '../support/cluster-fixtures.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';
import { captureLogs } from '../support/log-capture.ts';
import { freePort } from '../support/system-deps.ts';

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Math.round(performance.now() - started);
}

describe('cluster mode readiness', () => {
  let cp: ControlPlane;
  let op: ClusterOperator | undefined;
  let starting: Promise<ClusterOperator>;
  let adminURL: string;

  beforeAll(async () => {
    cp = await startControlPlane({ verbose: false });
    await applyOk(cp, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS.operator } });
    const [port, adminPort] = [await freePort(), await freePort()];
    adminURL = `http://127.0.0.1:${adminPort}`;
    const config: RunConfig = {
      demoIdp: false,
      kubeconfig: cp.kubeconfigPath,
      namespaces: [],
      listen: { host: '127.0.0.1', port },
      adminListen: { host: '127.0.0.1', port: adminPort },
      publicURL: `http://127.0.0.1:${port}`,
      allowedRedirectHosts: [],
      trustProxy: false,
      logLevel: 'warn',
      stateDir: '.unused',
    };
    starting = startCluster(config, createLogger('warn', captureLogs().stream), { env: { POD_NAMESPACE: NS.operator } });
    starting.then((o) => (op = o), () => undefined);
  });

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('answers /healthz 200 and /readyz 503 while the caches cannot sync', async () => {
    await until(async () => (await status(`${adminURL}/healthz`)) === 200, 20_000);
    // Several samples over a second: readiness must not flap to 200.
    for (let i = 0; i < 10; i++) {
      assert.equal(await status(`${adminURL}/readyz`), 503);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(op, undefined, 'start() has not returned');
  });

  it('turns ready once the CRDs exist and the informers have listed', async () => {
    await installCrds(cp);
    const ms = await until(async () => (await status(`${adminURL}/readyz`)) === 200, 40_000);
    console.log(`[readiness] /readyz 200 ${ms} ms after the CRDs were installed`);
    const operator = await starting;
    assert.equal(operator.store.synced(), true);
  });
});
