// The pages of access requests (spec.access.requests: Enabled) and the route
// that records a request. See src/access/requests.ts for what the request
// flow defends against; this file adds the HTTP side:
// - the request cookie (`__Host-sso_access` on https): HttpOnly,
//   SameSite=Strict, Path=/, 10 minutes; its value bound to its name and the
//   state key, holding only the connector and the user the sign-in verified;
// - POST /auth/request-access accepts a request only from this site
//   (Sec-Fetch-Site same-origin, or an Origin equal to the public URL's when a
//   browser sends no Sec-Fetch-Site), with the form token derived from that
//   cookie, for a connector that still takes requests, for a user who still
//   has no Active binding, within the per-connector limit;
// - every page is a fixed text with escaped values and a correlation id, no
//   internals; `Accept: application/json` gets the same as JSON.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ACCESS_COOKIE_TTL_SECONDS,
  AccessRequestLimiter,
  csrfToken,
  csrfTokenValid,
  decodeAccessCookie,
  encodeAccessCookie,
  requestBinding,
} from '../access/requests.ts';
import type { ConnectorRuntime } from '../controller/registry.ts';
import { parseCookies, serializeCookie, stateCookieName } from '../session/cookies.ts';
import type { PublicContext } from './context.ts';
import { escapeHtml, outcomeFooter, sendOutcome } from './html.ts';

const HOST_ACCESS_COOKIE = '__Host-sso_access';
const PLAIN_ACCESS_COOKIE = 'sso_access';

/** `__Host-sso_access` wherever the state cookie is `__Host-` (https), `sso_access` on loopback http. */
export function accessCookieName(publicURL: string): string {
  return stateCookieName(publicURL).startsWith('__Host-') ? HOST_ACCESS_COOKIE : PLAIN_ACCESS_COOKIE;
}

const cookieOptions = (maxAge: number) => ({ httpOnly: true, sameSite: 'strict' as const, secure: true, path: '/', maxAge });

/** The Set-Cookie line carrying a verified identity for the request form, and the form's token. */
export function accessCookieLine(ctx: PublicContext, connector: string, user: string, now: Date): { line: string; token: string } {
  const name = accessCookieName(ctx.config.publicURL);
  const { value, identity } = encodeAccessCookie(ctx.stateKey(), name, { c: connector, u: user }, now);
  return { line: serializeCookie(name, value, cookieOptions(ACCESS_COOKIE_TTL_SECONDS)), token: csrfToken(ctx.stateKey(), identity) };
}

const label = (runtime: ConnectorRuntime) => runtime.displayName ?? runtime.key;

/**
 * No access yet: the Request access button (and, as JSON, where the form
 * posts and its token). The token in the JSON is the one the HTML form
 * carries: only this response's reader gets it (no CORS header lets another
 * site read it), and it is worth nothing without the SameSite=Strict cookie
 * it was derived from and a same-origin POST.
 */
export function requestPage(reply: FastifyReply, runtime: ConnectorRuntime, user: string, token: string, correlationId: string): FastifyReply {
  const reason = 'BindingNotActive';
  return sendOutcome(
    reply,
    `<h1>You do not have access yet</h1><p>You signed in as <strong>${escapeHtml(user)}</strong>, but you have no access through <strong>${escapeHtml(label(runtime))}</strong>.</p>` +
      `<p>You can ask an administrator for access. They will see your request and approve or decline it.</p>` +
      `<form method="post" action="/auth/request-access"><input type="hidden" name="token" value="${escapeHtml(token)}"><p><button type="submit">Request access</button></p></form>` +
      outcomeFooter(reason, correlationId),
    {
      outcome: 'no-access',
      status: 403,
      title: 'Request access',
      message: `You signed in as ${user}, but you have no access through ${label(runtime)}. You can ask an administrator for access.`,
      reason,
      correlationId,
      user,
      connector: runtime.key,
      canRequestAccess: true,
      requestAccess: { method: 'POST', action: '/auth/request-access', token },
    },
  );
}

/** A request is waiting for an administrator. */
export function pendingPage(reply: FastifyReply, runtime: ConnectorRuntime, user: string, correlationId: string, status = 200): FastifyReply {
  const reason = 'AccessPending';
  return sendOutcome(
    reply,
    `<h1>Pending approval</h1><p>Your request for access through <strong>${escapeHtml(label(runtime))}</strong> as <strong>${escapeHtml(user)}</strong> is waiting for an administrator.</p>` +
      `<p>Sign in again once it has been approved; there is nothing else to do.</p>` +
      `<p><a class="button" href="${escapeHtml(runtime.loginURL)}">Sign in again</a> <a href="/">Home</a></p>` +
      outcomeFooter(reason, correlationId),
    {
      outcome: 'pending-approval',
      status,
      title: 'Pending approval',
      message: `Your request for access through ${label(runtime)} as ${user} is waiting for an administrator. Sign in again once it has been approved.`,
      reason,
      correlationId,
      user,
      connector: runtime.key,
      loginURL: runtime.loginURL,
    },
  );
}

