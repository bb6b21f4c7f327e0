// Starts a real operator in cluster mode against a test control plane
// (test/support/kube.ts), on free loopback ports, with captured JSON logs.

import { startCluster, type ClusterOperator, type ClusterOptions } from '../../src/cluster.ts';
import type { RunConfig } from '../../src/config.ts';
import { createLogger } from '../../src/operator.ts';
import { captureLogs } from './log-capture.ts';
import { freePort } from './system-deps.ts';

export interface TestClusterOperator {
  operator: ClusterOperator;
  baseURL: string;
  adminURL: string;
  logs: Record<string, unknown>[];
  rawLogs(): string;
  stop(): Promise<void>;
}

export interface TestClusterOperatorOptions {
  kubeconfigPath: string;
  /** The operator's own namespace (session-key Secret, Lease). */
  namespace: string;
  namespaces?: string[];
  identity?: string;
  redisURL?: string;
  /** Short leader-election timings for tests. */
  lease?: ClusterOptions['lease'];
  allowedRedirectHosts?: string[];
  logLevel?: string;
  /** Reuse a port (a restarted replica keeps its URL). */
  port?: number;
  /** --kube-qps */
  kubeQPS?: number;
}

export async function startTestClusterOperator(o: TestClusterOperatorOptions): Promise<TestClusterOperator> {
  const port = o.port ?? (await freePort());
  const adminPort = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const capture = captureLogs();
  const config: RunConfig = {
    demoIdp: false,
    kubeconfig: o.kubeconfigPath,
    namespaces: o.namespaces ?? [],
    listen: { host: '127.0.0.1', port },
    adminListen: { host: '127.0.0.1', port: adminPort },
    publicURL: baseURL,
    allowedRedirectHosts: o.allowedRedirectHosts ?? [],
    trustProxy: false,
    logLevel: o.logLevel ?? 'debug',
    stateDir: '.unused',
    ...(o.redisURL ? { redisURL: o.redisURL } : {}),
    ...(o.kubeQPS ? { kubeQPS: o.kubeQPS } : {}),
  };
  const operator = await startCluster(config, createLogger(config.logLevel, capture.stream), {
    env: { POD_NAMESPACE: o.namespace },
    ...(o.identity ? { identity: o.identity } : {}),
    ...(o.lease ? { lease: o.lease } : {}),
  });
  return {
    operator,
    baseURL,
    adminURL: `http://127.0.0.1:${adminPort}`,
    logs: capture.lines,
    rawLogs: capture.raw,
    stop: () => operator.stop(),
  };
}
