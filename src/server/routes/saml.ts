// SAML routes: metadata, SP-initiated login, the assertion consumer service
// and logout, under /saml/{ns}/{name}/. Everything here reads one registry
// snapshot; nothing waits on I/O other than the replay cache.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConnectorRuntime } from '../../controller/registry.ts';
import { buildAuthnRequest, newRequestId } from '../../saml/authn-request.ts';
import { buildSpMetadata } from '../../saml/metadata.ts';
import { buildLogoutResponse, logoutMessageKind, validateLogoutRequest, validateLogoutResponse, type LogoutMessageInput } from '../../saml/logout.ts';
import { refuseBeforeParse, validateResponse } from '../../saml/validate-response.ts';
import type { SamlConnectorConfig, TrailEntry } from '../../saml/types.ts';
import { logoutRequestKeys, samlSessionKeys } from '../../session/revocation.ts';
import { checkRedirect } from '../../session/redirects.ts';
import { takePending, type PendingLogin } from '../../session/state-cookie.ts';
import { addPendingCookies, readPendingState, stateCookieLines } from '../login-state.ts';
import type { PublicContext } from '../context.ts';
import { acceptsJSON, sendAutoPost, sendError, sendSignedOut, writeErrorPage } from '../html.ts';
import type { EarlyRefusal } from '../forward-auth-fast-path.ts';
import { newCorrelationId } from '../request-id.ts';
import { refuseTest, sendTestResult, testSignInAllowed } from '../test-sign-in.ts';
import { recordLogin, recordLogout, type LoginOutcome } from '../login-log.ts';
import { completeSignIn, refuseSignIn } from '../sign-in.ts';
import { clearedSessionCookie, presentedSession, revokeSession } from '../session-end.ts';
import { refuseIfLimited } from '../rate-limit.ts';
import { parseForm } from '../form-body.ts';

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
  // A connector of another protocol has no SAML routes.
  if (!runtime || !runtime.enabled || runtime.protocol !== 'SAML2') return { ok: false, status: 404, reason: 'ConnectorNotFound', ...(runtime ? { runtime } : {}) };
  if (!runtime.ready || !runtime.saml) return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  return { ok: true, runtime, saml: runtime.saml };
}

/** Largest form body that can carry a message of `maxBytes`: base64 grows 4/3, form-encoding of its +, / and = up to 3x more; RelayState is small. */
function bodyCeiling(maxBytes: number): number {
  return Math.ceil(maxBytes / 3) * 4 * 3 + 8192;
}

/** `/saml/{ns}/{name}/acs` spelled plainly: Kubernetes names, no escapes, no query, no trailing slash. */
const PLAIN_ACS_PATH = /^\/saml\/([a-z0-9][a-z0-9.-]{0,252})\/([a-z0-9][a-z0-9.-]{0,252})\/acs$/;

/** The only content type a browser's form post carries; any other spelling goes to fastify's content-type parsing. */
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Bodies the listener read for a post it then left to fastify; the route's preParsing hook hands them to the body parser. */
const preread = new WeakMap<IncomingMessage, Buffer>();

/** The body the listener read for this request, once, as a stream for fastify's body parser; otherwise `payload`. */
function prereadPayload(raw: IncomingMessage, payload: Readable): Readable {
  const body = preread.get(raw);
  if (body === undefined) return payload;
  preread.delete(raw);
  return Readable.from([body], { objectMode: false });
}

