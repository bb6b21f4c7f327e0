// OpenID Connect routes under /oidc/{ns}/{name}/: login (to the provider)
// and callback (back from it). The checks are in oidc/relying-party.ts; what
// follows a verified identity is completeSignIn (sign-in.ts), shared with SAML.
//
// What these routes defend against, besides what relying-party.ts checks:
// - login CSRF and a code injected into another browser: the callback is
//   accepted only with the `state` of a login this browser started (kept in
//   its signed sso_state cookie, for this connector, used once, 10 minutes);
// - open redirects: `rd` is validated when the login starts, exactly as for
//   SAML, and only the validated target is kept;
// - oversized or repeated parameters: a callback query over 8 KiB is refused
//   (and a parameter given twice, by the app's hook) before anything is sent
//   to the provider.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ConnectorRuntime } from '../../controller/registry.ts';
import { authorizationURL, completeCallback, completeOAuth2Callback, oauth2AuthorizationURL, type OAuth2ConnectorConfig, type OidcConnectorConfig } from '../../oidc/relying-party.ts';
import { STATE_COOKIE, parseCookies, serializeCookie, stateCookieOptions } from '../../session/cookies.ts';
import { checkRedirect } from '../../session/redirects.ts';
import { addPending, decodeState, encodeState, takePending, type PendingLogin } from '../../session/state-cookie.ts';
import type { PublicContext } from '../context.ts';
import { escapeHtml, sendError, sendPage } from '../html.ts';
import { completeSignIn, refuseSignIn } from '../sign-in.ts';
import { recordLogout } from '../login-log.ts';
import { verifyLogoutToken } from '../../oidc/backchannel.ts';
import { logoutTokenKeys } from '../../session/revocation.ts';

interface Params {
  ns: string;
  name: string;
}

const MAX_CALLBACK_QUERY = 8192;

type Lookup = { ok: true; runtime: ConnectorRuntime; oidc: OidcConnectorConfig } | { ok: false; status: 404 | 503; reason: string; runtime?: ConnectorRuntime };

function lookup(ctx: PublicContext, p: Params): Lookup {
  const runtime = ctx.registry.current().connectors.get(`${p.ns}/${p.name}`);
  // A manifest refused by admission fails closed whatever it said: 503.
  if (runtime?.notReadyReason === 'ManifestInvalid') return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  // A disabled connector, or one of another protocol, is not there for these routes.
  if (!runtime || !runtime.enabled || runtime.protocol !== 'OIDC') return { ok: false, status: 404, reason: 'ConnectorNotFound', ...(runtime ? { runtime } : {}) };
  if (!runtime.ready || !runtime.oidc) return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
  return { ok: true, runtime, oidc: runtime.oidc };
}

