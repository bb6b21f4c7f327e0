// Minimal HTML for the few pages an SP shows. Every interpolated value goes
// through escapeHtml: pages echo connector names, claims and URLs that come
// from manifests and IdPs, so unescaped output would be stored XSS.

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1f}' +
  'code,pre{background:#f3f3f6;padding:.1rem .3rem;border-radius:4px}pre{padding:.8rem;overflow:auto}' +
  'table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}td:last-child{overflow-wrap:anywhere}' +
  '.muted{color:#666;font-size:.9rem}a.button,button{display:inline-block;padding:.4rem .9rem;border-radius:6px;background:#3451b2;color:#fff;text-decoration:none;border:0;font-size:1rem;cursor:pointer}';
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** Submits the first form of the page; allowed by its hash in the CSP, nothing else runs. */
const AUTO_SUBMIT = 'document.forms[0].submit()';
const AUTO_SUBMIT_HASH = `'sha256-${createHash('sha256').update(AUTO_SUBMIT).digest('base64')}'`;

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

/** The headers of every page: no caching, no framing, no referrer, and a CSP that allows its one style sheet (and the auto-submit script). */
function pageHeaders(opts: { formAction?: string; autoSubmit?: boolean } = {}): [string, string][] {
  const formAction = opts.formAction ? `'self' ${opts.formAction}` : `'self'`;
  const script = opts.autoSubmit ? `script-src ${AUTO_SUBMIT_HASH}; ` : '';
  return [
    ['content-type', 'text/html; charset=utf-8'],
    ['cache-control', 'no-store'],
    ['x-frame-options', 'DENY'],
    ['referrer-policy', 'no-referrer'],
    ['x-content-type-options', 'nosniff'],
    ['content-security-policy', `default-src 'none'; style-src ${STYLE_HASH}; ${script}form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`],
  ];
}
const PLAIN_PAGE_HEADERS = pageHeaders();

export function sendPage(reply: FastifyReply, status: number, title: string, body: string, opts: { formAction?: string; autoSubmit?: boolean } = {}): FastifyReply {
  for (const [name, value] of opts.formAction || opts.autoSubmit ? pageHeaders(opts) : PLAIN_PAGE_HEADERS) reply.header(name, value);
  return reply.code(status).send(page(title, body));
}

/** A page that POSTs `fields` to `action` (SAML HTTP-POST binding), with a button when scripts are off. */
export function sendAutoPost(reply: FastifyReply, action: string, fields: Record<string, string>, title = 'Continuing sign-in'): FastifyReply {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const origin = new URL(action).origin;
  const body = `<form method="post" action="${escapeHtml(action)}">${inputs}<noscript><p>Scripts are off: press the button to continue.</p></noscript><button type="submit">Continue</button></form><script>${AUTO_SUBMIT}</script>`;
  return sendPage(reply, 200, title, body, { formAction: origin, autoSubmit: true });
}

/**
 * Which page a person got, as a stable word for clients that ask for JSON:
 * the page kinds of a sign-in (signed in, sign-in failed, no access, pending
 * approval, access denied, connector unavailable) and of the few other
 * answers (signed out, not signed in, a bad request...).
 */
export type OutcomeKind =
  | 'signed-in'
  | 'not-signed-in'
  | 'signed-out'
  | 'sign-in-failed'
  | 'sign-out-failed'
  | 'no-access'
  | 'pending-approval'
  | 'access-denied'
  | 'access-granted'
  | 'request-not-recorded'
  | 'connector-unavailable'
  | 'bad-request'
  | 'not-found'
  | 'unavailable'
  | 'error';

/**
 * The JSON twin of an outcome page: the same title, text, reason code and
 * correlation id, plus the page's own values (user, connector, links).
 * Built only from fixed texts and values the page shows anyway; never an
 * error message, a stack, a trail or a secret.
 */
export interface OutcomeJSON {
  outcome: OutcomeKind;
  status: number;
  title: string;
  message: string;
  /** Why, as a reason code; absent on the signed-in page (nothing went wrong). */
  reason?: string;
  correlationId: string;
  [field: string]: unknown;
}

/** Whether the client asked for JSON (`Accept: application/json`) rather than a page. */
function wantsJSON(reply: FastifyReply): boolean {
  return acceptsJSON(reply.request.headers.accept);
}

/**
 * An outcome page, or its JSON twin when the client asks for JSON; the same
 * status either way. `html` is the page body; `json` says the same in fields.
 * `asJSON`: the route was asked for JSON another way (`?format=json`).
 */
export function sendOutcome(reply: FastifyReply, html: string, json: OutcomeJSON, opts: { asJSON?: boolean } = {}): FastifyReply {
  reply.header('vary', 'Accept');
  if (opts.asJSON || wantsJSON(reply)) {
    return reply.code(json.status).header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').send(json);
  }
  return sendPage(reply, json.status, json.title, html);
}

/** The line under every outcome page: its reason code (when something went wrong) and correlation id. */
export function outcomeFooter(reason: string | undefined, correlationId: string): string {
  const why = reason === undefined ? '' : `Reason: <code>${escapeHtml(reason)}</code> · `;
  return `<p class="muted">${why}Correlation id: <code>${escapeHtml(correlationId)}</code></p>`;
}

const ERROR_TITLES: Record<number, string> = {
  400: 'Bad request', 401: 'Sign-in failed', 403: 'Access not granted', 404: 'Not found', 405: 'Method not allowed',
  413: 'Message too large', 429: 'Too many requests', 503: 'Sign-in unavailable',
};

