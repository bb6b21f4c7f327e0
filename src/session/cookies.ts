// Cookie names, attributes, and a small RFC 6265 serializer/parser.
//
// Security notes:
// - The session cookie is HttpOnly (no script access, limits XSS theft) and
//   SameSite=Lax (not sent on cross-site subrequests/POSTs: CSRF); Secure
//   whenever the public URL is https.
// - The state cookie must come back on the IdP's cross-site POST to the ACS,
//   so it is SameSite=None, which browsers only accept with Secure (they treat
//   http://localhost as a secure context). It is signed and short-lived.
// - On an https public URL the state cookie is named `__Host-sso_state`. The
//   prefix makes browsers refuse it unless it is Secure, Path=/ and has no
//   Domain, so only this exact host can set it: a sibling subdomain
//   (evil.example.com next to sso.example.com), or any host that may set
//   cookies for Domain=example.com, can no longer toss in a state cookie of
//   its own (login CSRF: a pending login the attacker started, completed in
//   the victim's browser with the attacker's identity). The HMAC does not
//   help against that: the tossed cookie is genuinely ours, issued to the
//   attacker. On a loopback http public URL (development only; config.ts
//   refuses other http URLs) the name stays `sso_state`: a `__Host-` cookie
//   must come from a secure origin, which plain http is not in every browser,
//   even on loopback. src/server/login-state.ts reads and writes the cookie,
//   and reads the old name on https for one release after the rename.
// - serializeCookie refuses names, values and attributes that could inject
//   extra attributes or headers (';', CR, LF, control characters), and a
//   `__Host-` cookie without the attributes its prefix demands (the browser
//   would drop it silently: a login that never completes).
// - parseCookies returns a prototype-less map (no `__proto__` pollution) and
//   keeps the first occurrence of a name, like common server libraries.

export const SESSION_COOKIE = 'sso_session';
/** The login-state cookie on an https public URL (see the notes above). */
export const HOST_STATE_COOKIE = '__Host-sso_state';
/**
 * The login-state cookie without the prefix: its name on a loopback http
 * public URL, and its name on https before the rename (still read there for
 * one release, src/server/login-state.ts).
 */
export const PLAIN_STATE_COOKIE = 'sso_state';
export const STATE_COOKIE_MAX_AGE_SECONDS = 600;

export interface CookieOptions {
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  secure: boolean;
  domain?: string;
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

/** The last public URL asked about and its answer: one per process in practice, and parsing it was a URL object per request. */
let lastURL: string | undefined;
let lastHttps = false;

function isHttps(publicURL: string): boolean {
  if (publicURL !== lastURL) {
    lastHttps = new URL(publicURL).protocol === 'https:';
    lastURL = publicURL;
  }
  return lastHttps;
}

export function sessionCookieOptions(opts: {
  publicURL: string;
  cookieDomain?: string | undefined;
  maxAgeSeconds: number;
}): CookieOptions {
  const out: CookieOptions = {
    httpOnly: true,
    sameSite: 'lax',
    secure: isHttps(opts.publicURL),
    path: '/',
    maxAge: opts.maxAgeSeconds,
  };
  if (opts.cookieDomain) out.domain = opts.cookieDomain;
  return out;
}

/** Name of the login-state cookie: `__Host-sso_state` on https, `sso_state` on (loopback) http. */
export function stateCookieName(publicURL: string): string {
  return isHttps(publicURL) ? HOST_STATE_COOKIE : PLAIN_STATE_COOKIE;
}

/**
 * The login-state cookie stays on the operator's own host (no Domain
 * attribute, whatever --cookie-domain says), Path=/ and Secure: what the
 * `__Host-` prefix requires, and the attributes `sso_state` always had (so a
 * line with these and Max-Age=0 deletes an old one). SameSite=None: it must
 * come back on the IdP's cross-site POST to the ACS.
 */
export function stateCookieOptions(_publicURL: string): CookieOptions {
  return { httpOnly: true, sameSite: 'none', secure: true, path: '/', maxAge: STATE_COOKIE_MAX_AGE_SECONDS };
}

// RFC 6265 section 4.1.1: token for names, cookie-octets for values.
const NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;
const DOMAIN = /^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const PATH = /^\/[\x20-\x3a\x3c-\x7e]*$/;
const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

/** `Set-Cookie` header value. Throws TypeError on anything that is not safe to emit. */
export function serializeCookie(name: string, value: string, opts: CookieOptions): string {
  if (!NAME.test(name)) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  if (!VALUE.test(value)) throw new TypeError(`invalid characters in value of cookie ${name}`);
  if (!Number.isInteger(opts.maxAge) || opts.maxAge < 0) throw new TypeError(`invalid Max-Age ${opts.maxAge}`);
  if (!PATH.test(opts.path)) throw new TypeError(`invalid cookie path ${JSON.stringify(opts.path)}`);
  if (opts.sameSite === 'none' && !opts.secure) throw new TypeError('SameSite=None requires Secure');
  // RFC 6265bis section 4.1.3: browsers match the prefixes case-insensitively.
  const lower = name.toLowerCase();
  if ((lower.startsWith('__host-') || lower.startsWith('__secure-')) && !opts.secure) throw new TypeError(`cookie ${name} requires Secure`);
  if (lower.startsWith('__host-') && (opts.domain !== undefined || opts.path !== '/')) throw new TypeError(`cookie ${name} requires Path=/ and no Domain`);
  let out = `${name}=${value}; Max-Age=${opts.maxAge}`;
  if (opts.domain !== undefined) {
    if (!DOMAIN.test(opts.domain)) throw new TypeError(`invalid cookie domain ${JSON.stringify(opts.domain)}`);
    out += `; Domain=${opts.domain}`;
  }
  out += `; Path=${opts.path}`;
  if (opts.httpOnly) out += '; HttpOnly';
  if (opts.secure) out += '; Secure';
  out += `; SameSite=${SAME_SITE[opts.sameSite]}`;
  return out;
}

/** Parses a `Cookie` request header. Values are returned as sent (without surrounding quotes). */
export function parseCookies(header: string | undefined | null): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === '' || name in out) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out[name] = value;
  }
  return out;
}

/**
 * The value of one cookie, exactly as `parseCookies(header)[name]` gives it
 * (first occurrence, trimmed, surrounding quotes removed), without building
 * the map of every cookie: /auth/verify reads only the session cookie, on
 * every request to every protected application.
 */
export function readCookie(header: string | undefined | null, name: string): string | undefined {
  if (!header) return undefined;
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq >= 0 && eq < end && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    start = end + 1;
  }
  return undefined;
}
