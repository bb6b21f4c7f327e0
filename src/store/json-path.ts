// JSON paths as the store writes them in problems: `$`, `$.spec.saml`,
// `$.items[2]`, `$.data["tls.crt"]`.

export function childPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/**
 * A path reported by admission, put under `base` (the document, or a List
 * item). Accepts `$`-paths, JSON pointers (`/spec/x`, ajv's instancePath)
 * and bare dotted paths (`spec.x`).
 */
export function underPath(base: string, path: string): string {
  const p = path.trim();
  if (p === '' || p === '$' || p === '/') return base;
  if (p.startsWith('$')) return base + p.slice(1);
  if (p.startsWith('/')) {
    return p
      .slice(1)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<string>((acc, s) => childPath(acc, /^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s), base);
  }
  return p.startsWith('[') ? base + p : `${base}.${p}`;
}
