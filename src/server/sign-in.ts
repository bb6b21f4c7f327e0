// One sign-in completion for every protocol. A protocol route (the SAML ACS;
// the OIDC and OAuth2 callbacks) checks what the identity provider sent and
// hands over a verified identity; everything after that happens here, once,
// so that a fix to one protocol is a fix to all:
//
// - the user's UserBinding for this connector, read from the same registry
//   snapshot the request started with (403 BindingNotActive when there is no
//   Active one: a Pending, Denied or deleted binding never gets a session);
// - the session lifetime: the connector's session.ttl, shortened by the
//   identity provider's own bound (SAML SessionNotOnOrAfter), never extended
//   by it (401 SessionNotOnOrAfterPassed when that bound has passed);
// - the session token, the sessions-issued metric and the login log line
//   (with the decision trail and the attributes or claims received, never a
//   token or a cookie);
// - the cookies and the 303 to a target the route already validated.
//
// What this defends against is the same for every protocol: a verified
// identity without an Active binding gaining a session, and an identity
// provider's session bound being ignored.

import type { FastifyReply } from 'fastify';
import type { ConnectorRuntime } from '../controller/registry.ts';
import type { TrailEntry } from '../saml/types.ts';
import { SESSION_COOKIE, serializeCookie, sessionCookieOptions } from '../session/cookies.ts';
import { newSealingKey, type ProviderTokens } from '../session/access-tokens.ts';
import type { SamlSubject } from '../session/tokens.ts';
import type { PublicContext } from './context.ts';
import { accessCookieLine, pendingPage, deniedPage, requestPage } from './access-pages.ts';
import { sendError } from './html.ts';
import type { BindingPhase } from '../controller/registry.ts';
import { sanitizeGroups } from '../session/forward-auth.ts';

/** Most IdP groups a session carries (the cookie must stay under the browsers' size limit). */
const MAX_IDP_GROUPS = 64;
import { requestBindingName } from '../access/requests.ts';
import { groupsFrom, identityFrom } from '../access/expressions.ts';
import { recordLogin, type LoginOutcome } from './login-log.ts';

/** Who the identity provider says signed in, after every protocol check passed. */
export interface VerifiedIdentity {
  /** The user as UserBindings name them (spec.user): a SAML NameID, or the claim an OIDC connector names. */
  user: string;
  /** An email address for the applications, when the identity provider gave one. */
  email?: string;
  /** The identity provider's bound on this session (epoch seconds), e.g. SAML SessionNotOnOrAfter. */
  notOnOrAfter?: number;
  /** What a protocol's single logout needs to find this session again. */
  saml?: SamlSubject;
  oidc?: { sub: string; sid?: string };
  /** The user's groups at the identity provider (saml.groupsAttribute, oidc.claims.groups). */
  idpGroups?: string[];
  /** The provider's tokens (OIDC, OAuth2): kept for forward-auth when the connector has session.passAccessToken, else dropped. Never logged. */
  tokens?: ProviderTokens;
  /** For the login log: each check made, and what the identity provider sent about the user. */
  trail?: TrailEntry[];
  attributes?: Record<string, string[]>;
}

/** The request being completed: which connector, since when, and where the user goes next. */
export interface SignInRequest {
  correlationId: string;
  runtime: ConnectorRuntime;
  namespace: string;
  name: string;
  /** process.hrtime.bigint() when the request began (login duration). */
  startedAt: bigint;
  now: Date;
  /** Where the user goes after signing in; already validated by the route. */
  target: string;
  /** Set-Cookie values the route adds in every outcome (the spent pending login). */
  cookies?: string[];
}

/** Ends a sign-in that failed: logs and counts it, answers with the reason code, and keeps the route's cookies. */
export function refuseSignIn(ctx: PublicContext, reply: FastifyReply, req: Omit<SignInRequest, 'runtime' | 'now' | 'target'> & { runtime?: ConnectorRuntime }, status: number, reason: string, extra: Partial<LoginOutcome> = {}): FastifyReply {
  recordLogin(ctx, { correlationId: req.correlationId, connector: req.runtime, namespace: req.namespace, name: req.name, status, reason, startedAt: req.startedAt, ...extra });
  if (req.cookies?.length) reply.header('set-cookie', req.cookies);
  return sendError(reply, status, reason, req.correlationId);
}

