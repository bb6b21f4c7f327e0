// xs:dateTime handling for SAML timestamps. SAML requires UTC; an offset is
// accepted, a timestamp without any zone is not (it would be read in the
// server's local time).
const DATE_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds, or undefined when the text is not a zoned xs:dateTime. */
export function parseSamlTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const fraction = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  const ms = Date.parse(`${m[1]}.${fraction}${m[3]}`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `2024-01-02T03:04:05Z` style (second precision, UTC), as IdPs usually write it. */
export function formatSamlTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
