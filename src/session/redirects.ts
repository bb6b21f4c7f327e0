// Validation of the post-login target (`rd`).
//
// Defends against open redirects (a login link that sends the user, after
// a real sign-in, to an attacker's site) and header injection (a target that
// splits the Location header). The rule: a relative path on this host, or an
// absolute http(s) URL on an allowed host. The returned target is the form
// the WHATWG URL parser (what browsers use) produces, so what was checked is
// exactly what the browser will follow.

export const MAX_REDIRECT_LENGTH = 2048;

export type RedirectCheck =
  | { ok: true; target: string }
  | { ok: false; reason: 'RedirectNotAllowed'; message: string };

export interface RedirectOptions {
  /** The operator's public URL; its host is always allowed. */
  publicURL: string;
  /**
   * Allowed hosts: `app.example.com` (that host, any port),
   * `app.example.com:8443` (that host and port only), or `.example.com`
   * (example.com and any subdomain). Compared case-insensitively.
   */
  allowedHosts: readonly string[];
}

const BASE = 'https://rd.invalid';

function refuse(message: string): RedirectCheck {
  return { ok: false, reason: 'RedirectNotAllowed', message };
}

// C0 controls, space, DEL, C1 controls and Unicode spaces/separators/BOM.
// The URL parser silently removes tab/CR/LF and trims leading spaces and
// controls (`/\t/evil.com` becomes `//evil.com`), and CR/LF would split the
// Location header: refused outright rather than cleaned.
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]/;

// A path starting `//` or `/\` is protocol-relative: browsers read the next
// segment as a host.
const PROTOCOL_RELATIVE = /^[/\\][/\\]/;

/** True if the path, with `%2F`, `%5C` and `%25` decoded up to three times, starts like `//host` or `/\\host`. */
function startsProtocolRelativeAfterDecoding(path: string): boolean {
  // Defends against `/%2F%2Fevil`, `/%5Cevil` and double encoding
  // (`/%252F%252Fevil`): a proxy or framework that decodes the path again
  // would turn them into `//evil`. Only these three escapes are decoded, so a
  // malformed escape elsewhere cannot make the check give up.
  let s = path;
  for (let i = 0; i < 3; i++) {
    if (PROTOCOL_RELATIVE.test(s)) return true;
    const next = s.replace(/%(2f|5c|25)/gi, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
    if (next === s) return false;
    s = next;
  }
  return PROTOCOL_RELATIVE.test(s);
}

function normaliseEntry(entry: string): string {
  return entry.trim().toLowerCase();
}

function hostAllowed(url: URL, opts: RedirectOptions): boolean {
  const hostname = url.hostname.toLowerCase();
  const hostWithPort = url.host.toLowerCase();
  let own: URL;
  try {
    own = new URL(opts.publicURL);
  } catch {
    return false;
  }
  if (hostname === own.hostname.toLowerCase()) return true;
  for (const raw of opts.allowedHosts) {
    const entry = normaliseEntry(raw);
    if (entry === '' || entry === '.') continue;
    if (entry.startsWith('.')) {
      // `.example.com`: example.com itself and any subdomain (never
      // `badexample.com`, the leading dot is part of the suffix).
      if (hostname === entry.slice(1) || hostname.endsWith(entry)) return true;
    } else if (/:\d+$/.test(entry) && !/^\[[^\]]*\]$/.test(entry)) {
      if (hostWithPort === entry) return true;
    } else if (hostname === entry) {
      return true;
    }
  }
  return false;
}

function checkRelative(rd: string): RedirectCheck {
  if (PROTOCOL_RELATIVE.test(rd)) return refuse('a target starting with // or /\\ would leave this host');
  if (startsProtocolRelativeAfterDecoding(rd)) return refuse('a target starting with an encoded / or \\ is not allowed');
  let url: URL;
  try {
    url = new URL(rd, BASE);
  } catch {
    return refuse('the target is not a valid path');
  }
  if (url.origin !== BASE) return refuse('the target must stay on this host');
  const target = url.pathname + url.search + url.hash;
  // Dot segments can collapse into `//`: `/.//evil.com` normalises to `//evil.com`.
  if (PROTOCOL_RELATIVE.test(target) || startsProtocolRelativeAfterDecoding(target)) {
    return refuse('the target normalises to a path starting with //');
  }
  if (target.length > MAX_REDIRECT_LENGTH) return refuse(`the target is longer than ${MAX_REDIRECT_LENGTH} characters`);
  return { ok: true, target };
}

function checkAbsolute(rd: string, opts: RedirectOptions): RedirectCheck {
  // Only http(s), written out in full: refuses javascript:, data:, vbscript:,
  // file: and parser-repaired forms like `https:evil.com` or `https:/evil.com`.
  const m = /^(https?):\/\/([^/?#]*)/i.exec(rd);
  if (!m) return refuse('only a relative path or an absolute http(s) URL is allowed');
  const authority = m[2] ?? '';
  // `https://allowed.example@evil.com` reads as host allowed.example to a
  // human and as evil.com to the browser.
  if (authority.includes('@')) return refuse('a target with user information (@) is not allowed');
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return refuse('the target is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('only http and https targets are allowed');
  if (url.username !== '' || url.password !== '') return refuse('a target with user information is not allowed');
  if (url.hostname === '') return refuse('the target has no host');
  if (!hostAllowed(url, opts)) return refuse(`host ${url.hostname} is not in the allowed redirect hosts`);
  if (url.href.length > MAX_REDIRECT_LENGTH) return refuse(`the target is longer than ${MAX_REDIRECT_LENGTH} characters`);
  return { ok: true, target: url.href };
}

export function checkRedirect(rd: string | undefined, opts: RedirectOptions): RedirectCheck {
  if (rd === undefined || rd === '') return { ok: true, target: '/' };
  // Bounds the work and the state cookie size.
  if (rd.length > MAX_REDIRECT_LENGTH) return refuse(`the target is longer than ${MAX_REDIRECT_LENGTH} characters`);
  if (FORBIDDEN_CHARS.test(rd)) return refuse('the target contains whitespace or control characters');
  // A backslash is read as a slash by browsers in http(s) URLs (`\\evil`, `/\evil`).
  if (rd.includes('\\')) return refuse('the target contains a backslash');
  if (rd.startsWith('/')) return checkRelative(rd);
  return checkAbsolute(rd, opts);
}