/** Binding, lifetime, session, log and redirect for a verified identity. */
export async function completeSignIn(ctx: PublicContext, reply: FastifyReply, req: SignInRequest, id: VerifiedIdentity): Promise<FastifyReply> {
  // The admin's expressions (spec.access.identityExpression, groupsExpression)
  // derive the user and the groups from what the identity provider sent.
  const mapped = applyExpressions(req.runtime, id);
  if (!mapped.ok) {
    const trail = [...(id.trail ?? []), { check: 'expression', ok: false, detail: mapped.error }];
    return refuseSignIn(ctx, reply, req, 401, mapped.reason, { trail, ...(id.attributes ? { attributes: id.attributes } : {}), user: id.user });
  }
  id = mapped.id;
  const logged = { ...(id.trail ? { trail: id.trail } : {}), ...(id.attributes ? { attributes: id.attributes } : {}), user: id.user };
  // Right after a start the bindings may still be listed: wait for all of
  // them (a Denied one not listed yet must not be missed), or refuse.
  const index = ctx.registry.current().bindings;
  if (!index.complete && !(await index.whenComplete())) return refuseSignIn(ctx, reply, req, 503, 'BindingsLoading', logged);
  const match = ctx.registry.current().bindings.lookup(req.runtime.key, id.user);
  // IdP groups as forward-auth can hand them on: header-safe, no commas, bounded.
  const idpGroups = sanitizeGroups(id.idpGroups ?? []).slice(0, MAX_IDP_GROUPS);
  // Without an Active binding, membership of an allowlisted IdP group lets the
  // user in (spec.access.allowedIdPGroups); the session records which group,
  // and forward-auth re-checks it against the list as it is then. A Denied
  // binding is an administrator's explicit no: no group overrides it.
  const viaGroup = match.active || match.phases.includes('Denied') ? undefined : idpGroups.find((g) => (req.runtime.allowedIdPGroups ?? []).includes(g));
  if (!match.active && viaGroup === undefined) {
    if (req.runtime.accessRequests && ctx.accessRequests) return accessOutcome(ctx, reply, req, id.user, match.phases, logged);
    return refuseSignIn(ctx, reply, req, 403, 'BindingNotActive', logged);
  }

  const nowSeconds = Math.floor(req.now.getTime() / 1000);
  let ttl = req.runtime.sessionTtlSeconds;
  if (id.notOnOrAfter !== undefined) ttl = Math.min(ttl, id.notOnOrAfter - nowSeconds);
  if (ttl <= 0) return refuseSignIn(ctx, reply, req, 401, 'SessionNotOnOrAfterPassed', logged);

  // session.passAccessToken: the tokens go to the vault under a key only the
  // session cookie carries; a sign-in whose tokens cannot be kept gets no
  // session (an app that needs the token would fail with it anyway).
  const pass = req.runtime.passAccessToken;
  if (pass && id.tokens === undefined) return refuseSignIn(ctx, reply, req, 401, 'AccessTokenMissing', logged);
  const atk = pass ? newSealingKey() : undefined;
  const issued = await ctx.sessions.issue(
    {
      ...(atk !== undefined ? { atk } : {}),
      sub: id.user,
      ...(id.email ? { email: id.email } : {}),
      groups: match.groups,
      ...(idpGroups.length ? { idpGroups } : {}),
      ...(viaGroup !== undefined ? { viaGroup } : {}),
      connector: req.runtime.key,
      ...(id.saml ? { saml: id.saml } : {}),
      ...(id.oidc ? { oidc: id.oidc } : {}),
    },
    ttl,
    req.now,
  );
  if (atk !== undefined) {
    try {
      await ctx.accessTokens.hold({ jti: issued.jti, exp: issued.exp, connector: req.runtime.key, atk }, id.tokens!);
    } catch (err) {
      ctx.logger.warn({ correlationId: req.correlationId, connector: req.runtime.key, err: (err as Error).message }, 'could not keep the access token; no session issued');
      return refuseSignIn(ctx, reply, req, 503, 'TokenVaultUnavailable', logged);
    }
  }
  ctx.metrics.sessionsIssued.inc({ namespace: req.namespace, connector: req.name });
  recordLogin(ctx, { correlationId: req.correlationId, connector: req.runtime, namespace: req.namespace, name: req.name, status: 303, reason: 'Success', startedAt: req.startedAt, ...logged });
  const setCookies = [
    serializeCookie(SESSION_COOKIE, issued.token, sessionCookieOptions({ publicURL: ctx.config.publicURL, cookieDomain: ctx.config.cookieDomain, maxAgeSeconds: ttl })),
    ...(req.cookies ?? []),
  ];
  return reply.code(303).header('cache-control', 'no-store').header('set-cookie', setCookies).header('location', req.target).send();
}

