// OpenID Connect routes under /oidc/{ns}/{name}/ and OAuth 2 routes under
// /oauth2/{ns}/{name}/: login (to the provider) and callback (back from it),
// one code for both; logged-out and backchannel-logout for OIDC. The checks are in oidc/relying-party.ts; what
// follows a verified identity is completeSignIn (sign-in.ts), shared with SAML.
//
// What these routes defend against, besides what relying-party.ts checks:
// - login CSRF and a code injected into another browser: the callback is
//   accepted only with the `state` of a login this browser started (kept in
//   its signed state cookie, `__Host-sso_state` on https so that no sibling
//   subdomain can plant one (login-state.ts), for this connector, used once,
//   10 minutes);
// - open redirects: `rd` is validated when the login starts, exactly as for
//   SAML, and only the validated target is kept;
// - oversized or repeated parameters: a callback query over 8 KiB is refused
//   (and a parameter given twice, by the app's hook) before anything is sent
//   to the provider.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConnectorRuntime } from '../../controller/registry.ts';
import { authorizationURL, completeCallback, completeOAuth2Callback, oauth2AuthorizationURL, type CallbackResult, type OAuth2ConnectorConfig, type OidcConnectorConfig } from '../../oidc/relying-party.ts';
import { checkRedirect } from '../../session/redirects.ts';
import { takePending, type PendingLogin } from '../../session/state-cookie.ts';
import { addPendingCookies, readPendingState, stateCookieLines } from '../login-state.ts';
import type { PublicContext } from '../context.ts';
import { sendError, sendSignedOut } from '../html.ts';
import { completeSignIn, refuseSignIn } from '../sign-in.ts';
import { refuseTest, sendTestResult, testSignInAllowed } from '../test-sign-in.ts';
import { recordLogout } from '../login-log.ts';
import { verifyLogoutToken } from '../../oidc/backchannel.ts';
import { logoutTokenKeys } from '../../session/revocation.ts';
import { refuseIfLimited } from '../rate-limit.ts';

interface Params {
  ns: string;
  name: string;
}

const MAX_CALLBACK_QUERY = 8192;

type Lookup<C> = { ok: true; runtime: ConnectorRuntime; config: C } | { ok: false; status: 404 | 503; reason: string; runtime?: ConnectorRuntime };

/** The connector of these routes, ready with its config of `protocol`; else why not (404 or 503). */
function lookup<C>(ctx: PublicContext, p: Params, protocol: ConnectorRuntime['protocol'], configOf: (r: ConnectorRuntime) => C | undefined): Lookup<C> {
  const runtime = ctx.registry.current().connectors.get(`${p.ns}/${p.name}`);
  // A manifest refused by admission fails closed whatever it said: 503.
  if (runtime?.notReadyReason === 'ManifestInvalid') return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  // A disabled connector, or one of another protocol, is not there for these routes.
  if (!runtime || !runtime.enabled || runtime.protocol !== protocol) return { ok: false, status: 404, reason: 'ConnectorNotFound', ...(runtime ? { runtime } : {}) };
  const config = configOf(runtime);
  if (!runtime.ready || !config) return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  return { ok: true, runtime, config };
}

/** What differs between OpenID Connect and OAuth 2 in the code flow; the rest is codeFlowRoutes(). */
interface CodeFlow<C extends { callbackURL: string }> {
  /** URL prefix and protocol: /oidc/ + OIDC, /oauth2/ + OAuth2. */
  prefix: 'oidc' | 'oauth2';
  protocol: 'OIDC' | 'OAuth2';
  label: string;
  configOf: (r: ConnectorRuntime) => C | undefined;
  /** The authorization request; `nonce` is kept with the pending login (OAuth 2 has no use for it). */
  authorize: (config: C, sid: string, nonce: string, stateKey: Uint8Array) => Promise<URL>;
  complete: (config: C, callbackURL: URL, sid: string, nonce: string, stateKey: Uint8Array) => Promise<CallbackResult>;
}

const OIDC_FLOW: CodeFlow<OidcConnectorConfig> = {
  prefix: 'oidc',
  protocol: 'OIDC',
  label: 'OIDC',
  configOf: (r) => r.oidc,
  authorize: (config, sid, nonce, stateKey) => authorizationURL(config, { sid, nonce, stateKey }),
  complete: (config, url, sid, nonce, stateKey) => completeCallback(config, url, { sid, nonce, stateKey }),
};

const OAUTH2_FLOW: CodeFlow<OAuth2ConnectorConfig> = {
  prefix: 'oauth2',
  protocol: 'OAuth2',
  label: 'OAuth2',
  configOf: (r) => r.oauth2,
  authorize: (config, sid, _nonce, stateKey) => oauth2AuthorizationURL(config, { sid, stateKey }),
  complete: (config, url, sid, _nonce, stateKey) => completeOAuth2Callback(config, url, { sid, stateKey }),
};

