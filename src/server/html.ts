// Minimal HTML for the few pages an SP shows. Every interpolated value goes
// through escapeHtml: pages echo connector names, claims and URLs that come
// from manifests and IdPs, so unescaped output would be stored XSS.

import { createHash } from 'node:crypto';
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

export function sendPage(reply: FastifyReply, status: number, title: string, body: string, opts: { formAction?: string; autoSubmit?: boolean } = {}): FastifyReply {
  const formAction = opts.formAction ? `'self' ${opts.formAction}` : `'self'`;
  const script = opts.autoSubmit ? `script-src ${AUTO_SUBMIT_HASH}; ` : '';
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', `default-src 'none'; style-src ${STYLE_HASH}; ${script}form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`)
    .send(page(title, body));
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

/** The short page of a refused request: a status, a one-line reason and a correlation id; details only in the log. */
export function sendError(reply: FastifyReply, status: number, reason: string, correlationId: string, text?: string): FastifyReply {
  const titles: Record<number, string> = {
    400: 'Bad request', 401: 'Sign-in failed', 403: 'Access not granted', 404: 'Not found', 405: 'Method not allowed',
    413: 'Message too large', 503: 'Sign-in unavailable',
  };
  const title = titles[status] ?? 'Error';
  return sendPage(
    reply,
    status,
    title,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text ?? reasonText(reason))}</p><p class="muted">Reason: <code>${escapeHtml(reason)}</code> · Correlation id: <code>${escapeHtml(correlationId)}</code></p><p><a href="/">Home</a></p>`,
  );
}

function reasonText(reason: string): string {
  switch (reason) {
    case 'BindingNotActive':
      return 'You signed in at your identity provider, but you have no active access through this connector. Ask an administrator for a UserBinding.';
    case 'ConnectorNotFound':
      return 'There is no enabled connector at this address.';
    case 'ConnectorNotReady':
      return 'This connector is not ready: its configuration is being fixed. Try again later.';
    case 'RedirectNotAllowed':
      return 'The address to return to after sign-in is not allowed.';
    default:
      return 'The sign-in could not be completed.';
  }
}
