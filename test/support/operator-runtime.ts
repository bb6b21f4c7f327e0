// How the image runs the operator, read from the Dockerfile: the node flags
// of its ENTRYPOINT and the memory settings of its ENV. Every harness that
// starts the operator as its own process (replicas in tests, benchmarks, the
// scale run) starts it so, so what they measure is what a pod runs.
//
// Two things differ from a pod, both stated here:
// - `--max-old-space-size-percentage` is a share of the pod's memory limit;
//   this machine has none, so the share of the chart's default limit
//   (charts/sso-operator/values.yaml) is given as a size.
// - NODE_COMPILE_CACHE points at a cache outside the checkout instead of
//   the one the image fills at build time; the first start fills it.
//
// SSO_OPERATOR_NODE_ARGS (space-separated) replaces the node flags, for
// before/after comparisons of a flag.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
/** The ENV settings a harness passes on (the rest, NODE_ENV included, are the image's business). */
const PASSED_ENV = new Set(['MALLOC_ARENA_MAX', 'NODE_COMPILE_CACHE']);

export interface OperatorRuntime {
  /** Flags for node, before the script. */
  nodeArgs: string[];
  env: Record<string, string>;
}

export function operatorRuntime(root = ROOT): OperatorRuntime {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const entrypoints = [...dockerfile.matchAll(/^ENTRYPOINT\s+(\[.*\])\s*$/gm)];
  const entry = JSON.parse(entrypoints.at(-1)?.[1] ?? 'null') as unknown;
  if (!Array.isArray(entry) || entry[0] !== 'node' || entry.at(-1) !== 'src/cli.ts') throw new Error('Dockerfile: expected ENTRYPOINT ["node", ...flags, "src/cli.ts"]');
  const limitMiB = chartMemoryLimitMiB(root);
  const nodeArgs = process.env.SSO_OPERATOR_NODE_ARGS !== undefined
    ? process.env.SSO_OPERATOR_NODE_ARGS.split(/\s+/).filter(Boolean)
    : (entry.slice(1, -1) as string[]).map((flag) => {
        const share = /^--max-old-space-size-percentage=(\d+(?:\.\d+)?)%?$/.exec(flag);
        return share ? `--max-old-space-size=${Math.floor((limitMiB * Number(share[1])) / 100)}` : flag;
      });
  const env: Record<string, string> = {};
  for (const line of dockerfile.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const pair of line[1]!.trim().split(/\s+/)) {
      const [name, value] = pair.split('=', 2) as [string, string | undefined];
      if (value !== undefined && PASSED_ENV.has(name)) env[name] = value;
    }
  }
  if (env.NODE_COMPILE_CACHE !== undefined) env.NODE_COMPILE_CACHE = process.env.SSO_COMPILE_CACHE || join(homedir(), '.cache', 'sso-operator', 'compile-cache');
  return { nodeArgs, env };
}

/** resources.limits.memory of the chart's values, in MiB. */
export function chartMemoryLimitMiB(root = ROOT): number {
  const values = readFileSync(join(root, 'charts', 'sso-operator', 'values.yaml'), 'utf8');
  const m = /^resources:\n(?:[ \t].*\n)*?[ \t]+limits:\n(?:[ \t].*\n)*?[ \t]+memory:\s*"?(\d+)(Mi|Gi)"?/m.exec(values);
  if (!m) throw new Error('charts/sso-operator/values.yaml: no resources.limits.memory in Mi or Gi');
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}