/** The outcome of a refusal, when the caller does not say (most refusals end a sign-in). */
function errorOutcome(status: number, reason: string): OutcomeKind {
  switch (reason) {
    case 'BindingNotActive':
      return 'no-access';
    case 'ConnectorNotFound':
    case 'ConnectorNotReady':
      return 'connector-unavailable';
    case 'NotFound':
      return 'not-found';
    case 'MalformedRequest':
    case 'MethodNotAllowed':
    case 'RequestTooLarge':
    case 'UnsupportedMediaType':
      return 'bad-request';
    case 'InternalError':
      return 'error';
    case 'RateLimited':
      return 'unavailable';
    default:
      return status >= 500 ? 'unavailable' : 'sign-in-failed';
  }
}

/** What the short page of a refused request says, as a page body and as its JSON twin. */
function errorOutcomeOf(status: number, reason: string, correlationId: string, text?: string, outcome?: OutcomeKind): { html: string; json: OutcomeJSON } {
  const title = ERROR_TITLES[status] ?? 'Error';
  const kind = outcome ?? errorOutcome(status, reason);
  const message = text ?? reasonText(reason) ?? (kind === 'sign-out-failed' ? 'The sign-out could not be completed.' : 'The sign-in could not be completed.');
  return {
    html: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${outcomeFooter(reason, correlationId)}<p><a href="/">Home</a></p>`,
    json: { outcome: kind, status, title, message, reason, correlationId, ...(kind === 'no-access' ? { canRequestAccess: false } : {}) },
  };
}

/**
 * The short page of a refused request: a status, a one-line reason and a
 * correlation id; details only in the log. `outcome` names the page kind
 * when the refusal ends something other than a sign-in (a sign-out).
 */
export function sendError(reply: FastifyReply, status: number, reason: string, correlationId: string, text?: string, outcome?: OutcomeKind): FastifyReply {
  const o = errorOutcomeOf(status, reason, correlationId, text, outcome);
  return sendOutcome(reply, o.html, o.json);
}

/**
 * sendError's page, written on a raw response by the listener's early
 * refusals (forward-auth-fast-path.ts, postRefusal): the same status, headers and page, with
 * `extra` header pairs after them. Only for clients that did not ask for
 * JSON; those go through fastify and sendError.
 */
export function writeErrorPage(res: ServerResponse, status: number, reason: string, correlationId: string, extra: string[] = []): void {
  // Junk floods come through here: the page around the id, and the headers
  // before its length, are built once per (status, reason, extra headers).
  const key = `${status} ${reason} ${extra.join(' ')}`;
  let cached = errorPages.get(key);
  if (cached === undefined) {
    const o = errorOutcomeOf(status, reason, ID_MARK);
    const [head = '', tail = ''] = page(o.json.title, o.html).split(ID_MARK);
    const headers = ['vary', 'Accept'];
    for (const [name, value] of PLAIN_PAGE_HEADERS) headers.push(name, value);
    cached = { head, tail, length: Buffer.byteLength(head) + Buffer.byteLength(tail), headers: [...headers, ...extra] };
    if (errorPages.size < 256) errorPages.set(key, cached);
  }
  const id = escapeHtml(correlationId);
  res.writeHead(status, [...cached.headers, 'content-length', String(cached.length + Buffer.byteLength(id))]).end(cached.head + id + cached.tail);
}

/** Where the correlation id goes in a cached error page (escapeHtml keeps it as it is, no reason text holds it). */
const ID_MARK = '\u0000id\u0000';
const errorPages = new Map<string, { head: string; tail: string; length: number; headers: string[] }>();

/** Whether a request asks for JSON rather than a page (sendOutcome's rule). */
export function acceptsJSON(accept: string | undefined): boolean {
  return (accept ?? '').includes('application/json');
}

/** A session ended here (`reason` SignedOut, or what the IdP reported); `next` is where the link goes. */
export function sendSignedOut(reply: FastifyReply, correlationId: string, o: { title?: string; message: string; reason?: string; next?: string }): FastifyReply {
  const title = o.title ?? 'Signed out';
  const reason = o.reason ?? 'SignedOut';
  const next = o.next ?? '/';
  const link = next === '/' ? '<a href="/">Home</a>' : `<a href="${escapeHtml(next)}">Continue</a>`;
  return sendOutcome(reply, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(o.message)}</p><p>${link}</p>${outcomeFooter(reason, correlationId)}`, {
    outcome: 'signed-out',
    status: 200,
    title,
    message: o.message,
    reason,
    correlationId,
    next,
  });
}

function reasonText(reason: string): string | undefined {
  switch (reason) {
    case 'BindingNotActive':
      return 'You signed in at your identity provider, but you have no active access through this connector. Ask an administrator for a UserBinding.';
    case 'ConnectorNotFound':
      return 'There is no enabled connector at this address.';
    case 'ConnectorNotReady':
      return 'This connector is not ready: its configuration is being fixed. Try again later.';
    case 'BindingsLoading':
      return 'Sign-in is starting up: who may use this connector is still being loaded. Try again in a minute.';
    case 'RateLimited':
      return 'Too many sign-in attempts from your address or at this connector. Wait a moment and try again.';
    case 'RedirectNotAllowed':
      return 'The address to return to is not allowed.';
    case 'UnsolicitedResponseRefused':
      return 'The identity provider sent a sign-in that was not started here, or whose start has expired. Start again from the application.';
    case 'ResponseTooLarge':
      return 'The message from the identity provider is larger than this connector accepts. An administrator can raise its limit (saml.security.maxResponseBytes).';
    default:
      return undefined;
  }
}
