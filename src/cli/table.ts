// kubectl-like output: the printer columns of a CRD evaluated on an object
// (the JSONPath subset they use), ages as kubectl prints them, and aligned
// columns.

import type { PrinterColumn } from '../api/crd.ts';

/**
 * A printer column's JSONPath on an object: `.a.b`, `.a[0]`, and filters
 * `[?(@.k=="v")]` (what the CRDs' columns use). The first match, or undefined.
 */
export function evalJsonPath(object: unknown, jsonPath: string): unknown {
  const tokens = jsonPath.match(/\.[A-Za-z0-9_$-]+|\[\?\(@\.[A-Za-z0-9_$-]+\s*==\s*(?:"[^"]*"|'[^']*')\)\]|\[\d+\]/g) ?? [];
  if (tokens.join('') !== jsonPath.replace(/^\$/, '')) throw new Error(`unsupported JSONPath ${jsonPath}`);
  let values: unknown[] = [object];
  for (const t of tokens) {
    const next: unknown[] = [];
    for (const v of values) {
      if (t.startsWith('.')) {
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
          const child = (v as Record<string, unknown>)[t.slice(1)];
          if (child !== undefined) next.push(child);
        }
      } else if (t.startsWith('[?')) {
        const m = /^\[\?\(@\.([A-Za-z0-9_$-]+)\s*==\s*["']([^"']*)["']\)\]$/.exec(t)!;
        if (Array.isArray(v)) for (const item of v) if (item !== null && typeof item === 'object' && (item as Record<string, unknown>)[m[1]!] === m[2]) next.push(item);
      } else if (Array.isArray(v)) {
        const item = v[Number(t.slice(1, -1))];
        if (item !== undefined) next.push(item);
      }
    }
    values = next;
  }
  return values[0];
}

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** A cell as kubectl prints it: `<none>` when absent, a date as its age. */
export function cellText(column: Pick<PrinterColumn, 'type'>, value: unknown, now: Date): string {
  if (value === undefined || value === null || value === '') return '<none>';
  if (column.type === 'date') {
    const t = Date.parse(String(value));
    return Number.isNaN(t) ? '<invalid>' : humanDuration(now.getTime() - t);
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Rows aligned in columns three spaces apart, as kubectl's tabwriter; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** `OIDC Issuer` -> `oidcIssuer`, `NameID` -> `nameID`: a column's key in json/yaml output. */
export function columnKey(name: string): string {
  const words = name.split(/\s+/);
  return words
    .map((w, i) => {
      if (i > 0) return w[0]!.toUpperCase() + w.slice(1);
      return w === w.toUpperCase() ? w.toLowerCase() : w[0]!.toLowerCase() + w.slice(1);
    })
    .join('');
}
