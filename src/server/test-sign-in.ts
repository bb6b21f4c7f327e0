// Admin test sign-in: for a connector in stage Provisioning,
// GET /{saml|oidc|oauth2}/{ns}/{name}/test runs a real sign-in at the
// identity provider and, instead of creating a session, shows the decision
// trail: each check and its result, the attributes or claims received, the
// identity derived, which UserBinding matched and the groups a session would
// get. What it defends against:
// - anyone reading another user's attributes, or the configuration's details:
//   only a user listed in spec.access.admins, with a valid session (not
//   revoked) from this or any other connector, may start one;
// - a test turning into a sign-in: the pending entry is marked `k: 'test'`
//   in the signed state cookie, and the ACS or callback that takes it never
//   issues a session, whatever the answer;
// - a connector in Production exposing it: 404 TestSignInNotAvailable.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { userMatchKey, type ConnectorRuntime } from '../controller/registry.ts';
import type { TrailEntry } from '../saml/types.ts';
import { sanitizeGroups } from '../session/forward-auth.ts';
import { sessionRevocationKeys } from '../session/revocation.ts';
import type { SessionClaims } from '../session/tokens.ts';
import type { PublicContext } from './context.ts';
import { acceptsJSON, escapeHtml, sendError, sendPage } from './html.ts';
import { presentedSession } from './session-end.ts';
import { applyExpressions } from './sign-in.ts';

/** The admin allowed to test `runtime`, or the refusal to send. */
export async function testSignInAllowed(
  ctx: PublicContext,
  req: FastifyRequest,
  runtime: ConnectorRuntime,
  now: Date,
): Promise<{ ok: true; admin: SessionClaims } | { ok: false; status: number; reason: string }> {
  if (runtime.stage !== 'Provisioning') return { ok: false, status: 404, reason: 'TestSignInNotAvailable' };
  const claims = await presentedSession(ctx, req, now);
  if (!claims) return { ok: false, status: 401, reason: 'AdminSessionRequired' };
  try {
    if (await ctx.revocations.isRevoked(claims.jti, { iat: claims.iat, keys: sessionRevocationKeys(claims.connector, claims) })) return { ok: false, status: 401, reason: 'AdminSessionRequired' };
  } catch {
    return { ok: false, status: 503, reason: 'RevocationListUnavailable' };
  }
  const me = userMatchKey(claims.sub);
  if (!runtime.admins.some((a) => userMatchKey(a) === me)) return { ok: false, status: 403, reason: 'AdminRequired' };
  return { ok: true, admin: claims };
}

export function refuseTest(reply: FastifyReply, status: number, reason: string, correlationId: string): FastifyReply {
  const text =
    reason === 'TestSignInNotAvailable'
      ? 'A test sign-in is only offered for a connector in stage Provisioning.'
      : reason === 'AdminRequired'
        ? 'Only the administrators listed in the connector (spec.access.admins) may run a test sign-in.'
        : 'Sign in first as an administrator listed in the connector (spec.access.admins).';
  return sendError(reply, status, reason, correlationId, text);
}

export interface TestOutcome {
  ok: boolean;
  reason: string;
  trail: TrailEntry[];
  /** Attributes (SAML) or claims (OIDC, OAuth2) received. */
  attributes?: Record<string, string[]>;
  /** The user as bindings name them, when the checks got that far. */
  user?: string;
  idpGroups?: string[];
}

