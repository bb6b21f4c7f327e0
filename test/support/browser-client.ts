// A tiny HTTP "browser" over Node's fetch for login flows without Chromium:
// a cookie jar, manual redirect following with browser method rules, and HTML
// form parsing/submission (enough for SimpleSAMLphp's login and auto-submit forms).

export interface BrowserResponse {
  /** Final URL (after redirects). */
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** URLs that answered with a redirect, in order (the final `url` is not included). */
  redirects: string[];
}

export interface FormInput {
  /** 'input' | 'button' | 'select' | 'textarea' */
  tag: string;
  /** Lower-case type ('text', 'hidden', 'password', 'submit', ... ; 'select'/'textarea' for those). */
  type: string;
  name: string;
  value: string;
  checked: boolean;
  disabled: boolean;
}

export interface ParsedForm {
  /** Absolute action URL (resolved against the page URL; the page URL when missing/empty). */
  action: string;
  method: 'GET' | 'POST';
  enctype: string;
  id?: string;
  name?: string;
  /** Every control found, in document order. */
  inputs: FormInput[];
  /** Successful controls (name/value pairs sent on submit, no submit buttons), in order. */
  entries: [string, string][];
  /** `entries` as an object (the last value wins for repeated names). */
  fields: Record<string, string>;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Follow redirects (default true). */
  followRedirects?: boolean;
  /** Max redirects (default 20). */
  maxRedirects?: number;
}

export interface SubmitOptions extends RequestOptions {
  /** Which form on the page: index, or predicate (default: the first form). */
  form?: number | ((f: ParsedForm) => boolean);
  /** Name of the submit button to include (its name=value is sent). */
  submitter?: string;
}

// ---------------------------------------------------------------------------
// HTML helpers

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  copy: '\u00a9',
  reg: '\u00ae',
  hellip: '\u2026',
  ndash: '\u2013',
  mdash: '\u2014',
  laquo: '\u00ab',
  raquo: '\u00bb',
};

/** Decodes `&amp; &quot; &lt; &gt; &apos; &nbsp; &#NN; &#xHH;` (and a few more named entities). */
export function decodeEntities(s: string): string {
  return s.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);?/g, (m, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code < 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(code === 0 ? 0xfffd : code);
    }
    const named = NAMED_ENTITIES[ref];
    if (named === undefined) return m;
    // Without ';' only the common legacy references are decoded (`&copy=1` in a URL stays).
    return m.endsWith(';') || ['amp', 'lt', 'gt', 'quot'].includes(ref) ? named : m;
  });
}

/** Parses the attributes of a start tag's inside (`a="1" b='2' c=3 d`). Names are lower-cased. */
export function parseAttributes(s: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const name = (m[1] ?? '').toLowerCase();
    if (name in attrs) continue; // first occurrence wins, as in HTML
    const raw = m[2] ?? m[3] ?? m[4] ?? '';
    attrs[name] = decodeEntities(raw);
  }
  return attrs;
}

function stripComments(html: string): string {
  // Comments, scripts and styles cannot contain forms we care about.
  return html.replace(/<!--[\s\S]*?-->/g, '').replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '');
}

// A start tag: name, then attributes possibly containing quoted '>' characters.
const TAG_ATTRS = `((?:[^>"']|"[^"]*"|'[^']*')*)`;

function resolveURL(href: string, base: string): string {
  try {
    return new URL(href.trim(), base).toString();
  } catch {
    return href;
  }
}

/** All forms of an HTML page; `pageURL` resolves relative actions. */
export function parseForms(html: string, pageURL: string): ParsedForm[] {
  const src = stripComments(html);
  const forms: ParsedForm[] = [];
  const formRe = new RegExp(`<form\\b${TAG_ATTRS}>([\\s\\S]*?)(?:</form\\s*>|(?=<form\\b)|$)`, 'gi');
  let fm: RegExpExecArray | null;
  while ((fm = formRe.exec(src)) !== null) {
    const attrs = parseAttributes(fm[1] ?? '');
    const content = fm[2] ?? '';
    const actionAttr = attrs['action'];
    const action = actionAttr === undefined || actionAttr.trim() === '' ? pageURL : resolveURL(actionAttr, pageURL);
    const method = (attrs['method'] ?? 'get').trim().toLowerCase() === 'post' ? 'POST' : 'GET';
    const inputs = parseControls(content);
    const entries: [string, string][] = [];
    for (const i of inputs) {
      if (!i.name || i.disabled) continue;
      if (['submit', 'button', 'image', 'reset', 'file'].includes(i.type)) continue;
      if ((i.type === 'checkbox' || i.type === 'radio') && !i.checked) continue;
      entries.push([i.name, i.value]);
    }
    const form: ParsedForm = {
      action,
      method,
      enctype: (attrs['enctype'] ?? 'application/x-www-form-urlencoded').toLowerCase(),
      inputs,
      entries,
      fields: Object.fromEntries(entries),
    };
    if (attrs['id'] !== undefined) form.id = attrs['id'];
    if (attrs['name'] !== undefined) form.name = attrs['name'];
    forms.push(form);
  }
  return forms;
}

