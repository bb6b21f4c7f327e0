// Prints coverage per source folder from Jest's json-summary report
// (coverage/coverage-summary.json, written by `npm run coverage`).
//   node tools/coverage-summary.ts [path/to/coverage-summary.json]
// A folder is src/<name> (files directly in src/ count as "src"); each row
// adds up the files below it, so a figure is covered/total over the folder,
// not an average of per-file percentages.

import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

type Metric = { total: number; covered: number };
type Entry = Record<'lines' | 'statements' | 'functions' | 'branches', Metric>;
const METRICS = ['lines', 'statements', 'functions', 'branches'] as const;

const root = join(import.meta.dirname, '..');
const file = process.argv[2] ?? join(root, 'coverage', 'coverage-summary.json');
let summary: Record<string, Entry>;
try {
  summary = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>;
} catch (err) {
  console.error(`coverage-summary: cannot read ${file} (${(err as Error).message}); run npm run coverage first`);
  process.exit(1);
}

const folders = new Map<string, Record<(typeof METRICS)[number], Metric> & { files: number }>();
const add = (folder: string, e: Entry) => {
  let f = folders.get(folder);
  if (!f) folders.set(folder, (f = { files: 0, lines: { total: 0, covered: 0 }, statements: { total: 0, covered: 0 }, functions: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } }));
  f.files++;
  for (const m of METRICS) {
    f[m].total += e[m].total;
    f[m].covered += e[m].covered;
  }
};
for (const [path, e] of Object.entries(summary)) {
  if (path === 'total') continue;
  const parts = relative(root, path).split(sep);
  add(parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!, e);
  add('all', e);
}

const pct = (m: Metric) => (m.total === 0 ? '-' : `${((100 * m.covered) / m.total).toFixed(1)}%`);
const rows = [...folders.entries()].sort(([a], [b]) => (a === 'all' ? 1 : b === 'all' ? -1 : a.localeCompare(b)));
const header = ['folder', 'files', ...METRICS];
const table = [header, ...rows.map(([name, f]) => [name, String(f.files), ...METRICS.map((m) => `${pct(f[m])} (${f[m].covered}/${f[m].total})`)])];
const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
console.log('\nCoverage per folder (V8)');
for (const r of table) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
