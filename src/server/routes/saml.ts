// SAML routes: metadata, SP-initiated login, the assertion consumer service
// and logout, under /saml/{ns}/{name}/. Everything here reads one registry
// snapshot; nothing waits on I/O other than the replay cache.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConnectorRuntime } from '../../controller/registry.ts';
import { buildAuthnRequest, newRequestId } from '../../saml/authn-request.ts';
import { buildSpMetadata } from '../../saml/metadata.ts';
import { validateResponse } from '../../saml/validate-response.ts';
import type { SamlConnectorConfig } from '../../saml/types.ts';
import { SESSION_COOKIE, STATE_COOKIE, parseCookies, serializeCookie, sessionCookieOptions, stateCookieOptions } from '../../session/cookies.ts';
import { checkRedirect } from '../../session/redirects.ts';
import { addPending, decodeState, encodeState, takePending } from '../../session/state-cookie.ts';
import type { PublicContext } from '../context.ts';
import { sendAutoPost, sendError, sendPage, escapeHtml } from '../html.ts';
import { recordLogin } from '../login-log.ts';

interface Params {
  ns: string;
  name: string;
}

/** Largest body the ACS route accepts at all; each connector's own maxResponseBytes is checked before parsing. */
export const ACS_BODY_LIMIT = 16 * 1024 * 1024;

type Lookup = { ok: true; runtime: ConnectorRuntime; saml: SamlConnectorConfig } | { ok: false; status: 404 | 503; reason: string; runtime?: ConnectorRuntime };

function lookup(ctx: PublicContext, p: Params): Lookup {
  const runtime = ctx.registry.current().connectors.get(`${p.ns}/${p.name}`);
  // A disabled connector is indistinguishable from a missing one: SSO is off.
  if (!runtime || !runtime.enabled) return { ok: false, status: 404, reason: 'ConnectorNotFound', ...(runtime ? { runtime } : {}) };
  if (!runtime.ready || !runtime.saml) return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  return { ok: true, runtime, saml: runtime.saml };
}