function parseControls(html: string): FormInput[] {
  const out: FormInput[] = [];
  const re = new RegExp(
    `<(input)\\b${TAG_ATTRS}>|<(button|select|textarea)\\b${TAG_ATTRS}>([\\s\\S]*?)</\\3\\s*>`,
    'gi',
  );
  let m: RegExpExecArray | null;
  while ((m = re.exec(html)) !== null) {
    const tag = (m[1] ?? m[3] ?? '').toLowerCase();
    const attrs = parseAttributes(m[2] ?? m[4] ?? '');
    const inner = m[5] ?? '';
    const base = { name: attrs['name'] ?? '', disabled: 'disabled' in attrs };
    if (tag === 'input') {
      const type = (attrs['type'] ?? 'text').toLowerCase();
      const value = attrs['value'] ?? (type === 'checkbox' || type === 'radio' ? 'on' : '');
      out.push({ tag, type, value, checked: 'checked' in attrs, ...base });
    } else if (tag === 'button') {
      out.push({ tag, type: (attrs['type'] ?? 'submit').toLowerCase(), value: attrs['value'] ?? '', checked: false, ...base });
    } else if (tag === 'textarea') {
      out.push({ tag, type: 'textarea', value: decodeEntities(inner.replace(/^\r?\n/, '')), checked: false, ...base });
    } else {
      const options = [...inner.matchAll(new RegExp(`<option\\b${TAG_ATTRS}>([^<]*)`, 'gi'))].map((o) => {
        const oa = parseAttributes(o[1] ?? '');
        return { value: oa['value'] ?? decodeEntities((o[2] ?? '').trim()), selected: 'selected' in oa };
      });
      const chosen = options.find((o) => o.selected) ?? options[0];
      out.push({ tag, type: 'select', value: chosen?.value ?? '', checked: false, ...base });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Cookies

export interface Cookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** ms since epoch; undefined for session cookies. */
  expires?: number;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

function isIP(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.startsWith('[');
}

function defaultPath(url: URL): string {
  const p = url.pathname;
  if (!p.startsWith('/')) return '/';
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function domainMatches(host: string, domain: string): boolean {
  return host === domain || (!isIP(host) && host.endsWith('.' + domain));
}

export class CookieJar {
  #cookies: Cookie[] = [];

  /** Stores the cookies of a Set-Cookie header value (one cookie per string). */
  setCookie(header: string, requestURL: string | URL, now = Date.now()): void {
    const url = new URL(requestURL);
    const host = url.hostname.toLowerCase();
    const parts = header.split(';');
    const first = parts.shift() ?? '';
    const eq = first.indexOf('=');
    const name = (eq === -1 ? '' : first.slice(0, eq)).trim();
    const value = (eq === -1 ? first : first.slice(eq + 1)).trim();
    if (name === '' && value === '') return;

    let domain: string | undefined;
    let path: string | undefined;
    let expires: number | undefined;
    let maxAge: number | undefined;
    let secure = false;
    let httpOnly = false;
    for (const part of parts) {
      const i = part.indexOf('=');
      const key = (i === -1 ? part : part.slice(0, i)).trim().toLowerCase();
      const val = i === -1 ? '' : part.slice(i + 1).trim();
      switch (key) {
        case 'domain':
          if (val) domain = val.replace(/^\./, '').toLowerCase();
          break;
        case 'path':
          path = val.startsWith('/') ? val : undefined;
          break;
        case 'expires': {
          const t = Date.parse(val);
          if (!Number.isNaN(t)) expires = t;
          break;
        }
        case 'max-age':
          if (/^-?[0-9]+$/.test(val)) maxAge = parseInt(val, 10);
          break;
        case 'secure':
          secure = true;
          break;
        case 'httponly':
          httpOnly = true;
          break;
        default:
          // SameSite and unknown attributes are ignored.
          break;
      }
    }
    if (secure && url.protocol !== 'https:' && !isLoopback(host)) return;
    let hostOnly = true;
    if (domain !== undefined && domain !== host) {
      if (!domainMatches(host, domain)) return; // foreign domain: reject
      hostOnly = false;
    }
    const cookie: Cookie = {
      name,
      value,
      domain: hostOnly ? host : (domain ?? host),
      hostOnly,
      path: path ?? defaultPath(url),
      secure,
      httpOnly,
    };
    if (maxAge !== undefined) cookie.expires = maxAge <= 0 ? 0 : now + maxAge * 1000;
    else if (expires !== undefined) cookie.expires = expires;

    this.#cookies = this.#cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    if (cookie.expires !== undefined && cookie.expires <= now) return; // deletion
    this.#cookies.push(cookie);
  }

  /** Cookies that would be sent to `url`, most specific path first. */
  cookiesFor(url: string | URL, now = Date.now()): Cookie[] {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const secureOK = u.protocol === 'https:' || isLoopback(host);
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
    return this.#cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)))
      .filter((c) => pathMatches(u.pathname || '/', c.path))
      .filter((c) => !c.secure || secureOK)
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** The Cookie header for `url` ('' when none). */
  header(url: string | URL): string {
    return this.cookiesFor(url)
      .map((c) => (c.name === '' ? c.value : `${c.name}=${c.value}`))
      .join('; ');
  }

  /** Value of a cookie visible to `url`. */
  get(url: string | URL, name: string): string | undefined {
    return this.cookiesFor(url).find((c) => c.name === name)?.value;
  }

  all(): Cookie[] {
    return this.#cookies.map((c) => ({ ...c }));
  }

  clear(): void {
    this.#cookies = [];
  }
}

// ---------------------------------------------------------------------------
// The client

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class BrowserClient {
  readonly cookies = new CookieJar();
  userAgent = 'sso-operator-tests/1.0 (like Mozilla/5.0)';

  get(url: string, opts: RequestOptions = {}): Promise<BrowserResponse> {
    return this.request('GET', url, undefined, opts);
  }

  /** POSTs application/x-www-form-urlencoded fields. */
  postForm(
    url: string,
    fields: Record<string, string> | [string, string][],
    opts: RequestOptions = {},
  ): Promise<BrowserResponse> {
    const body = new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields)).toString();
    return this.request('POST', url, { body, contentType: 'application/x-www-form-urlencoded' }, opts);
  }

  /**
   * Submits a form found on `page` (the first one unless `opts.form` says otherwise).
   * `overrides` replace the values of existing fields (first occurrence) or add new ones;
   * a `null` override removes the field.
   */
  submitForm(
    page: BrowserResponse,
    overrides: Record<string, string | null> = {},
    opts: SubmitOptions = {},
  ): Promise<BrowserResponse> {
    const forms = parseForms(page.body, page.url);
    const sel = opts.form ?? 0;
    const form = typeof sel === 'number' ? forms[sel] : forms.find(sel);
    if (!form) {
      throw new Error(
        `no matching form on ${page.url} (status ${page.status}; ${forms.length} form(s)):\n${page.body.slice(0, 3000)}`,
      );
    }
    return this.submit(form, overrides, opts);
  }

  /** Submits an already parsed form. */
  submit(form: ParsedForm, overrides: Record<string, string | null> = {}, opts: SubmitOptions = {}): Promise<BrowserResponse> {
    let entries = form.entries.map(([k, v]): [string, string] => [k, v]);
    for (const [k, v] of Object.entries(overrides)) {
      if (v === null) {
        entries = entries.filter(([n]) => n !== k);
        continue;
      }
      const idx = entries.findIndex(([n]) => n === k);
      if (idx === -1) entries.push([k, v]);
      else entries[idx] = [k, v];
    }
    if (opts.submitter !== undefined) {
      const btn = form.inputs.find((i) => i.name === opts.submitter && (i.type === 'submit' || i.type === 'image'));
      if (!btn) throw new Error(`no submit button named ${opts.submitter} in form ${form.action}`);
      entries.push([btn.name, btn.value]);
    }
    if (form.method === 'GET') {
      const u = new URL(form.action);
      u.search = new URLSearchParams(entries).toString();
      u.hash = '';
      return this.get(u.toString(), opts);
    }
    if (form.enctype === 'multipart/form-data') {
      const fd = new FormData();
      for (const [k, v] of entries) fd.append(k, v);
      return this.request('POST', form.action, { body: fd }, opts);
    }
    return this.postForm(form.action, entries, opts);
  }

  /** A raw request with cookie handling and manual redirect following. */
  async request(
    method: string,
    url: string,
    payload: { body: string | FormData; contentType?: string } | undefined,
    opts: RequestOptions = {},
  ): Promise<BrowserResponse> {
    const follow = opts.followRedirects ?? true;
    const max = opts.maxRedirects ?? 20;
    const redirects: string[] = [];
    let current = new URL(url).toString();
    let m = method.toUpperCase();
    let body = payload;
    for (;;) {
      const headers: Record<string, string> = {
        'user-agent': this.userAgent,
        accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
        ...opts.headers,
      };
      const cookie = this.cookies.header(current);
      if (cookie) headers['cookie'] = cookie;
      if (body?.contentType) headers['content-type'] = body.contentType;
      const res = await fetch(current, {
        method: m,
        headers,
        body: body?.body,
        redirect: 'manual',
      });
      for (const sc of res.headers.getSetCookie()) this.cookies.setCookie(sc, current);
      const location = res.headers.get('location');
      if (follow && REDIRECT_STATUSES.has(res.status) && location) {
        await res.arrayBuffer(); // drain
        if (redirects.length >= max) throw new Error(`too many redirects (${max}): ${[...redirects, current].join(' -> ')}`);
        redirects.push(current);
        current = new URL(location, current).toString();
        if (res.status === 303 ? m !== 'HEAD' : (res.status === 301 || res.status === 302) && m === 'POST') {
          m = 'GET';
          body = undefined;
        }
        continue;
      }
      return { url: current, status: res.status, headers: res.headers, body: await res.text(), redirects };
    }
  }
}

/** Convenience: the first form on a page whose fields include `name`. */
export function findFormWithField(page: BrowserResponse, name: string): ParsedForm | undefined {
  return parseForms(page.body, page.url).find((f) => f.inputs.some((i) => i.name === name));
}
