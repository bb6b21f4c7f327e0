// The answer of `GET /auth/verify`, and the session check it shares with
// /auth/whoami: one function, called by the fastify route and by the
// listener's fast path (src/server/forward-auth-fast-path.ts), so both
// answer alike by construction.

import type { ConnectorRuntime, RegistrySnapshot } from '../controller/registry.ts';
import { refresherFor } from '../oidc/relying-party.ts';
import { SESSION_COOKIE, readCookie } from '../session/cookies.ts';
import { decideForwardAuth, isHeaderSafe, type ForwardAuthDecision } from '../session/forward-auth.ts';
import { sessionRevocationKeys } from '../session/revocation.ts';
import type { SessionClaims, VerifyResult } from '../session/tokens.ts';
import type { PublicContext } from './context.ts';

/** Reason (503) when the revocation list cannot say whether a session was revoked. */
export const UNAVAILABLE = 'RevocationListUnavailable';
/** Reason (503) when a restarted replica is still listing the bindings after BINDINGS_LOADING_WAIT_MS. */
export const BINDINGS_LOADING = 'BindingsLoading';

/** A session whose state cannot be told now: never 200, never 401 (the user may well be signed in). */
export interface SessionUnavailable {
  status: 503;
  reason: typeof UNAVAILABLE | typeof BINDINGS_LOADING;
}

/** What the session check says of a request: the forward-auth decision, or 503. */
export type SessionState = ForwardAuthDecision | SessionUnavailable;

const REVOCATION_UNAVAILABLE: SessionUnavailable = Object.freeze({ status: 503, reason: UNAVAILABLE });
const BINDINGS_LOADING_ANSWER: SessionUnavailable = Object.freeze({ status: 503, reason: BINDINGS_LOADING });

/** The query parameters forward-auth reads (single-valued: a repeated one is refused before this). */
export interface VerifyQuery {
  groups?: unknown;
  connectors?: unknown;
}

export interface VerifyAnswer {
  status: 200 | 401 | 403 | 503;
  /** Response headers besides cache-control (the identity on 200). */
  headers?: Record<string, string>;
}

function listParam(value: unknown): string[] | undefined {
  return typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter(Boolean) : undefined;
}

/** A value now, or a promise of it when it needs I/O (a token not verified yet, Redis, a provider). */
export type Maybe<T> = T | Promise<T>;