function methodNotAllowed(app: FastifyInstance, url: string, allowed: string[]): void {
  const others = (['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const).filter((m) => !allowed.includes(m));
  app.route({
    method: others,
    url,
    handler: (req, reply) => sendError(reply.header('allow', allowed.join(', ')), 405, 'MethodNotAllowed', req.id),
  });
}

export async function samlRoutes(app: FastifyInstance, ctx: PublicContext): Promise<void> {
  const now = ctx.now ?? (() => new Date());

  app.get<{ Params: Params }>('/saml/:ns/:name/metadata', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    return reply
      .header('content-type', 'application/samlmetadata+xml; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(buildSpMetadata(l.saml));
  });
  methodNotAllowed(app, '/saml/:ns/:name/metadata', ['GET']);

  app.get<{ Params: Params; Querystring: { rd?: string } }>('/saml/:ns/:name/login', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
    if (!rd.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: rd.reason }, 'login refused: redirect target not allowed');
      return sendError(reply, 400, rd.reason, req.id);
    }
    const t = now();
    const requestId = newRequestId();
    const sid = randomBytes(16).toString('base64url');
    const cookies = parseCookies(req.headers.cookie);
    const pending = addPending(decodeState(cookies[STATE_COOKIE], ctx.stateKey(), t), {
      sid,
      rid: requestId,
      c: l.runtime.key,
      rd: rd.target,
      exp: Math.floor(t.getTime() / 1000) + 600,
    });
    reply.header('set-cookie', serializeCookie(STATE_COOKIE, encodeState(pending, ctx.stateKey()), stateCookieOptions(ctx.config.publicURL)));
    const out = buildAuthnRequest(l.saml, { requestId, relayState: sid, now: t });
    if (out.binding === 'HTTPRedirect') return reply.code(302).header('cache-control', 'no-store').header('location', out.url).send();
    return sendAutoPost(reply, out.url, out.fields, 'Signing in');
  });
  methodNotAllowed(app, '/saml/:ns/:name/login', ['GET']);

  app.post<{ Params: Params; Body: Record<string, unknown> | undefined; Querystring: { s?: string } }>(
    '/saml/:ns/:name/acs',
    {
      bodyLimit: ACS_BODY_LIMIT,
      // Before the body is read: an unknown, disabled or not-ready connector, or
      // a body far over this connector's limit, is answered without buffering
      // and parsing up to ACS_BODY_LIMIT bytes (a cheap way to burn CPU otherwise).
      onRequest: async (req, reply) => {
        const l = lookup(ctx, req.params);
        const startedAt = process.hrtime.bigint();
        const refuse = (status: number, reason: string, runtime?: ConnectorRuntime) => {
          recordLogin(ctx, { correlationId: req.id, connector: runtime, namespace: req.params.ns, name: req.params.name, status, reason, startedAt });
          return sendError(reply, status, reason, req.id);
        };
        if (!l.ok) return refuse(l.status, l.reason, l.runtime);
        // base64 grows 4/3, form-encoding of its +, / and = up to 3x more; RelayState is small.
        const ceiling = Math.ceil(l.saml.security.maxResponseBytes / 3) * 4 * 3 + 8192;
        const length = Number(req.headers['content-length'] ?? 0);
        if (length > ceiling) return refuse(413, 'ResponseTooLarge', l.runtime);
        return undefined;
      },
    },
    async (req, reply) => {
      const startedAt = process.hrtime.bigint();
      const { ns, name } = req.params;
      // Set once a pending login was taken from the state cookie: it is spent
      // whatever the outcome, so a state id can never complete two logins.
      let stateUpdate: string | undefined;
      const fail = (status: number, reason: string, runtime?: ConnectorRuntime, extra: Partial<Parameters<typeof recordLogin>[1]> = {}) => {
        recordLogin(ctx, { correlationId: req.id, connector: runtime, namespace: ns, name, status, reason, startedAt, ...extra });
        if (stateUpdate !== undefined) reply.header('set-cookie', stateUpdate);
        return sendError(reply, status, reason, req.id);
      };
      const l = lookup(ctx, req.params);
      if (!l.ok) return fail(l.status, l.reason, l.runtime);
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      const samlResponse = body.SAMLResponse;
      const relayState = typeof body.RelayState === 'string' ? body.RelayState : undefined;
      // The HTTP-POST binding is a form post; anything else is not a SAML message.
      if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) return fail(400, 'MalformedResponse', l.runtime);
      if (typeof samlResponse !== 'string' || samlResponse.length === 0) return fail(400, 'MalformedResponse', l.runtime);

      // The state id travels as RelayState or, for IdPs that drop RelayState, as ?s=.
      const sid = l.saml.acsParameterStyle === 'Query' ? req.query.s : relayState;
      const t = now();
      const cookies = parseCookies(req.headers.cookie);
      const pending = decodeState(cookies[STATE_COOKIE], ctx.stateKey(), t);
      const taken = sid ? takePending(pending, sid, l.runtime.key) : { entry: undefined, rest: pending };
      const entry = taken.entry;
      if (taken.rest.length !== pending.length) {
        // With no pending login left the cookie is deleted rather than kept empty.
        const rest = encodeState(taken.rest, ctx.stateKey());
        const options = stateCookieOptions(ctx.config.publicURL);
        stateUpdate = serializeCookie(STATE_COOKIE, rest, rest === '' ? { ...options, maxAge: 0 } : options);
      }

      let result: Awaited<ReturnType<typeof validateResponse>>;
      try {
        result = await validateResponse(l.saml, {
          samlResponse,
          expectedInResponseTo: entry ? entry.rid : null,
          now: t,
          replay: ctx.replay,
        });
      } catch (err) {
        // Only the replay cache can throw here (Redis unreachable). A response
        // whose replay status is unknown is never accepted: 503, no session.
        ctx.logger.error({ correlationId: req.id, connector: l.runtime.key, err: (err as Error).message }, 'replay cache unavailable');
        return fail(503, (err as { reason?: string }).reason ?? 'ReplayCacheUnavailable', l.runtime);
      }
      if (!result.ok) return fail(result.status, result.reason, l.runtime, { trail: result.trail });

      const a = result.assertion;
      const snapshot = ctx.registry.current();
      const match = snapshot.bindings.lookup(l.runtime.key, a.identity);
      const logged = { trail: result.trail, attributes: a.attributes, user: a.identity };
      if (!match.active) return fail(403, 'BindingNotActive', l.runtime, logged);

      const nowSeconds = Math.floor(t.getTime() / 1000);
      let ttl = l.runtime.sessionTtlSeconds;
      if (a.sessionNotOnOrAfter !== undefined) ttl = Math.min(ttl, a.sessionNotOnOrAfter - nowSeconds);
      if (ttl <= 0) return fail(401, 'SessionNotOnOrAfterPassed', l.runtime, logged);

      let target: string;
      if (entry) target = entry.rd;
      else {
        // Unsolicited: RelayState is only honoured as a relative path on this host.
        const relay = relayState !== undefined && relayState.startsWith('/') ? checkRedirect(relayState, { publicURL: ctx.config.publicURL, allowedHosts: [] }) : undefined;
        target = relay?.ok ? relay.target : (l.saml.idpInitiated.redirectPath ?? '/');
      }

      const email = emailOf(a.identity, a.attributes);
      const issued = await ctx.sessions.issue(
        { sub: a.identity, ...(email ? { email } : {}), groups: match.groups, connector: l.runtime.key },
        ttl,
        t,
      );
      ctx.metrics.sessionsIssued.inc({ namespace: ns, connector: name });
      recordLogin(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, status: 303, reason: 'Success', startedAt, ...logged });
      const setCookies = [
        serializeCookie(SESSION_COOKIE, issued.token, sessionCookieOptions({ publicURL: ctx.config.publicURL, cookieDomain: ctx.config.cookieDomain, maxAgeSeconds: ttl })),
      ];
      if (stateUpdate !== undefined) setCookies.push(stateUpdate);
      return reply.code(303).header('cache-control', 'no-store').header('set-cookie', setCookies).header('location', target).send();
    },
  );
  methodNotAllowed(app, '/saml/:ns/:name/acs', ['POST']);

  // Single logout, SP side: the local session ends. A LogoutRequest from the
  // IdP is acknowledged the same way; the signed LogoutResponse is future work.
  const slo = async (req: FastifyRequest<{ Params: Params; Querystring: { RelayState?: string } }>, reply: FastifyReply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok && l.status === 404) return sendError(reply, 404, l.reason, req.id);
    reply.header('set-cookie', serializeCookie(SESSION_COOKIE, '', { ...sessionCookieOptions({ publicURL: ctx.config.publicURL, cookieDomain: ctx.config.cookieDomain, maxAgeSeconds: 0 }), maxAge: 0 }));
    const relay = req.query.RelayState;
    const back = relay && relay.startsWith('/') ? checkRedirect(relay, { publicURL: ctx.config.publicURL, allowedHosts: [] }) : undefined;
    if (back?.ok) return reply.code(303).header('location', back.target).send();
    return sendPage(reply, 200, 'Signed out', `<h1>Signed out</h1><p>Your session at ${escapeHtml(ctx.config.publicURL)} has ended.</p><p><a href="/">Home</a></p>`);
  };
  app.get('/saml/:ns/:name/slo', slo);
  app.post('/saml/:ns/:name/slo', slo);
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function emailOf(identity: string, attributes: Record<string, string[]>): string | undefined {
  if (EMAIL.test(identity)) return identity;
  for (const name of ['email', 'mail', 'emailAddress', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']) {
    const v = attributes[name]?.[0];
    if (v && EMAIL.test(v)) return v;
  }
  return undefined;
}