/**
 * A verified user without an Active binding at a connector that takes access
 * requests: denied (an administrator said no), pending (a request is
 * waiting), or the page with the Request access button, whose short-lived
 * cookie carries the identity verified here (access-pages.ts).
 */
async function accessOutcome(
  ctx: PublicContext,
  reply: FastifyReply,
  req: SignInRequest,
  user: string,
  phases: readonly BindingPhase[],
  logged: Partial<LoginOutcome>,
): Promise<FastifyReply> {
  const log = (reason: string) => recordLogin(ctx, { correlationId: req.correlationId, connector: req.runtime, namespace: req.namespace, name: req.name, status: 403, reason, startedAt: req.startedAt, ...logged });
  const cookies = [...(req.cookies ?? [])];
  if (phases.includes('Denied')) {
    log('AccessDenied');
    return deniedPage(reply.header('set-cookie', cookies), req.runtime, req.correlationId);
  }
  let waiting = phases.includes('PendingApproval');
  if (!waiting && ctx.accessRequests?.has) {
    try {
      waiting = await ctx.accessRequests.has(req.namespace, requestBindingName(req.name, user));
    } catch {
      waiting = false;
    }
  }
  if (waiting) {
    log('AccessPending');
    return pendingPage(reply.header('set-cookie', cookies), req.runtime, user, req.correlationId, 403);
  }
  log('BindingNotActive');
  const { line, token } = accessCookieLine(ctx, req.runtime.key, user, req.now);
  cookies.push(line);
  return requestPage(reply.header('set-cookie', cookies), req.runtime, user, token, req.correlationId);
}

/** The identity after the connector's expressions (unchanged without them). */
export function applyExpressions(runtime: ConnectorRuntime, id: VerifiedIdentity): { ok: true; id: VerifiedIdentity } | { ok: false; reason: 'IdentityExpressionFailed' | 'GroupsExpressionFailed'; error: string } {
  if (!runtime.identityExpression && !runtime.groupsExpression) return { ok: true, id };
  const vars = { user: id.user, attributes: id.attributes ?? {}, groups: id.idpGroups ?? [] };
  let out: VerifiedIdentity = id;
  const trail = [...(id.trail ?? [])];
  if (runtime.identityExpression) {
    const r = identityFrom(runtime.identityExpression, vars);
    if (!r.ok) return { ok: false, reason: 'IdentityExpressionFailed', error: r.error };
    out = { ...out, user: r.user };
    trail.push({ check: 'identityExpression', ok: true, detail: 'user from spec.access.identityExpression' });
  }
  if (runtime.groupsExpression) {
    const r = groupsFrom(runtime.groupsExpression, vars);
    if (!r.ok) return { ok: false, reason: 'GroupsExpressionFailed', error: r.error };
    out = { ...out, idpGroups: r.groups };
    trail.push({ check: 'groupsExpression', ok: true, detail: `${r.groups.length} group(s) from spec.access.groupsExpression` });
  }
  return { ok: true, id: { ...out, trail } };
}