export interface SessionCheck {
  /**
   * A session counts only while it is not revoked, its connector enabled and
   * its binding Active: removing either ends access at the next request.
   * The revocation list is asked last, only about a session that would
   * otherwise pass (an unsigned token or an inactive binding never costs a
   * Redis round trip, and keeps its own reason). 503 (SessionUnavailable)
   * when the list cannot answer, or the bindings of a replica that just
   * started are not all listed yet: never 200 for a session whose state is
   * unknown.
   */
  currentSession(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Promise<SessionState>;
  /** The whole answer of /auth/verify, metrics counted. */
  verifyAnswer(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Promise<VerifyAnswer>;
  /**
   * verifyAnswer's answer without a detour through the microtask queue when
   * nothing needs I/O: a token in the verified-token cache, the in-process
   * revocation list, no access token to pass. The listener's fast path calls
   * it once per request to every protected app (about 3 µs less per answer
   * than awaiting the same steps; a CPU profile of the forward-auth bench).
   * Throws only what verifyAnswer would reject with.
   */
  verifyAnswerNow(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Maybe<VerifyAnswer>;
}

export function sessionCheck(ctx: PublicContext): SessionCheck {
  const now = ctx.now ?? (() => new Date());
  const revocations = ctx.revocations;
  // The revocation keys of a session are SHA-256 hashes of its SAML/OIDC
  // subject: computed once per claims object. Verified claims are frozen and
  // shared while their token stays in the verified-token cache, so a session
  // sent again finds its keys here; the weak map lets them go with the claims.
  const revocationKeys = new WeakMap<SessionClaims, readonly string[]>();

  /**
   * Whether a verified session was revoked since: a boolean when the list
   * answers in process, else a promise that rejects when it cannot answer.
   */
  function revoked(c: SessionClaims): Maybe<boolean> {
    let keys = revocationKeys.get(c);
    if (keys === undefined) {
      keys = sessionRevocationKeys(c.connector, c);
      revocationKeys.set(c, keys);
    }
    // Its jti (logout), or its SAML session / subject (an IdP LogoutRequest).
    const session = { iat: c.iat, keys };
    return revocations.isRevokedNow ? revocations.isRevokedNow(c.jti, session) : revocations.isRevoked(c.jti, session);
  }

  // The decision for a verified session (connector enabled, binding Active,
  // groups, headers) is a function of its claims, the registry snapshot (a
  // new one for every connector change), the binding index (its version
  // grows with every binding change) and the query: reused while all four
  // are the same, so a session sent again costs no binding lookup. What can
  // change without them, the session ttl and the revocation list, is checked
  // below on every request. Keyed by the frozen claims object the verified-
  // token cache shares, weakly: gone with it.
  const decisions = new WeakMap<SessionClaims, { snapshot: RegistrySnapshot; bindings: number; query: string; decision: ForwardAuthDecision }>();
  const queryKey = (q: VerifyQuery) => `${typeof q.groups === 'string' ? q.groups : ''}\u0000${typeof q.connectors === 'string' ? q.connectors : ''}`;
  function decidedBefore(v: Extract<VerifyResult, { ok: true }>, snapshot: RegistrySnapshot, query: VerifyQuery): ForwardAuthDecision | undefined {
    const d = decisions.get(v.claims);
    return d && d.snapshot === snapshot && d.bindings === snapshot.bindings.version && d.query === queryKey(query) ? d.decision : undefined;
  }
  function remember(v: Extract<VerifyResult, { ok: true }>, snapshot: RegistrySnapshot, query: VerifyQuery, decision: ForwardAuthDecision): ForwardAuthDecision {
    if (decision.status === 200) {
      Object.freeze(decision.headers);
      Object.freeze(decision.groups);
    }
    decisions.set(v.claims, { snapshot, bindings: snapshot.bindings.version, query: queryKey(query), decision: Object.freeze(decision) });
    return decision;
  }

  function currentSessionNow(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Maybe<SessionState> {
    const token = readCookie(cookieHeader, SESSION_COOKIE);
    const at = now();
    if (!token) return judge({ ok: false, reason: 'SessionMissing' }, at, cookieHeader, query, correlationId);
    const remembered = ctx.sessions.remembered(token, at);
    if (remembered !== undefined) return judge(remembered, at, cookieHeader, query, correlationId);
    return ctx.sessions.verify(token, at).then((v) => judge(v, at, cookieHeader, query, correlationId));
  }

  function judge(verify: VerifyResult, at: Date, cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Maybe<SessionState> {
    // A verified session right after a start, while the bindings are still
    // listed: its binding may not be known yet (a 401 would send a signed-in
    // user back to the IdP) or a Denied one may not be (a 200 would be
    // wrong): wait for the complete index, then judge the cookie afresh (time
    // has passed), else 503 BindingsLoading.
    const snapshot = ctx.registry.current();
    if (verify.ok && !snapshot.bindings.complete) {
      return snapshot.bindings
        .whenComplete()
        .then((done) => (done ? currentSessionNow(cookieHeader, query, correlationId) : BINDINGS_LOADING_ANSWER));
    }
    const decide = (v: VerifyResult) =>
      decideForwardAuth({
        verify: v,
        // A connector whose manifest was replaced by an invalid one may have been
        // meant to be switched off: its sessions stop verifying (fail closed).
        connectorEnabled: (key) => {
          const c = snapshot.connectors.get(key);
          return c?.enabled === true && c.notReadyReason !== 'ManifestInvalid';
        },
        bindingActive: (connectorKey, user) => {
          const m = snapshot.bindings.lookup(connectorKey, user);
          return { active: m.active, groups: m.groups, denied: m.phases.includes('Denied') };
        },
        groupAllowed: (connectorKey, group) => snapshot.connectors.get(connectorKey)?.allowedIdPGroups?.includes(group) === true,
        requiredGroups: listParam(query.groups),
        allowedConnectors: listParam(query.connectors),
      });
    const decision = verify.ok ? decidedBefore(verify, snapshot, query) ?? remember(verify, snapshot, query, decide(verify)) : decide(verify);
    if (!verify.ok || decision.status === 401) return decision;
    // session.ttl bounds every session of the connector as it is now, also
    // those issued before it was lowered (and so the revocation entries of
    // single logout, kept for that ttl, outlive every session they name).
    const ttl = snapshot.connectors.get(verify.claims.connector)?.sessionTtlSeconds;
    if (ttl !== undefined && Math.floor(at.getTime() / 1000) >= verify.claims.iat + ttl) return decide({ ok: false, reason: 'SessionExpired' });
    const unavailable = (err: unknown) => {
      ctx.logger.warn({ correlationId, err: (err as Error).message }, 'revocation list unavailable: refusing the session (503)');
      return REVOCATION_UNAVAILABLE;
    };
    let isRevoked: Maybe<boolean>;
    try {
      isRevoked = revoked(verify.claims);
    } catch (err) {
      return unavailable(err);
    }
    if (typeof isRevoked === 'boolean') return isRevoked ? decide({ ok: false, reason: 'SessionRevoked' }) : decision;
    return isRevoked.then((r) => (r ? decide({ ok: false, reason: 'SessionRevoked' }) : decision), unavailable);
  }

  async function currentSession(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Promise<SessionState> {
    return currentSessionNow(cookieHeader, query, correlationId);
  }

  /**
   * session.passAccessToken: the provider's access token of an allowed
   * session, refreshed when due. A session without one (issued before the
   * setting was turned on, or whose record is gone) is 401 so the user signs
   * in again and the app gets a token; a token that cannot travel in a header
   * unchanged is not passed at all.
   */
  async function accessToken(claims: SessionClaims, runtime: ConnectorRuntime) {
    if (claims.atk === undefined) return { ok: false as const, status: 401 as const, reason: 'AccessTokenMissing' as const };
    const client = runtime.oidc?.client ?? runtime.oauth2?.client;
    const t = await ctx.accessTokens.obtain({ jti: claims.jti, exp: claims.exp, connector: claims.connector, atk: claims.atk }, client ? refresherFor(client) : undefined);
    const labels = { namespace: runtime.namespace, connector: runtime.name };
    if (t.ok && t.refreshed) ctx.metrics.accessTokenRefresh.inc({ ...labels, result: 'Refreshed' });
    if (!t.ok && (t.reason === 'AccessTokenRefreshFailed' || t.reason === 'ProviderUnavailable')) ctx.metrics.accessTokenRefresh.inc({ ...labels, result: t.reason });
    if (t.ok && !isHeaderSafe(t.accessToken)) return { ok: false as const, status: 401 as const, reason: 'AccessTokenInvalid' as const };
    return t;
  }

  function verifyAnswerNow(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Maybe<VerifyAnswer> {
    const d = currentSessionNow(cookieHeader, query, correlationId);
    return d instanceof Promise ? d.then(answerFor) : answerFor(d);
  }

  function answerFor(d: SessionState): Maybe<VerifyAnswer> {
    if (d.status === 503) {
      ctx.metrics.forwardAuth.inc({ result: 'denied', reason: d.reason });
      return { status: 503 };
    }
    if (d.status !== 200) {
      ctx.metrics.forwardAuth.inc({ result: 'denied', reason: d.reason });
      return { status: d.status };
    }
    const runtime = ctx.registry.current().connectors.get(d.claims.connector);
    if (runtime?.passAccessToken) {
      return accessToken(d.claims, runtime).then((t): VerifyAnswer => {
        if (!t.ok) {
          ctx.metrics.forwardAuth.inc({ result: 'denied', reason: t.reason });
          return { status: t.status };
        }
        ctx.metrics.forwardAuth.inc({ result: 'allowed', reason: 'Allowed' });
        return { status: 200, headers: { ...d.headers, 'X-Auth-Request-Access-Token': t.accessToken } };
      });
    }
    ctx.metrics.forwardAuth.inc({ result: 'allowed', reason: 'Allowed' });
    return { status: 200, headers: d.headers };
  }

  async function verifyAnswer(cookieHeader: string | undefined, query: VerifyQuery, correlationId: string): Promise<VerifyAnswer> {
    return verifyAnswerNow(cookieHeader, query, correlationId);
  }

  return { currentSession, verifyAnswer, verifyAnswerNow };
}