/** An administrator declined. */
export function deniedPage(reply: FastifyReply, runtime: ConnectorRuntime, correlationId: string): FastifyReply {
  const reason = 'AccessDenied';
  return sendOutcome(
    reply,
    `<h1>Access denied</h1><p>An administrator declined access through <strong>${escapeHtml(label(runtime))}</strong>. Ask them if you think this is a mistake.</p>` +
      `<p><a href="/">Home</a></p>` +
      outcomeFooter(reason, correlationId),
    {
      outcome: 'access-denied',
      status: 403,
      title: 'Access denied',
      message: `An administrator declined access through ${label(runtime)}. Ask them if you think this is a mistake.`,
      reason,
      correlationId,
      connector: runtime.key,
    },
  );
}

function refused(reply: FastifyReply, status: number, reason: string, correlationId: string, text: string): FastifyReply {
  const title = 'Request not recorded';
  return sendOutcome(reply, `<h1>${title}</h1><p>${escapeHtml(text)}</p>${outcomeFooter(reason, correlationId)}<p><a href="/">Home</a></p>`, {
    outcome: 'request-not-recorded',
    status,
    title,
    message: text,
    reason,
    correlationId,
  });
}

/** Whether the request comes from a page of this site (the request form). */
function sameSite(req: FastifyRequest, publicURL: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin';
  const origin = req.headers.origin;
  return typeof origin === 'string' && origin === new URL(publicURL).origin;
}

export async function accessRoutes(app: FastifyInstance, ctx: PublicContext): Promise<void> {
  const now = ctx.now ?? (() => new Date());
  const limiter = new AccessRequestLimiter();

  app.post<{ Body: Record<string, unknown> | undefined }>('/auth/request-access', async (req, reply) => {
    const store = ctx.accessRequests;
    const name = accessCookieName(ctx.config.publicURL);
    const t = now();
    const count = (runtime: ConnectorRuntime | undefined, result: string) =>
      ctx.metrics.accessRequests.inc({ namespace: runtime?.namespace ?? '_unknown', connector: runtime?.name ?? '_unknown', result });
    if (!sameSite(req, ctx.config.publicURL)) {
      count(undefined, 'refused');
      return refused(reply, 403, 'CrossSiteRequest', req.id, 'The request did not come from this site.');
    }
    const identity = decodeAccessCookie(ctx.stateKey(), name, parseCookies(req.headers.cookie)[name], t);
    if (!identity || !csrfTokenValid(ctx.stateKey(), identity, req.body?.token)) {
      count(undefined, 'refused');
      return refused(reply, 403, 'AccessRequestExpired', req.id, 'This request form has expired. Sign in again to request access.');
    }
    const runtime = ctx.registry.current().connectors.get(identity.c);
    if (!store || !runtime || !runtime.enabled || !runtime.accessRequests) {
      count(runtime, 'refused');
      return refused(reply, 403, 'AccessRequestsDisabled', req.id, 'This connector does not take access requests.');
    }
    // Spent either way: the next request needs a new sign-in.
    reply.header('set-cookie', serializeCookie(name, '', cookieOptions(0)));
    // Right after a start, wait for every binding: the user may be bound already.
    const index = ctx.registry.current().bindings;
    if (!index.complete && !(await index.whenComplete())) {
      count(runtime, 'refused');
      return refused(reply, 503, 'BindingsLoading', req.id, 'Sign-in is starting up. Try again in a minute.');
    }
    if (ctx.registry.current().bindings.lookup(runtime.key, identity.u).active) {
      count(runtime, 'active');
      return sendOutcome(
        reply,
        `<h1>You have access</h1><p>You already have access through <strong>${escapeHtml(label(runtime))}</strong>.</p><p><a class="button" href="${escapeHtml(runtime.loginURL)}">Sign in</a></p>${outcomeFooter('BindingActive', req.id)}`,
        { outcome: 'access-granted', status: 200, title: 'Access granted', message: `You already have access through ${label(runtime)}. Sign in.`, reason: 'BindingActive', correlationId: req.id, connector: runtime.key, loginURL: runtime.loginURL },
      );
    }
    if (!limiter.take(runtime.key)) {
      count(runtime, 'rate_limited');
      ctx.logger.warn({ correlationId: req.id, connector: runtime.key }, 'access request refused: too many requests for this connector');
      return refused(reply.header('retry-after', '60'), 429, 'AccessRequestRateLimited', req.id, 'Too many access requests right now. Try again in a minute.');
    }
    const binding = requestBinding(runtime.namespace, runtime.name, identity.u, t);
    try {
      const result = await store.create(binding);
      count(runtime, result);
      ctx.logger.info({ correlationId: req.id, connector: runtime.key, binding: binding.metadata.name, result, user: identity.u }, 'access request recorded');
    } catch (err) {
      count(runtime, 'failed');
      ctx.logger.error({ correlationId: req.id, connector: runtime.key, err: (err as Error).message }, 'access request could not be recorded');
      return refused(reply, 503, 'AccessRequestUnavailable', req.id, 'The request could not be recorded. Try again later.');
    }
    return pendingPage(reply, runtime, identity.u, req.id, 200);
  });
}
