// The operator's status and Event writes as the apiserver itself received
// them: an audit policy that logs exactly those, the apiserver flags that
// turn it on, and the writes read back from the log. The scale test and
// `npm run scale` check --kube-qps against this count, not against what the
// operator says it did.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const POLICY = [
  'apiVersion: audit.k8s.io/v1',
  'kind: Policy',
  'omitStages: ["RequestReceived"]',
  'rules:',
  '  - level: Metadata',
  '    verbs: ["create", "update", "patch"]',
  '    resources:',
  '      - group: sso.operator.dev',
  '        resources: ["ssoconnectors/status", "userbindings/status"]',
  '      - group: events.k8s.io',
  '        resources: ["events"]',
  '      - group: ""',
  '        resources: ["events"]',
  '  - level: None',
  '',
].join('\n');

/** Writes the policy into `dir` and returns the kube-apiserver flags that log to `dir/audit.log`. */
export async function auditFlags(dir: string, maxSizeMB: number): Promise<string[]> {
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  return [`--audit-policy-file=${join(dir, 'policy.yaml')}`, `--audit-log-path=${join(dir, 'audit.log')}`, '--audit-log-format=json', `--audit-log-maxsize=${maxSizeMB}`];
}

/** The logged writes in order: when (ms, with the microseconds of the timestamp) and what. */
export async function auditedWrites(dir: string): Promise<{ at: number; what: string }[]> {
  const lines = (await readFile(join(dir, 'audit.log'), 'utf8')).split('\n').filter(Boolean);
  return lines
    .map((l) => JSON.parse(l) as { stage: string; requestReceivedTimestamp: string; verb: string; objectRef?: { resource?: string; subresource?: string; name?: string } })
    .filter((e) => e.stage === 'ResponseComplete')
    .map((e) => ({
      at: Date.parse(e.requestReceivedTimestamp) + Number(/\.\d{3}(\d{3})/.exec(e.requestReceivedTimestamp)?.[1] ?? 0) / 1000,
      what: `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.objectRef?.name ?? ''}`,
    }))
    .sort((a, b) => a.at - b.at);
}

/** The most of `sortedMs` that fall within any one second (a sliding window). */
export function peakPerSecond(sortedMs: readonly number[]): number {
  let peak = 0;
  for (let i = 0, j = 0; i < sortedMs.length; i++) {
    while (sortedMs[j]! <= sortedMs[i]! - 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}