/**
 * The ACS's refusals of junk, given by the listener before fastify routes
 * the request (forward-auth-fast-path.ts, postRefusal). Issue 10, target 3:
 * junk refused at 10,000/s. fastify's routing, hooks, body parser and reply
 * cost about 40 µs per post more than a plain Node listener (measured on one
 * core: 7,500 against 12,000 oversized posts per second), which was a third
 * of refusing an unsigned response.
 *
 * - An oversized post (its announced length over the connector's ceiling)
 *   gets the route's 413 at once, its body unread, and the connection closes.
 * - A form post within the limit is read here. What the route's first stage
 *   refuses before any parse (refuseBeforeParse: not base64, too large, no
 *   markup, DOCTYPE, an unsigned Success; or no SAMLResponse at all) is
 *   answered here. Anything else (a real sign-in, a message to parse) goes
 *   on to fastify with the body already read, and the route does everything
 *   as before, its own first stage included.
 *
 * Every answer here is the route's, with the same status, headers, page,
 * metric and log line (a test holds them equal byte for byte). So only
 * requests whose answer this path can know are taken; everything else goes
 * to fastify untouched:
 * - a path spelled any other way (escapes, a query string, which the
 *   route's query check and ?s= read), a client asking for JSON;
 * - a connector that is unknown, disabled, not ready or of another protocol;
 * - a body sent chunked, with a content encoding, or of another content type;
 * - a request with a state cookie (the route would spend a pending login, or
 *   show an admin's test sign-in), and every request while rate limits are on.
 * A connector changed while the body came is left to fastify too, which
 * judges the post by the connector as it is then (its onRequest hook runs
 * once the body is in).
 */