/** The decision trail page of a test sign-in (never a session). */
export function sendTestResult(ctx: PublicContext, reply: FastifyReply, runtime: ConnectorRuntime, outcome: TestOutcome, correlationId: string): FastifyReply {
  // The connector's expressions, as a real sign-in applies them.
  let o = outcome;
  if (o.ok && o.user !== undefined) {
    const mapped = applyExpressions(runtime, { user: o.user, trail: o.trail, ...(o.attributes ? { attributes: o.attributes } : {}), ...(o.idpGroups ? { idpGroups: o.idpGroups } : {}) });
    o = mapped.ok
      ? { ...o, user: mapped.id.user, trail: mapped.id.trail ?? o.trail, ...(mapped.id.idpGroups ? { idpGroups: mapped.id.idpGroups } : {}) }
      : { ok: false, reason: mapped.reason, trail: [...o.trail, { check: 'expression', ok: false, detail: mapped.error }], ...(o.attributes ? { attributes: o.attributes } : {}) };
  }
  // While the bindings are still listed (right after a start) none is looked up: the page says so.
  const index = ctx.registry.current().bindings;
  const match = o.user !== undefined && index.complete ? index.lookup(runtime.key, o.user) : undefined;
  const idpGroups = sanitizeGroups(o.idpGroups ?? []);
  const viaGroup = match && !match.active && !match.phases.includes('Denied') ? idpGroups.find((g) => (runtime.allowedIdPGroups ?? []).includes(g)) : undefined;
  const wouldSignIn = o.ok && match !== undefined && (match.active || viaGroup !== undefined);
  const groups = sanitizeGroups([...(match?.active ? match.groups : []), ...idpGroups]);
  ctx.logger.info({ correlationId, connector: runtime.key, result: o.ok ? 'success' : 'failure', reason: o.reason, user: o.user }, 'test sign-in');
  const rows = o.trail.map((t) => `<tr><td>${t.ok ? 'pass' : '<strong>fail</strong>'}</td><td><code>${escapeHtml(t.check)}</code></td><td>${escapeHtml(t.detail ?? '')}</td></tr>`).join('');
  const attrs = Object.entries(o.attributes ?? {})
    .map(([k, v]) => `<tr><th><code>${escapeHtml(k)}</code></th><td>${v.map((x) => `<code>${escapeHtml(x)}</code>`).join(', ')}</td></tr>`)
    .join('');
  const binding = !match
    ? o.user !== undefined
      ? 'not looked up yet (the UserBindings are still being listed after a start)'
      : 'not looked up (the checks stopped before the user was known)'
    : match.bindings.length === 0
      ? 'none'
      : `${match.bindings.map((b) => `<code>${escapeHtml(b)}</code>`).join(', ')} (${match.phases.join(', ')})`;
  const html =
    `<h1>Test sign-in: ${o.ok ? 'the identity provider\'s answer passed every check' : 'refused'}</h1>` +
    `<p>Connector <code>${escapeHtml(runtime.key)}</code>. No session was created.</p>` +
    `<p>Result: <code>${escapeHtml(o.reason)}</code>${o.user !== undefined ? ` · user <code>${escapeHtml(o.user)}</code>` : ''}</p>` +
    `<h2>Checks</h2><table>${rows}</table>` +
    `<h2>Received</h2>${attrs ? `<table>${attrs}</table>` : '<p class="muted">nothing read</p>'}` +
    `<h2>Access</h2><p>UserBinding: ${binding}</p>` +
    (viaGroup !== undefined ? `<p>Let in through the allowed IdP group <code>${escapeHtml(viaGroup)}</code>.</p>` : '') +
    // Not "refused" while the bindings are listed: a real sign-in waits for them (503 BindingsLoading only if they take too long).
    (o.ok && o.user !== undefined && !match
      ? '<p>A real sign-in would wait until the UserBindings are listed, then be decided; try the test again in a minute.</p>'
      : `<p>A real sign-in would ${wouldSignIn ? 'succeed' : 'be refused'}; groups handed to applications: ${groups.length ? groups.map((g) => `<code>${escapeHtml(g)}</code>`).join(', ') : 'none'}.</p>`) +
    `<p class="muted">Correlation id: <code>${escapeHtml(correlationId)}</code></p>`;
  if (acceptsJSON(reply.request.headers.accept)) {
    return reply.code(200).header('cache-control', 'no-store').send({ ok: o.ok, reason: o.reason, user: o.user, trail: o.trail, attributes: o.attributes ?? {}, bindings: match?.bindings ?? [], phases: match?.phases ?? [], wouldSignIn, groups, correlationId });
  }
  return sendPage(reply, 200, 'Test sign-in', html);
}
