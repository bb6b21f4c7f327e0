// Starts a real standalone operator on loopback for integration tests: a
// temp manifests folder, free ports, captured JSON log lines.

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLogger, startStandalone, type Operator } from '../../src/operator.ts';
import type { RunConfig } from '../../src/config.ts';
import { captureLogs } from './log-capture.ts';
import { freePort } from './system-deps.ts';

export interface TestOperator {
  operator: Operator;
  /** http://127.0.0.1:PORT, also the public URL */
  baseURL: string;
  adminURL: string;
  manifestsDir: string;
  /** The operator's own --state-dir (a temp folder); standalone access requests go to `<stateDir>/requests`. */
  stateDir: string;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text, for leak checks. */
  rawLogs(): string;
  writeManifest(relPath: string, yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TestOperatorOptions {
  /** Files to write into the manifests folder before start: path -> YAML. */
  manifests?: Record<string, string>;
  demoIdp?: boolean;
  allowedRedirectHosts?: string[];
  cookieDomain?: string;
  logLevel?: string;
  /** Host name of the public URL (default 127.0.0.1; browsers treat `localhost` as a secure context). */
  publicHost?: string;
  /** --request-timeout, in seconds. */
  requestTimeoutSeconds?: number;
}

export async function startTestOperator(opts: TestOperatorOptions = {}): Promise<TestOperator> {
  const root = await mkdtemp(join(tmpdir(), 'sso-operator-test-'));
  const manifestsDir = join(root, 'manifests');
  const stateDir = join(root, 'state');
  await mkdir(manifestsDir, { recursive: true });
  const writeManifest = async (rel: string, yaml: string) => {
    const p = join(manifestsDir, rel);
    await mkdir(dirname(p), { recursive: true });
    // Write then rename, as editors and kubelet's ConfigMap mounts do.
    await writeFile(`${p}.tmp`, yaml);
    const { rename } = await import('node:fs/promises');
    await rename(`${p}.tmp`, p);
  };
  for (const [rel, yaml] of Object.entries(opts.manifests ?? {})) await writeManifest(rel, yaml);
  const [port, adminPort] = [await freePort(), await freePort()];
  const baseURL = `http://${opts.publicHost ?? '127.0.0.1'}:${port}`;
  const capture = captureLogs();
  const config: RunConfig & { manifests: string } = {
    manifests: manifestsDir,
    demoIdp: opts.demoIdp ?? false,
    listen: { host: '127.0.0.1', port },
    adminListen: { host: '127.0.0.1', port: adminPort },
    publicURL: baseURL,
    allowedRedirectHosts: opts.allowedRedirectHosts ?? [],
    trustProxy: false,
    logLevel: opts.logLevel ?? 'debug',
    stateDir,
    namespaces: [],
    ...(opts.cookieDomain ? { cookieDomain: opts.cookieDomain } : {}),
    ...(opts.requestTimeoutSeconds !== undefined ? { requestTimeoutSeconds: opts.requestTimeoutSeconds } : {}),
  };
  const operator = await startStandalone(config, createLogger(config.logLevel, capture.stream));
  return {
    operator,
    baseURL,
    adminURL: `http://127.0.0.1:${adminPort}`,
    manifestsDir,
    stateDir,
    logs: capture.lines,
    rawLogs: capture.raw,
    writeManifest,
    async stop() {
      await operator.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a truthy value or the time is up; returns the value and the time it took. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 10): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  for (;;) {
    const value = await check();
    if (value) return { value, ms: Math.round(performance.now() - start) };
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