export async function oidcRoutes(app: FastifyInstance, ctx: PublicContext): Promise<void> {
  const now = ctx.now ?? (() => new Date());

  app.get<{ Params: Params; Querystring: { rd?: string } }>('/oidc/:ns/:name/login', async (req, reply) => {
    const l = lookup(ctx, req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
    if (!rd.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: rd.reason }, 'login refused: redirect target not allowed');
      return sendError(reply, 400, rd.reason, req.id);
    }
    const t = now();
    const sid = randomBytes(16).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const pending = addPending(decodeState(parseCookies(req.headers.cookie)[STATE_COOKIE], ctx.stateKey(), t), {
      sid,
      rid: nonce,
      c: l.runtime.key,
      rd: rd.target,
      exp: Math.floor(t.getTime() / 1000) + 600,
    });
    const url = await authorizationURL(l.oidc, { sid, nonce, stateKey: ctx.stateKey() });
    return reply
      .code(302)
      .header('cache-control', 'no-store')
      .header('set-cookie', serializeCookie(STATE_COOKIE, encodeState(pending, ctx.stateKey()), stateCookieOptions(ctx.config.publicURL)))
      .header('location', url.href)
      .send();
  });

  app.get<{ Params: Params }>('/oidc/:ns/:name/callback', async (req, reply) => {
    const startedAt = process.hrtime.bigint();
    const { ns, name } = req.params;
    let stateUpdate: string | undefined;
    const base = { correlationId: req.id, namespace: ns, name, startedAt };
    const fail = (status: number, reason: string, runtime?: ConnectorRuntime, extra: Parameters<typeof refuseSignIn>[5] = {}) =>
      refuseSignIn(ctx, reply, { ...base, runtime, ...(stateUpdate !== undefined ? { cookies: [stateUpdate] } : {}) }, status, reason, extra);
    const l = lookup(ctx, req.params);
    if (!l.ok) return fail(l.status, l.reason, l.runtime);

    const q = req.url.indexOf('?');
    const rawQuery = q >= 0 ? req.url.slice(q + 1) : '';
    if (rawQuery.length > MAX_CALLBACK_QUERY) return fail(400, 'MalformedCallback', l.runtime);
    const params = new URLSearchParams(rawQuery);
    const sid = params.get('state');
    if (!sid) return fail(401, 'StateMismatch', l.runtime);

    const t = now();
    const pending = decodeState(parseCookies(req.headers.cookie)[STATE_COOKIE], ctx.stateKey(), t);
    const taken = takePending(pending, sid, l.runtime.key, t);
    if (taken.rest.length !== pending.length) stateUpdate = stateCookieOf(taken.rest);
    const entry: PendingLogin | undefined = taken.entry;
    // No login of this browser, for this connector, with this state: a forged,
    // replayed or foreign callback. Nothing is sent to the provider.
    if (!entry) return fail(401, 'StateMismatch', l.runtime);

    const callbackURL = new URL(l.oidc.callbackURL);
    callbackURL.search = rawQuery;
    const result = await completeCallback(l.oidc, callbackURL, { sid, nonce: entry.rid, stateKey: ctx.stateKey() });
    if (!result.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: result.reason, detail: result.detail }, 'OIDC callback refused');
      return fail(result.status, result.reason, l.runtime, { trail: result.trail });
    }
    return completeSignIn(
      ctx,
      reply,
      { ...base, runtime: l.runtime, now: t, target: entry.rd, ...(stateUpdate !== undefined ? { cookies: [stateUpdate] } : {}) },
      {
        user: result.user,
        ...(result.email ? { email: result.email } : {}),
        // What a back-channel logout token names: the provider's sub and session id.
        oidc: { sub: result.sub, ...(result.sid !== undefined ? { sid: result.sid } : {}) },
        trail: result.trail,
        attributes: result.claims,
      },
    );
  });

  // OAuth 2 without OpenID Connect, under /oauth2/{ns}/{name}/: the same
  // state, PKCE and redirect handling; the user comes from the provider's
  // user-info endpoint (relying-party.ts).
  const lookupOAuth2 = (p: Params): { ok: true; runtime: ConnectorRuntime; oauth2: OAuth2ConnectorConfig } | { ok: false; status: 404 | 503; reason: string; runtime?: ConnectorRuntime } => {
    const runtime = ctx.registry.current().connectors.get(`${p.ns}/${p.name}`);
    if (runtime?.notReadyReason === 'ManifestInvalid') return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
    if (!runtime || !runtime.enabled || runtime.protocol !== 'OAuth2') return { ok: false, status: 404, reason: 'ConnectorNotFound', ...(runtime ? { runtime } : {}) };
    if (!runtime.ready || !runtime.oauth2) return { ok: false, status: 503, reason: 'ConnectorNotReady', runtime };
    return { ok: true, runtime, oauth2: runtime.oauth2 };
  };

  app.get<{ Params: Params; Querystring: { rd?: string } }>('/oauth2/:ns/:name/login', async (req, reply) => {
    const l = lookupOAuth2(req.params);
    if (!l.ok) return sendError(reply, l.status, l.reason, req.id);
    const rd = checkRedirect(req.query.rd, { publicURL: ctx.config.publicURL, allowedHosts: ctx.config.allowedRedirectHosts });
    if (!rd.ok) return sendError(reply, 400, rd.reason, req.id);
    const t = now();
    const sid = randomBytes(16).toString('base64url');
    const pending = addPending(decodeState(parseCookies(req.headers.cookie)[STATE_COOKIE], ctx.stateKey(), t), {
      sid,
      // No nonce in OAuth 2: the pending login's own random id stands in the field.
      rid: randomBytes(16).toString('base64url'),
      c: l.runtime.key,
      rd: rd.target,
      exp: Math.floor(t.getTime() / 1000) + 600,
    });
    const url = await oauth2AuthorizationURL(l.oauth2, { sid, stateKey: ctx.stateKey() });
    return reply
      .code(302)
      .header('cache-control', 'no-store')
      .header('set-cookie', serializeCookie(STATE_COOKIE, encodeState(pending, ctx.stateKey()), stateCookieOptions(ctx.config.publicURL)))
      .header('location', url.href)
      .send();
  });

  app.get<{ Params: Params }>('/oauth2/:ns/:name/callback', async (req, reply) => {
    const startedAt = process.hrtime.bigint();
    const { ns, name } = req.params;
    let stateUpdate: string | undefined;
    const base = { correlationId: req.id, namespace: ns, name, startedAt };
    const fail = (status: number, reason: string, runtime?: ConnectorRuntime, extra: Parameters<typeof refuseSignIn>[5] = {}) =>
      refuseSignIn(ctx, reply, { ...base, runtime, ...(stateUpdate !== undefined ? { cookies: [stateUpdate] } : {}) }, status, reason, extra);
    const l = lookupOAuth2(req.params);
    if (!l.ok) return fail(l.status, l.reason, l.runtime);
    const q = req.url.indexOf('?');
    const rawQuery = q >= 0 ? req.url.slice(q + 1) : '';
    if (rawQuery.length > MAX_CALLBACK_QUERY) return fail(400, 'MalformedCallback', l.runtime);
    const sid = new URLSearchParams(rawQuery).get('state');
    if (!sid) return fail(401, 'StateMismatch', l.runtime);
    const t = now();
    const pending = decodeState(parseCookies(req.headers.cookie)[STATE_COOKIE], ctx.stateKey(), t);
    const taken = takePending(pending, sid, l.runtime.key, t);
    if (taken.rest.length !== pending.length) stateUpdate = stateCookieOf(taken.rest);
    if (!taken.entry) return fail(401, 'StateMismatch', l.runtime);
    const callbackURL = new URL(l.oauth2.callbackURL);
    callbackURL.search = rawQuery;
    const result = await completeOAuth2Callback(l.oauth2, callbackURL, { sid, stateKey: ctx.stateKey() });
    if (!result.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: result.reason, detail: result.detail }, 'OAuth2 callback refused');
      return fail(result.status, result.reason, l.runtime, { trail: result.trail });
    }
    return completeSignIn(
      ctx,
      reply,
      { ...base, runtime: l.runtime, now: t, target: taken.entry.rd, ...(stateUpdate !== undefined ? { cookies: [stateUpdate] } : {}) },
      { user: result.user, ...(result.email ? { email: result.email } : {}), trail: result.trail, attributes: result.claims },
    );
  });

  // Back-channel logout: the provider ends the sessions its logout token names
  // (checked in oidc/backchannel.ts), here and on every replica sharing the
  // revocation list. No cookie is involved: the request comes from the
  // provider, not from a browser.
  app.post<{ Params: Params; Body: Record<string, unknown> | undefined }>('/oidc/:ns/:name/backchannel-logout', async (req, reply) => {
    const { ns, name } = req.params;
    reply.header('cache-control', 'no-store');
    const l = lookup(ctx, req.params);
    const answer = (status: number, reason: string, extra: { revokedKeys?: number } = {}) => {
      recordLogout(ctx, { correlationId: req.id, connector: l.ok ? l.runtime : l.runtime, namespace: ns, name, initiator: 'idp', status, reason, ...extra });
      if (status === 200) return reply.code(200).send();
      return reply.code(status).send(status === 400 ? { error: 'invalid_request', error_description: reason } : { error: 'temporarily_unavailable', error_description: reason });
    };
    if (!l.ok) return answer(l.status === 404 ? 404 : 503, l.reason);
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) return answer(400, 'LogoutTokenMissing');
    const result = await verifyLogoutToken(req.body?.logout_token, {
      issuer: l.oidc.issuer,
      clientID: l.oidc.clientID,
      alg: l.oidc.idTokenAlg,
      keys: l.oidc.logoutKeys,
      clockSkewSeconds: l.oidc.clockSkewSeconds,
    });
    if (!result.ok) {
      ctx.logger.warn({ correlationId: req.id, connector: l.runtime.key, reason: result.reason, detail: result.detail }, 'back-channel logout refused');
      return answer(result.reason === 'ProviderUnavailable' ? 503 : 400, result.reason);
    }
    const t = now();
    const nowSeconds = Math.floor(t.getTime() / 1000);
    try {
      if (!(await ctx.replay.remember(`oidc-logout:${l.runtime.key}:${result.jti}`, result.exp + l.oidc.clockSkewSeconds))) return answer(400, 'ReplayDetected');
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
  // (its state id in sso_state, kind logout, this connector): otherwise a
  // plain "signed out" page, never a redirect anyone could choose.
  app.get<{ Params: Params; Querystring: { state?: string } }>('/oidc/:ns/:name/logged-out', async (req, reply) => {
    const key = `${req.params.ns}/${req.params.name}`;
    const t = now();
    const pending = decodeState(parseCookies(req.headers.cookie)[STATE_COOKIE], ctx.stateKey(), t);
    const taken = typeof req.query.state === 'string' ? takePending(pending, req.query.state, key, t, 'logout') : { rest: pending };
    if (taken.rest.length !== pending.length) reply.header('set-cookie', stateCookieOf(taken.rest));
    reply.header('cache-control', 'no-store');
    if (taken.entry) {
      ctx.logger.info({ correlationId: req.id, connector: key }, 'RP-initiated logout: back from the provider');
      return reply.code(303).header('location', taken.entry.rd).send();
    }
    return sendPage(reply, 200, 'Signed out', `<h1>Signed out</h1><p>Your session at ${escapeHtml(ctx.config.publicURL)} has ended.</p><p><a href="/">Home</a></p>`);
  });

  /** The Set-Cookie line of `sso_state` holding `entries`; with none left the cookie is deleted rather than kept empty. */
  function stateCookieOf(entries: readonly PendingLogin[]): string {
    const value = encodeState(entries, ctx.stateKey());
    const options = stateCookieOptions(ctx.config.publicURL);
    return serializeCookie(STATE_COOKIE, value, value === '' ? { ...options, maxAge: 0 } : options);
  }
}
