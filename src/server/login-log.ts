// One log line and one metric sample per login attempt. Production logs the
// reason code only; Provisioning adds the decision trail and the attributes
// received. Never logged, in any stage: keys, tokens, cookies, the raw SAML
// message.

import type { ConnectorRuntime } from '../controller/registry.ts';
import type { TrailEntry } from '../saml/types.ts';
import type { PublicContext } from './context.ts';

/**
 * Refusal lines per reason code and second, at most; the rest are counted
 * and the next line of that reason says how many were left out
 * (`unloggedBefore`). A flood of junk (a scanner, a broken IdP in a loop)
 * otherwise costs a synchronous log write per post, and buries the lines
 * that matter. Metrics count every refusal; successes are always logged,
 * and so is every line of a connector in the Provisioning stage (its
 * administrator is reading the trail).
 */
export const REFUSAL_LINES_PER_SECOND = 50;

interface Window {
  second: number;
  logged: number;
  unlogged: number;
}

// Per app (its metrics object): one operator's windows never hide another's lines.
const windows = new WeakMap<object, Map<string, Window>>();

/** Whether this refusal gets its log line; `line.unloggedBefore` is set when earlier ones of its reason were left out. */
function admitRefusalLine(ctx: PublicContext, key: string, line: Record<string, unknown>): boolean {
  let perReason = windows.get(ctx.metrics);
  if (perReason === undefined) {
    perReason = new Map();
    windows.set(ctx.metrics, perReason);
  }
  const second = Math.floor(performance.now() / 1000);
  let w = perReason.get(key);
  if (w === undefined) {
    w = { second, logged: 0, unlogged: 0 };
    perReason.set(key, w);
  }
  if (w.second !== second) {
    w.second = second;
    w.logged = 0;
  }
  if (w.logged >= REFUSAL_LINES_PER_SECOND) {
    w.unlogged++;
    return false;
  }
  w.logged++;
  if (w.unlogged > 0) {
    line.unloggedBefore = w.unlogged;
    w.unlogged = 0;
  }
  return true;
}

export interface LoginOutcome {
  correlationId: string;
  connector: ConnectorRuntime | undefined;
  namespace: string;
  name: string;
  status: number;
  reason: string;
  startedAt: bigint;
  trail?: TrailEntry[];
  attributes?: Record<string, string[]>;
  user?: string;
}

export function recordLogin(ctx: PublicContext, o: LoginOutcome): void {
  const result = o.status < 400 ? 'success' : 'failure';
  const seconds = Number(process.hrtime.bigint() - o.startedAt) / 1e9;
  // Label values for unknown connectors come from the URL: bucket them so a
  // scanner cannot grow the metric's cardinality without bound.
  const known = o.connector !== undefined;
  const labels = { namespace: known ? o.namespace : '_unknown', connector: known ? o.name : '_unknown' };
  ctx.metrics.loginAttempts.inc({ ...labels, result, reason: o.reason });
  ctx.metrics.loginDuration.observe({ ...labels, result }, seconds);

  const line: Record<string, unknown> = {
    correlationId: o.correlationId,
    connector: `${o.namespace}/${o.name}`,
    result,
    reason: o.reason,
    status: o.status,
    durationMs: Math.round(seconds * 1000),
  };
  if (o.connector?.reference) line.reference = o.connector.reference;
  if (o.connector?.stage === 'Provisioning') {
    line.stage = 'Provisioning';
    if (o.user !== undefined) line.user = o.user;
    if (o.trail) line.trail = o.trail;
    if (o.attributes) line.attributes = o.attributes;
  }
  if (result === 'success') ctx.logger.info(line, 'login');
  else if (o.connector?.stage === 'Provisioning' || admitRefusalLine(ctx, `login ${o.reason}`, line)) ctx.logger.warn(line, 'login refused');
}

export interface LogoutOutcome {
  correlationId: string;
  connector: ConnectorRuntime | undefined;
  namespace: string;
  name: string;
  /** idp: a LogoutRequest from the IdP; sp: the IdP's LogoutResponse to ours. */
  initiator: 'idp' | 'sp';
  status: number;
  reason: string;
  trail?: TrailEntry[];
  /** How many session keys an IdP LogoutRequest revoked (its SessionIndexes plus the unindexed key, or the NameID). */
  revokedKeys?: number;
}

/** One log line and one metric sample per single-logout message; same stage rules as logins. */
export function recordLogout(ctx: PublicContext, o: LogoutOutcome): void {
  const result = o.status < 400 ? 'success' : 'failure';
  const known = o.connector !== undefined;
  ctx.metrics.logouts.inc({
    namespace: known ? o.namespace : '_unknown',
    connector: known ? o.name : '_unknown',
    initiator: o.initiator,
    result,
    reason: o.reason,
  });
  const line: Record<string, unknown> = {
    correlationId: o.correlationId,
    connector: `${o.namespace}/${o.name}`,
    initiator: o.initiator,
    result,
    reason: o.reason,
    status: o.status,
  };
  if (o.revokedKeys !== undefined) line.revokedKeys = o.revokedKeys;
  if (o.connector?.reference) line.reference = o.connector.reference;
  if (o.connector?.stage === 'Provisioning') {
    line.stage = 'Provisioning';
    if (o.trail) line.trail = o.trail;
  }
  if (result === 'success') ctx.logger.info(line, 'logout');
  else if (o.connector?.stage === 'Provisioning' || admitRefusalLine(ctx, `logout ${o.reason}`, line)) ctx.logger.warn(line, 'logout refused');
}
