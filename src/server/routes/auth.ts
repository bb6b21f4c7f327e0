// Session handoff to applications: forward-auth for ingress controllers, the
// start of a login from an ingress 401, whoami, logout and the JWKS.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newRequestId } from '../../saml/authn-request.ts';
import { buildLogoutRequest } from '../../saml/logout.ts';
import { endSessionURL } from '../../oidc/relying-party.ts';
import { checkRedirect } from '../../session/redirects.ts';
import { addPendingCookies } from '../login-state.ts';
import type { PublicContext } from '../context.ts';
import { UNAVAILABLE, sessionCheck, type SessionCheck, type VerifyQuery } from '../forward-auth-answer.ts';
import { escapeHtml, outcomeFooter, sendError, sendOutcome } from '../html.ts';
import { clearedSessionCookie, presentedSession, revokeSession } from '../session-end.ts';

export async function authRoutes(app: FastifyInstance, ctx: PublicContext, check: SessionCheck = sessionCheck(ctx)): Promise<void> {
  const now = ctx.now ?? (() => new Date());
  const currentSession = (req: FastifyRequest) => check.currentSession(req.headers.cookie, req.query as VerifyQuery, req.id);

  // The listener answers most /auth/verify requests before they reach fastify
  // (src/server/forward-auth-fast-path.ts); this route answers the others and
  // app.inject, with the same function.
  app.get('/auth/verify', async (req, reply) => {
    const answer = await check.verifyAnswer(req.headers.cookie, req.query as VerifyQuery, req.id);
    reply.header('cache-control', 'no-store');
    if (answer.headers) reply.headers(answer.headers);
    return reply.code(answer.status).send();
  });

  app.get<{ Querystring: { connector?: string; rd?: string } }>('/auth/start', async (req, reply) => {
    const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
    if (!rd.ok) return sendError(reply, 400, rd.reason, req.id);
    const connectors = [...ctx.registry.current().connectors.values()].filter((c) => c.enabled);
    let key = req.query.connector;
    if (!key) {
      // With exactly one connector the choice is obvious; otherwise say which to give.
      const ready = connectors.filter((c) => c.ready);
      if (ready.length !== 1) return sendError(reply, 400, 'ConnectorRequired', req.id, 'Give ?connector=namespace/name.');
      key = ready[0]!.key;
    }
    const runtime = connectors.find((c) => c.key === key);
    if (!runtime) return sendError(reply, 404, 'ConnectorNotFound', req.id);
    const login = new URL(runtime.loginURL);
    login.searchParams.set('rd', rd.target);
    return reply.code(302).header('location', `${login.pathname}${login.search}`).send();
  });

  // The signed-in page (or, without a session, Not signed in); JSON keeps
  // `authenticated` and `claims` beside the fields every outcome page has.
  app.get<{ Querystring: { format?: string } }>('/auth/whoami', async (req, reply) => {
    const d = await currentSession(req);
    const asJSON = { asJSON: req.query.format === 'json' };
    if (d.status === 503) {
      const message = 'Whether your session is still valid cannot be checked right now. Try again in a moment.';
      return sendOutcome(reply, `<h1>Session state unavailable</h1><p>${message}</p>${outcomeFooter(d.reason, req.id)}`, {
        outcome: 'unavailable', status: 503, title: 'Unavailable', message, reason: d.reason, correlationId: req.id, authenticated: false,
      }, asJSON);
    }
    if (d.status !== 200) {
      const message = 'You are not signed in here, or your session has ended.';
      return sendOutcome(reply, `<h1>Not signed in</h1><p>${message}</p>${outcomeFooter(d.reason, req.id)}<p><a class="button" href="/">Sign in</a></p>`, {
        outcome: 'not-signed-in', status: 401, title: 'Not signed in', message, reason: d.reason, correlationId: req.id, authenticated: false,
      }, asJSON);
    }
    // Groups as the binding grants them now, which is what forward-auth hands on.
    // The token vault's sealing key is not shown: it is no claim about the user.
    const { atk: _sealingKey, ...shown } = d.claims;
    const claims = { ...shown, groups: d.groups };
    const message = 'These are the claims of your sso_session, as applications behind forward-auth see them.';
    const rows = Object.entries(claims)
      .map(([k, v]) => {
        const shown = Array.isArray(v) ? v.join(', ') : k === 'iat' || k === 'exp' ? `${v} (${new Date(Number(v) * 1000).toISOString()})` : typeof v === 'object' ? JSON.stringify(v) : v;
        // An empty list (no groups) reads "none" rather than an empty box.
        const cell = Array.isArray(v) && v.length === 0 ? '<span class="muted">none</span>' : `<code>${escapeHtml(shown)}</code>`;
        return `<tr><th>${escapeHtml(k)}</th><td>${cell}</td></tr>`;
      })
      .join('');
    return sendOutcome(
      reply,
      `<h1>Signed in</h1><p>These are the claims of your <code>sso_session</code>, as applications behind forward-auth see them.</p><table>${rows}</table>` +
        `<form method="post" action="/auth/logout"><p><button type="submit">Sign out</button></p></form>${outcomeFooter(undefined, req.id)}`,
      { outcome: 'signed-in', status: 200, title: 'Signed in', message, correlationId: req.id, authenticated: true, claims },
      asJSON,
    );
  });

  /**
   * Ends the session here, then, when it came from a SAML connector with
   * `saml.idp.sloURL`, at the IdP too: a LogoutRequest by HTTP-Redirect, its
   * id kept in the signed state cookie so that /saml/.../slo accepts only
   * the IdP's answer to it and then sends the browser to `rd`. `rd` is
   * validated before anything leaves (no open redirect through the IdP).
   */
  const logout = async (req: FastifyRequest<{ Querystring: { rd?: string } }>, reply: FastifyReply) => {
    // Set-Cookie lines accumulate: the state cookie lines below are added to this one.
    reply.header('set-cookie', clearedSessionCookie(ctx)).header('cache-control', 'no-store');
    const claims = await presentedSession(ctx, req, now());
    if (claims) await revokeSession(ctx, req, claims);
    const rd = req.query.rd !== undefined ? checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts }) : undefined;
    if (rd && !rd.ok) return sendError(reply, 400, rd.reason, req.id, undefined, 'sign-out-failed');
    const target = rd?.target ?? '/';
    const runtime = claims ? ctx.registry.current().connectors.get(claims.connector) : undefined;
    const saml = runtime?.enabled && runtime.ready ? runtime.saml : undefined;
    const ref = claims?.saml;
    // Single logout also ends the user's IdP session, and with it every other
    // SP's: started only by a POST (the Sign out form) or a navigation this
    // site made itself, never by a cross-site link or image (GET stays a
    // local logout then; Sec-Fetch-Site is sent by every current browser).
    const site = req.headers['sec-fetch-site'];
    const deliberate = req.method === 'POST' || site === 'same-origin' || site === 'none';
    if (claims && ref?.nameID !== undefined && saml?.idp.sloURL !== undefined && deliberate) {
      const t = now();
      const requestId = newRequestId();
      const sid = randomBytes(16).toString('base64url');
      const stateLines = addPendingCookies(ctx, req.headers.cookie, { sid, rid: requestId, c: claims.connector, rd: target, k: 'logout' }, t);
      const out = buildLogoutRequest(saml, {
        requestId,
        nameID: ref.nameID,
        ...(ref.nameIDFormat !== undefined ? { nameIDFormat: ref.nameIDFormat } : {}),
        ...(ref.nameQualifier !== undefined ? { nameQualifier: ref.nameQualifier } : {}),
        ...(ref.spNameQualifier !== undefined ? { spNameQualifier: ref.spNameQualifier } : {}),
        ...(ref.sessionIndex !== undefined ? { sessionIndex: ref.sessionIndex } : {}),
        relayState: sid,
        now: t,
      });
      ctx.logger.info({ correlationId: req.id, connector: claims.connector }, 'single logout: LogoutRequest sent to the IdP');
      return reply.header('set-cookie', stateLines).code(303).header('location', out.url).send();
    }
    // OIDC: RP-initiated logout at the provider's end_session_endpoint, on the
    // same terms (deliberate only); its state id names the pending logout, so
    // /oidc/.../logged-out sends the browser to `rd` only for a logout this
    // browser started.
    const oidc = runtime?.enabled && runtime.ready ? runtime.oidc : undefined;
    if (claims && oidc && deliberate) {
      const t = now();
      const sid = randomBytes(16).toString('base64url');
      const url = endSessionURL(oidc, sid);
      if (url) {
        const stateLines = addPendingCookies(ctx, req.headers.cookie, { sid, rid: randomBytes(16).toString('base64url'), c: claims.connector, rd: target, k: 'logout' }, t);
        ctx.logger.info({ correlationId: req.id, connector: claims.connector }, 'RP-initiated logout: sent to the provider');
        return reply.header('set-cookie', stateLines).code(303).header('location', url.href).send();
      }
    }
    return reply.code(303).header('location', target).send();
  };
  app.get('/auth/logout', logout);
  app.post('/auth/logout', logout);

  app.get('/.well-known/jwks.json', async (_req, reply) => {
    return reply.header('cache-control', 'public, max-age=300').send(ctx.sessions.jwks());
  });
}