export async function oidcRoutes(app: FastifyInstance, ctx: PublicContext): Promise<void> {
  const now = ctx.now ?? (() => new Date());
  const lookupOidc = (p: Params) => lookup(ctx, p, 'OIDC', OIDC_FLOW.configOf);

  // Login and callback, for OpenID Connect under /oidc/ and for OAuth 2
  // without OpenID Connect under /oauth2/ (the user then comes from the
  // provider's user-info endpoint, relying-party.ts).
  function codeFlowRoutes<C extends { callbackURL: string }>(flow: CodeFlow<C>): void {
    /** To the provider's authorization endpoint, a pending login (or test sign-in) of this browser in sso_state. */
    const toProvider = async (req: FastifyRequest, reply: FastifyReply, l: Extract<Lookup<C>, { ok: true }>, pending: { rd: string; k?: 'test' }, t: Date) => {
      const sid = randomBytes(16).toString('base64url');
      const nonce = randomBytes(16).toString('base64url');
      const url = await flow.authorize(l.config, sid, nonce, ctx.stateKey());
      return reply
        .code(302)
        .header('cache-control', 'no-store')
        .header('set-cookie', addPendingCookies(ctx, req.headers.cookie, { sid, rid: nonce, c: l.runtime.key, ...pending }, t))
        .header('location', url.href)
        .send();
    };

    app.get<{ Params: Params; Querystring: { rd?: string } }>(`/${flow.prefix}/:ns/:name/login`, async (req, reply) => {
      const l = lookup(ctx, req.params, flow.protocol, flow.configOf);
      if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
      const limited = refuseIfLimited(ctx, req, reply, l.runtime.key, 'login');
      if (limited) return limited;
      const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
      if (!rd.ok) {
        ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: rd.reason }, 'login refused: redirect target not allowed');
        return sendError(reply, 400, rd.reason, req.id);
      }
      return toProvider(req, reply, l, { rd: rd.target }, now());
    });

    // Admin test sign-in (test-sign-in.ts): the provider's answer shows the decision trail instead of creating a session.
    app.get<{ Params: Params }>(`/${flow.prefix}/:ns/:name/test`, async (req, reply) => {
      const l = lookup(ctx, req.params, flow.protocol, flow.configOf);
      if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
      const t = now();
      const allowed = await testSignInAllowed(ctx, req, l.runtime, t);
      if (!allowed.ok) return refuseTest(reply, allowed.status, allowed.reason, req.id);
      return toProvider(req, reply, l, { rd: '/', k: 'test' }, t);
    });

    app.get<{ Params: Params }>(`/${flow.prefix}/:ns/:name/callback`, async (req, reply) => {
      const startedAt = process.hrtime.bigint();
      const { ns, name } = req.params;
      let stateUpdate: string[] | undefined;
      const base = { correlationId: req.id, namespace: ns, name, startedAt };
      const fail = (status: number, reason: string, runtime?: ConnectorRuntime, extra: Parameters<typeof refuseSignIn>[5] = {}) =>
        refuseSignIn(ctx, reply, { ...base, runtime, ...(stateUpdate !== undefined ? { cookies: stateUpdate } : {}) }, status, reason, extra);
      const l = lookup(ctx, req.params, flow.protocol, flow.configOf);
      if (!l.ok) return fail(l.status, l.reason, l.runtime);
      const limited = refuseIfLimited(ctx, req, reply, l.runtime.key, 'callback');
      if (limited) return limited;

      const q = req.url.indexOf('?');
      const rawQuery = q >= 0 ? req.url.slice(q + 1) : '';
      if (rawQuery.length > MAX_CALLBACK_QUERY) return fail(400, 'MalformedCallback', l.runtime);
      const sid = new URLSearchParams(rawQuery).get('state');
      if (!sid) return fail(401, 'StateMismatch', l.runtime);

      const t = now();
      const presentedState = readPendingState(ctx, req.headers.cookie, t);
      const pending = presentedState.entries;
      const taken = takePending(pending, sid, l.runtime.key, t);
      if (taken.rest.length !== pending.length) stateUpdate = stateCookieLines(ctx, presentedState, taken.rest);
      const entry: PendingLogin | undefined = taken.entry;
      // No login of this browser, for this connector, with this state: a forged,
      // replayed or foreign callback. Nothing is sent to the provider.
      if (!entry) return fail(401, 'StateMismatch', l.runtime);

      const callbackURL = new URL(l.config.callbackURL);
      callbackURL.search = rawQuery;
      const result = await flow.complete(l.config, callbackURL, sid, entry.rid, ctx.stateKey());
      if (entry.k === 'test') {
        if (stateUpdate !== undefined) reply.header('set-cookie', stateUpdate);
        return sendTestResult(
          ctx,
          reply,
          l.runtime,
          result.ok
            ? { ok: true, reason: 'Success', trail: result.trail, attributes: result.claims, user: result.user, ...(result.groups ? { idpGroups: result.groups } : {}) }
            : { ok: false, reason: result.reason, trail: result.trail },
          req.id,
        );
      }
      if (!result.ok) {
        ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: result.reason, detail: result.detail }, `${flow.label} callback refused`);
        return fail(result.status, result.reason, l.runtime, { trail: result.trail });
      }
      return completeSignIn(
        ctx,
        reply,
        { ...base, runtime: l.runtime, now: t, target: entry.rd, ...(stateUpdate !== undefined ? { cookies: stateUpdate } : {}) },
        {
          user: result.user,
          ...(result.email ? { email: result.email } : {}),
          // What a back-channel logout token names: the provider's sub and session id.
          ...(flow.protocol === 'OIDC' ? { oidc: { sub: result.sub, ...(result.sid !== undefined ? { sid: result.sid } : {}) } } : {}),
          ...(result.tokens ? { tokens: result.tokens } : {}),
          ...(result.groups ? { idpGroups: result.groups } : {}),
          trail: result.trail,
          attributes: result.claims,
        },
      );
    });
  }
  codeFlowRoutes(OIDC_FLOW);
  codeFlowRoutes(OAUTH2_FLOW);

  // Back-channel logout: the provider ends the sessions its logout token names
  // (checked in oidc/backchannel.ts), here and on every replica sharing the
  // revocation list. No cookie is involved: the request comes from the
  // provider, not from a browser.
  app.post<{ Params: Params; Body: Record<string, unknown> | undefined }>('/oidc/:ns/:name/backchannel-logout', async (req, reply) => {
    const { ns, name } = req.params;
    reply.header('cache-control', 'no-store');
    const l = lookupOidc(req.params);
    const answer = (status: number, reason: string, extra: { revokedKeys?: number } = {}) => {
      recordLogout(ctx, { correlationId: req.id, connector: l.runtime, namespace: ns, name, initiator: 'idp', status, reason, ...extra });
      if (status === 200) return reply.code(200).send();
      return reply.code(status).send(status === 400 ? { error: 'invalid_request', error_description: reason } : { error: 'temporarily_unavailable', error_description: reason });
    };
    if (!l.ok) return answer(l.status === 404 ? 404 : 503, l.reason);
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) return answer(400, 'LogoutTokenMissing');
    const result = await verifyLogoutToken(req.body?.logout_token, {
      issuer: l.config.issuer,
      clientID: l.config.clientID,
      alg: l.config.idTokenAlg,
      keys: l.config.logoutKeys,
      clockSkewSeconds: l.config.clockSkewSeconds,
    });
    if (!result.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: result.reason, detail: result.detail }, 'back-channel logout refused');
      return answer(result.reason === 'ProviderUnavailable' ? 503 : 400, result.reason);
    }
    const t = now();
    const nowSeconds = Math.floor(t.getTime() / 1000);
    try {
      if (!(await ctx.replay.remember(`oidc-logout:${l.runtime.key}:${result.jti}`, result.exp + l.config.clockSkewSeconds))) return answer(400, 'ReplayDetected');
      const keys = logoutTokenKeys(l.runtime.key, result);
      // Kept as long as a session of this connector lives (plus the grace).
      await Promise.all(keys.map((k) => ctx.revocations.revokeIssuedBefore(k, nowSeconds, nowSeconds + l.runtime.sessionTtlSeconds)));
      return answer(200, 'Success', { revokedKeys: keys.length });
    } catch (err) {
      ctx.logger.error({ correlationId: req.id, connector: l.runtime.key, err: (err as Error).message }, 'could not record the back-channel logout; sessions it names stay valid');
      return answer(503, 'RevocationListUnavailable');
    }
  });

  // Back from the provider's end_session_endpoint (RP-initiated logout). The
  // local session already ended when the logout began; here the browser goes
  // to the `rd` validated then, but only for a logout this browser started
  // (its state id in the state cookie, kind logout, this connector):
  // otherwise a plain "signed out" page, never a redirect anyone could choose.
  app.get<{ Params: Params; Querystring: { state?: string } }>('/oidc/:ns/:name/logged-out', async (req, reply) => {
    const key = `${req.params.ns}/${req.params.name}`;
    const t = now();
    const presentedState = readPendingState(ctx, req.headers.cookie, t);
    const pending = presentedState.entries;
    const taken = typeof req.query.state === 'string' ? takePending(pending, req.query.state, key, t, 'logout') : { rest: pending };
    if (taken.rest.length !== pending.length) reply.header('set-cookie', stateCookieLines(ctx, presentedState, taken.rest));
    reply.header('cache-control', 'no-store');
    if (taken.entry) {
      ctx.logger.info({ correlationId: req.id, connector: key }, 'RP-initiated logout: back from the provider');
      return reply.code(303).header('location', taken.entry.rd).send();
    }
    return sendSignedOut(reply, req.id, { message: `Your session at ${ctx.config.publicURL} has ended.` });
  });
}
