// `check FILE|DIR...`: the manifests validated offline with the operator's
// own code (see usage.ts for what is checked, problems.ts for how each
// finding is located).

import { stringify } from 'yaml';
import { DEFAULT_PUBLIC_URL, parsePublicURL } from '../config.ts';
import { compileConnectors } from './compile.ts';
import { EXIT, outputFormat, parseFlags, UsageError, type CliIO } from './io.ts';
import { demoIdpOverlay, fromManifests, readManifests } from './manifests.ts';
import { bindingProblems, connectorProblems, type CheckProblem } from './problems.ts';

export const FETCH_TIMEOUT_MS = 5000;

const FLAGS = {
  fetch: { type: 'boolean' },
  'public-url': { type: 'string' },
  'demo-idp': { type: 'boolean' },
  strict: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface CheckResult {
  files: number;
  objects: number;
  problems: CheckProblem[];
}

/** Runs every check on the given files and folders. */
export async function checkManifests(
  paths: readonly string[],
  options: { cwd: string; publicURL: string; now: Date; demoIdp?: boolean; fetchTimeoutMs?: number },
): Promise<CheckResult> {
  const overlay = options.demoIdp ? await demoIdpOverlay(options.publicURL) : [];
  const set = await readManifests(paths, options.cwd, overlay);
  const problems: CheckProblem[] = set.problems.map((p) => ({ ...p, severity: 'error' }));
  const compiled = await compileConnectors(set.objects, {
    publicURL: options.publicURL,
    now: options.now,
    ...(options.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: options.fetchTimeoutMs } : {}),
  });
  const own = fromManifests(set.objects);
  const mine = new Set(own);
  for (const c of compiled) if (mine.has(c.loaded)) problems.push(...connectorProblems(c, set.objects, set.problems));
  problems.push(...bindingProblems(own, set.problems));
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.documentIndex - b.documentIndex));
  return { files: set.files, objects: own.length, problems };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export async function checkCommand(argv: string[], io: CliIO): Promise<number | 'help'> {
  const { values: v, positionals } = parseFlags(argv, FLAGS, true);
  if (v.help) return 'help';
  const format = outputFormat(v.output, ['json', 'yaml'] as const);
  if (positionals.length === 0) throw new UsageError('give at least one FILE or DIR to check');
  const publicURL = parsePublicURL(v['public-url'] ?? io.env.SSO_PUBLIC_URL ?? DEFAULT_PUBLIC_URL).toString().replace(/\/+$/, '');
  const result = await checkManifests(positionals, {
    cwd: io.cwd,
    publicURL,
    now: io.now?.() ?? new Date(),
    demoIdp: v['demo-idp'] === true,
    ...(v.fetch ? { fetchTimeoutMs: FETCH_TIMEOUT_MS } : {}),
  });
  const errors = result.problems.filter((p) => p.severity === 'error').length;
  const warnings = result.problems.length - errors;
  if (format === 'json') io.stdout(`${JSON.stringify(result.problems, null, 2)}\n`);
  else if (format === 'yaml') io.stdout(result.problems.length === 0 ? '[]\n' : stringify(result.problems, { lineWidth: 0 }));
  else {
    for (const p of result.problems) {
      const what = p.object?.name ? ` (${p.object.kind} ${p.object.namespace}/${p.object.name})` : '';
      io.stdout(`${p.file} (document ${p.documentIndex}) ${p.path}: ${p.severity} ${p.reason}: ${p.message}${what}\n`);
    }
    io.stdout(`checked ${plural(result.files, 'file')}, ${plural(result.objects, 'object')}: ${plural(errors, 'problem')}${warnings > 0 ? `, ${plural(warnings, 'warning')}` : ''}\n`);
  }
  return errors > 0 || (v.strict && warnings > 0) ? EXIT.problems : EXIT.ok;
}