export function acsEarlyRefusal(ctx: PublicContext): EarlyRefusal {
  const refuse = (res: ServerResponse, runtime: ConnectorRuntime, ns: string, name: string, startedAt: bigint, status: number, reason: string, trail?: TrailEntry[], extra?: string[]) => {
    const correlationId = newCorrelationId();
    recordLogin(ctx, { correlationId, connector: runtime, namespace: ns, name, status, reason, startedAt, ...(trail ? { trail } : {}) });
    writeErrorPage(res, status, reason, correlationId, extra);
  };
  /**
   * The refusal of a form post read whole, if the route would refuse it
   * before any parse; false to hand it on. A connector changed while the
   * body came is handed on, and the route judges it as it is now.
   */
  const refuseRead = (res: ServerResponse, ns: string, name: string, runtime: ConnectorRuntime, body: Buffer, closing: () => boolean): boolean => {
    // The login's duration counts from here, as the route's does from its
    // handler: a slow upload must not fill the latency histogram.
    const startedAt = process.hrtime.bigint();
    const l = lookup(ctx, { ns, name });
    if (closing() || !l.ok || l.runtime !== runtime) return false;
    const samlResponse = parseForm(body.toString('utf8')).SAMLResponse;
    if (typeof samlResponse !== 'string' || samlResponse.length === 0) {
      refuse(res, l.runtime, ns, name, startedAt, 400, 'MalformedResponse');
      return true;
    }
    // No state cookie: nothing is pending, as the route reads it.
    const early = refuseBeforeParse(l.saml, { samlResponse, expectedInResponseTo: null });
    if (early === undefined) return false;
    refuse(res, l.runtime, ns, name, startedAt, early.status, early.reason, early.trail);
    return true;
  };
  return (req, res, next, closing) => {
    const m = PLAIN_ACS_PATH.exec(req.url ?? '');
    if (m === null || acceptsJSON(req.headers.accept)) return false;
    const [, ns, name] = m as unknown as [string, string, string];
    const l = lookup(ctx, { ns, name });
    if (!l.ok) return false;
    const length = Number(req.headers['content-length'] ?? 0);
    const ceiling = bodyCeiling(l.saml.security.maxResponseBytes);
    if (length > ceiling) {
      refuse(res, l.runtime, ns, name, process.hrtime.bigint(), 413, 'ResponseTooLarge', undefined, ['connection', 'close']);
      return true;
    }
    const h = req.headers;
    if (
      !(Number.isInteger(length) && length > 0 && length <= ACS_BODY_LIMIT) ||
      h['content-type'] !== FORM_TYPE ||
      h['transfer-encoding'] !== undefined ||
      h['content-encoding'] !== undefined ||
      h.cookie?.includes('sso_state') === true ||
      ctx.rateLimiter !== undefined
    ) {
      return false;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    // An aborted upload: Node closes the socket; nothing to answer.
    req.on('error', () => {});
    req.on('end', () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      chunks.length = 0;
      let answered: boolean;
      try {
        answered = refuseRead(res, ns, name, l.runtime, body, closing);
      } catch (err) {
        ctx.logger.error({ err: (err as Error).message }, 'early refusal failed');
        answered = res.headersSent;
        if (answered) res.destroy();
      }
      if (answered) return;
      preread.set(req, body);
      try {
        next();
      } catch (err) {
        ctx.logger.error({ err: (err as Error).message }, 'early refusal failed');
        res.destroy();
      }
    });
    return true;
  };
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

  /**
   * An onRequest hook for the POST routes that take a SAML message (ACS,
   * SLO): before the body is read, an unknown, disabled or not-ready
   * connector, or a body far over this connector's limit, is answered without
   * buffering and parsing up to ACS_BODY_LIMIT bytes (a cheap way to burn CPU
   * and memory otherwise).
   */
  function beforeBody(
    refuse: (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, status: number, reason: string, runtime: ConnectorRuntime | undefined, startedAt: bigint) => FastifyReply,
    opts: { notReadyLimit?: number; /** The ACS: form posts only, counted by the sign-in rate limits. */ acs?: boolean } = {},
  ) {
    // A callback hook (refusing sends the answer and ends the chain; done() goes on to read the body):
    // no promise per post, where junk floods are measured.
    return (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, done: () => void): void => {
      const l = lookup(ctx, req.params);
      const startedAt = process.hrtime.bigint();
      let maxBytes: number;
      if (l.ok) maxBytes = l.saml.security.maxResponseBytes;
      // A route that still has something to do for a connector that is not
      // ready (SLO: the local logout) reads a small body only.
      else if (l.status === 503 && opts.notReadyLimit !== undefined) maxBytes = opts.notReadyLimit;
      else {
        refuse(req, reply, l.status, l.reason, l.runtime, startedAt);
        return;
      }
      // The announced body is not read at all: the connection closes after
      // the answer, rather than draining megabytes to keep it alive.
      if (Number(req.headers['content-length'] ?? 0) > bodyCeiling(maxBytes)) {
        refuse(req, reply.header('connection', 'close'), 413, 'ResponseTooLarge', l.runtime, startedAt);
        return;
      }
      if (opts.acs && l.ok) {
        // The HTTP-POST binding is a form post; anything else is not a SAML
        // message, and is refused before its body is read and parsed.
        if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
          refuse(req, reply, 400, 'MalformedResponse', l.runtime, startedAt);
          return;
        }
        // Counted only for a known connector (an unknown one was refused above,
        // so a scanner cannot make up bucket keys) and before the body is read.
        if (refuseIfLimited(ctx, req, reply, l.runtime.key, 'acs')) return;
      }
      done();
    };
  }

  /** RelayState to echo to the IdP: at most 80 bytes (SAML bindings 3.4.3), else none rather than a huge Location header. */
  function echoedRelayState(relayState: string | undefined): { relayState?: string } {
    return relayState !== undefined && Buffer.byteLength(relayState, 'utf8') <= 80 ? { relayState } : {};
  }

  app.get<{ Params: Params }>('/saml/:ns/:name/metadata', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    return reply
      .header('content-type', 'application/samlmetadata+xml; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(buildSpMetadata(l.saml));
  });
  methodNotAllowed(app, '/saml/:ns/:name/metadata', ['GET']);

  /** An AuthnRequest to the IdP, its pending login (or test sign-in) kept in this browser's sso_state. */
  const toIdp = (req: FastifyRequest, reply: FastifyReply, l: Extract<Lookup, { ok: true }>, pending: { rd: string; k?: 'test' }, t: Date, title: string) => {
    const requestId = newRequestId();
    const sid = randomBytes(16).toString('base64url');
    reply.header('set-cookie', addPendingCookies(ctx, req.headers.cookie, { sid, rid: requestId, c: l.runtime.key, ...pending }, t));
    const out = buildAuthnRequest(l.saml, { requestId, relayState: sid, now: t });
    if (out.binding === 'HTTPRedirect') return reply.code(302).header('cache-control', 'no-store').header('location', out.url).send();
    return sendAutoPost(reply, out.url, out.fields, title);
  };

  app.get<{ Params: Params; Querystring: { rd?: string } }>('/saml/:ns/:name/login', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    const limited = refuseIfLimited(ctx, req, reply, l.runtime.key, 'login');
    if (limited) return limited;
    const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
    if (!rd.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: rd.reason }, 'login refused: redirect target not allowed');
      return sendError(reply, 400, rd.reason, req.id);
    }
    return toIdp(req, reply, l, { rd: rd.target }, now(), 'Signing in');
  });
  methodNotAllowed(app, '/saml/:ns/:name/login', ['GET']);

  // Admin test sign-in (test-sign-in.ts): a real login whose answer shows the decision trail instead of creating a session.
  app.get<{ Params: Params }>('/saml/:ns/:name/test', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    const t = now();
    const allowed = await testSignInAllowed(ctx, req, l.runtime, t);
    if (!allowed.ok) return refuseTest(reply, allowed.status, allowed.reason, req.id);
    return toIdp(req, reply, l, { rd: '/', k: 'test' }, t, 'Test sign-in');
  });

  app.post<{ Params: Params; Body: Record<string, unknown> | undefined; Querystring: { s?: string } }>(
    '/saml/:ns/:name/acs',
    {
      bodyLimit: ACS_BODY_LIMIT,
      // A body the listener already read (acsEarlyRefusal) before leaving the post to the route.
      preParsing: (req, _reply, payload, done) => done(null, prereadPayload(req.raw, payload)),
      onRequest: beforeBody((req, reply, status, reason, runtime, startedAt) => {
        recordLogin(ctx, { correlationId: req.id, connector: runtime, namespace: req.params.ns, name: req.params.name, status, reason, startedAt });
        return sendError(reply, status, reason, req.id);
      }, { acs: true }),
    },
    async (req, reply) => {
      const startedAt = process.hrtime.bigint();
      const { ns, name } = req.params;
      // Set once a pending login was taken from the state cookie: it is spent
      // whatever the outcome, so a state id can never complete two logins.
      let stateUpdate: string[] | undefined;
      const fail = (status: number, reason: string, runtime?: ConnectorRuntime, extra: Partial<LoginOutcome> = {}) =>
        refuseSignIn(ctx, reply, { correlationId: req.id, runtime, namespace: ns, name, startedAt, ...(stateUpdate !== undefined ? { cookies: stateUpdate } : {}) }, status, reason, extra);
      const l = lookup(ctx, req.params);
      if (!l.ok) return fail(l.status, l.reason, l.runtime);
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      const samlResponse = body.SAMLResponse;
      const relayState = typeof body.RelayState === 'string' ? body.RelayState : undefined;
      // Not a form post: refused before the body was read (beforeBody).
      if (typeof samlResponse !== 'string' || samlResponse.length === 0) return fail(400, 'MalformedResponse', l.runtime);

      // The state id travels as RelayState or, for IdPs that drop RelayState, as ?s=.
      const sid = l.saml.acsParameterStyle === 'Query' ? req.query.s : relayState;
      const t = now();
      const presentedState = readPendingState(ctx, req.headers.cookie, t);
      const pending = presentedState.entries;
      const taken = sid ? takePending(pending, sid, l.runtime.key) : { entry: undefined, rest: pending };
      const entry = taken.entry;
      if (taken.rest.length !== pending.length) {
        stateUpdate = stateCookieLines(ctx, presentedState, taken.rest);
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
      // An admin's test sign-in: the trail, whatever the outcome; never a session.
      if (entry?.k === 'test') {
        if (stateUpdate !== undefined) reply.header('set-cookie', stateUpdate);
        const a = result.ok ? result.assertion : undefined;
        return sendTestResult(
          ctx,
          reply,
          l.runtime,
          {
            ok: result.ok,
            reason: result.ok ? 'Success' : result.reason,
            trail: result.trail,
            ...(a ? { attributes: a.attributes, user: a.identity } : {}),
            ...(a && l.saml.groupsAttribute !== undefined ? { idpGroups: a.attributes[l.saml.groupsAttribute] ?? [] } : {}),
          },
          req.id,
        );
      }
      if (!result.ok) return fail(result.status, result.reason, l.runtime, { trail: result.trail });

      const a = result.assertion;
      let target: string;
      if (entry) target = entry.rd;
      else {
        // Unsolicited: RelayState is only honoured as a relative path on this host.
        const relay = relayState !== undefined && relayState.startsWith('/') ? checkRedirect(relayState, { publicURL: ctx.config.publicURL, allowedHosts: [] }) : undefined;
        target = relay?.ok ? relay.target : (l.saml.idpInitiated.redirectPath ?? '/');
      }
      const email = emailOf(a.identity, a.attributes);
      return completeSignIn(
        ctx,
        reply,
        { correlationId: req.id, runtime: l.runtime, namespace: ns, name, startedAt, now: t, target, ...(stateUpdate !== undefined ? { cookies: stateUpdate } : {}) },
        {
          user: a.identity,
          ...(email ? { email } : {}),
          ...(a.sessionNotOnOrAfter !== undefined ? { notOnOrAfter: a.sessionNotOnOrAfter } : {}),
          // What a LogoutRequest names (and ours will name): NameID, its Format, SessionIndex.
          saml: {
            nameID: a.nameID,
            ...(a.nameIDFormat !== undefined ? { nameIDFormat: a.nameIDFormat } : {}),
            ...(a.nameQualifier !== undefined ? { nameQualifier: a.nameQualifier } : {}),
            ...(a.spNameQualifier !== undefined ? { spNameQualifier: a.spNameQualifier } : {}),
            ...(a.sessionIndex !== undefined ? { sessionIndex: a.sessionIndex } : {}),
          },
          ...(l.saml.groupsAttribute !== undefined ? { idpGroups: a.attributes[l.saml.groupsAttribute] ?? [] } : {}),
          trail: result.trail,
          attributes: a.attributes,
        },
      );
    },
  );
  methodNotAllowed(app, '/saml/:ns/:name/acs', ['POST']);

  // Single logout (SAML 2.0 SLO, HTTP-Redirect and HTTP-POST bindings).
  // - SAMLRequest: the IdP ends a session. Only a LogoutRequest signed by a
  //   configured IdP certificate is acted on (src/saml/logout.ts): an unsigned
  //   or forged one would let any site end users' sessions. The sessions it
  //   names are revoked by SessionIndex (or by NameID when none is given) on
  //   every replica that shares the revocation list, whether or not the
  //   browser sent our cookie (a cross-site POST does not carry a
  //   SameSite=Lax cookie); then a LogoutResponse goes back to the IdP.
  // - SAMLResponse: the IdP's answer to our own LogoutRequest (sent by
  //   /auth/logout). It must answer the pending logout kept in the signed
  //   state cookie (RelayState = its id, InResponseTo = its request id); the
  //   only outcome is a redirect to the target validated when the logout began.
  // - Neither: the local session ends (kept from the first release).
  const slo = async (req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown>; Body: Record<string, unknown> | undefined }>, reply: FastifyReply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok && l.status === 404) return sendError(reply, 404, l.reason, req.id, undefined, 'sign-out-failed');
    const { ns, name } = req.params;
    const t = now();
    let input: LogoutMessageInput;
    if (req.method === 'POST') {
      const form = req.body && typeof req.body === 'object' ? req.body : {};
      input = { binding: 'HTTPPost', form };
    } else {
      const url = req.raw.url ?? '';
      const q = url.indexOf('?');
      input = { binding: 'HTTPRedirect', rawQuery: q >= 0 ? url.slice(q + 1) : '' };
    }
    const kind = logoutMessageKind(input);
    const refuse = (initiator: 'idp' | 'sp', status: number, reason: string, extra: { trail?: TrailEntry[] } = {}) => {
      recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator, status, reason, ...extra });
      return sendError(reply, status, reason, req.id, undefined, 'sign-out-failed');
    };
    if (kind === 'ambiguous') return refuse('idp', 400, 'MalformedLogoutMessage');
    if (req.method === 'POST' && kind !== 'none' && !(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return refuse(kind === 'request' ? 'idp' : 'sp', 400, 'MalformedLogoutMessage');
    }
    const presented = await presentedSession(ctx, req, t);

    if (kind === 'none') {
      reply.header('set-cookie', clearedSessionCookie(ctx));
      if (presented) await revokeSession(ctx, req, presented);
      const relay = typeof req.query.RelayState === 'string' ? req.query.RelayState : undefined;
      const back = relay && relay.startsWith('/') ? checkRedirect(relay, { publicURL: ctx.config.publicURL, allowedHosts: [] }) : undefined;
      if (back?.ok) return reply.code(303).header('location', back.target).send();
      return sendSignedOut(reply, req.id, { message: `Your session at ${ctx.config.publicURL} has ended.` });
    }
    if (!l.ok) return refuse(kind === 'request' ? 'idp' : 'sp', l.status, l.reason);
    const key = l.runtime.key;

    if (kind === 'request') {
      let result: Awaited<ReturnType<typeof validateLogoutRequest>>;
      try {
        result = await validateLogoutRequest(l.saml, input, { now: t, replay: ctx.replay });
      } catch (err) {
        ctx.logger.error({ correlationId: req.id, connector: key, err: (err as Error).message }, 'replay cache unavailable');
        return refuse('idp', 503, (err as { reason?: string }).reason ?? 'ReplayCacheUnavailable');
      }
      if (!result.ok) {
        // Signed by the IdP but failing a later check (expired, no NameID,
        // replayed...): the IdP sent it, so it gets a LogoutResponse with an
        // error status and can go on with its logout chain. Anything not
        // proven to come from the IdP gets only an error page here.
        if (result.verified && l.saml.idp.sloURL !== undefined) {
          recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator: 'idp', status: result.status, reason: result.reason, trail: result.trail });
          const out = buildLogoutResponse(l.saml, { inResponseTo: result.verified.id, statusCode: 'Requester', ...echoedRelayState(result.verified.relayState), now: t });
          return reply.code(302).header('cache-control', 'no-store').header('location', out.url).send();
        }
        return refuse('idp', result.status, result.reason, { trail: result.trail });
      }
      const nowSeconds = Math.floor(t.getTime() / 1000);
      // Kept as long as a session of this connector lives (plus the grace).
      const until = nowSeconds + l.runtime.sessionTtlSeconds;
      const keys = logoutRequestKeys(key, result.nameID, result.sessionIndexes);
      let statusCode: 'Success' | 'Responder' = 'Success';
      let reason = 'Success';
      try {
        await Promise.all(keys.map((k) => ctx.revocations.revokeIssuedBefore(k, nowSeconds, until)));
      } catch (err) {
        // The IdP is told the logout failed here.
        ctx.logger.error({ correlationId: req.id, connector: key, err: (err as Error).message }, 'could not record the single logout; sessions it names stay valid');
        statusCode = 'Responder';
        reason = 'RevocationListUnavailable';
      }
      // The cookie that came along is cleared only when it is one of the
      // sessions the request names: a signed request for one user must not
      // become a logout link for whoever opens it.
      if (presented && presented.connector === key && samlSessionKeys(key, presented.saml).some((k) => keys.includes(k))) {
        reply.header('set-cookie', clearedSessionCookie(ctx));
        await revokeSession(ctx, req, presented);
      }
      recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator: 'idp', status: statusCode === 'Success' ? 200 : 503, reason, trail: result.trail, revokedKeys: statusCode === 'Success' ? keys.length : 0 });
      if (l.saml.idp.sloURL !== undefined) {
        const out = buildLogoutResponse(l.saml, { inResponseTo: result.id, statusCode, ...echoedRelayState(result.relayState), now: t });
        return reply.code(302).header('cache-control', 'no-store').header('location', out.url).send();
      }
      return sendSignedOut(reply, req.id, { message: `Your identity provider ended your session at ${ctx.config.publicURL}.` });
    }

    // kind === 'response': the answer to our LogoutRequest, bound to the
    // pending logout in the signed state cookie by RelayState (its id) and
    // InResponseTo. An IdP that drops RelayState is matched by InResponseTo
    // alone against this connector's pending logouts (at most 8).
    const relayState = input.binding === 'HTTPPost' ? req.body?.RelayState : req.query.RelayState;
    const sid = typeof relayState === 'string' ? relayState : undefined;
    const presentedState = readPendingState(ctx, req.headers.cookie, t);
    const pending = presentedState.entries;
    const candidates = sid !== undefined ? pending.filter((e) => e.sid === sid) : pending.filter((e) => e.k === 'logout' && e.c === key);
    let taken: { entry?: PendingLogin; rest: PendingLogin[] } = { rest: pending };
    let result: ReturnType<typeof validateLogoutResponse> | undefined;
    for (const candidate of candidates) {
      const attempt = takePending(pending, candidate.sid, key, t, 'logout');
      if (!attempt.entry) {
        taken = attempt;
        continue;
      }
      result = validateLogoutResponse(l.saml, input, { now: t, expectedInResponseTo: attempt.entry.rid });
      taken = attempt;
      if (result.ok || result.reason !== 'InResponseToMismatch') break;
    }
    if (taken.rest.length !== pending.length && (result === undefined || result.ok)) {
      reply.header('set-cookie', stateCookieLines(ctx, presentedState, taken.rest));
    }
    if (!taken.entry || result === undefined) return refuse('sp', 400, 'LogoutNotPending');
    if (!result.ok) return refuse('sp', result.status, result.reason, { trail: result.trail });
    const target = taken.entry.rd;
    if (!result.success) {
      recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator: 'sp', status: 200, reason: 'IdPLogoutFailed', trail: result.trail });
      const code = result.statusCode.replace(/^urn:oasis:names:tc:SAML:2\.0:status:/, '');
      return sendSignedOut(reply, req.id, {
        title: 'Signed out here',
        message: `Your session at ${ctx.config.publicURL} has ended, but the identity provider reported ${code}: you may still be signed in there.`,
        reason: 'IdPLogoutFailed',
        next: target,
      });
    }
    recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator: 'sp', status: 303, reason: 'Success', trail: result.trail });
    return reply.code(303).header('cache-control', 'no-store').header('location', target).send();
  };
  app.get('/saml/:ns/:name/slo', slo);
  app.post('/saml/:ns/:name/slo', { bodyLimit: ACS_BODY_LIMIT, onRequest: beforeBody((req, reply, status, reason, runtime) => {
    recordLogout(ctx, { correlationId: req.id, connector: runtime, namespace: req.params.ns, name: req.params.name, initiator: 'idp', status, reason });
    return sendError(reply, status, reason === 'ResponseTooLarge' ? 'LogoutMessageTooLarge' : reason, req.id, undefined, 'sign-out-failed');
  }, { notReadyLimit: 16 * 1024 }) }, slo);
  methodNotAllowed(app, '/saml/:ns/:name/slo', ['GET', 'POST']);
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
