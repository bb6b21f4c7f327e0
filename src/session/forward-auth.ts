// Decision of `GET /auth/verify` (forward-auth for ingress controllers).
//
// Security notes:
// - A valid token is not enough: the connector must still be enabled and the
//   user's binding still Active, and groups come from the binding as it is
//   now, so deleting/denying a binding or editing its groups in Git applies
//   at the next request instead of when the session expires.
// - The identity is handed to applications in headers they trust, so values
//   that could be altered on the way are refused: CR/LF (header injection),
//   other control or non-ASCII characters (rejected or mangled by HTTP
//   stacks), leading/trailing whitespace (stripped by parsers, so ` admin`
//   would arrive as `admin`), and commas inside a group name (would split
//   into two groups in the comma-separated list).

import type { SessionFailureReason, SessionClaims, VerifyResult } from './tokens.ts';

export type ForwardAuthReason = SessionFailureReason | 'ConnectorDisabled' | 'BindingNotActive' | 'GroupRequired' | 'ConnectorNotAllowed';

// A type alias (not an interface) so it is assignable to header maps with an index signature.
export type ForwardAuthHeaders = {
  'X-Auth-Request-User': string;
  'X-Auth-Request-Email': string;
  'X-Auth-Request-Groups': string;
  /** `namespace/name` of the connector the session came from. */
  'X-Auth-Request-Connector': string;
};

export type ForwardAuthDecision =
  | { status: 200; headers: ForwardAuthHeaders; claims: SessionClaims; groups: string[] }
  | { status: 401; reason: Exclude<ForwardAuthReason, 'GroupRequired' | 'ConnectorNotAllowed'> }
  | { status: 403; reason: 'GroupRequired' | 'ConnectorNotAllowed' };

export interface ForwardAuthInput {
  verify: VerifyResult;
  connectorEnabled(connectorKey: string): boolean;
  bindingActive(connectorKey: string, user: string): { active: boolean; groups: readonly string[]; denied?: boolean };
  /** Whether the connector's allowedIdPGroups lists `group` now (a session let in through a group). */
  groupAllowed?(connectorKey: string, group: string): boolean;
  /** From `?groups=a,b`: the user needs one of them. Absent or empty = no requirement. */
  requiredGroups?: readonly string[] | undefined;
  /**
   * From `?connectors=ns/name,ns/*`: the session must come from one of them.
   * Group names are not namespaced, so on a cluster shared by teams an
   * ingress pins the connectors it trusts; otherwise a team that can write a
   * UserBinding could grant its users another team's group names.
   */
  allowedConnectors?: readonly string[] | undefined;
}

function connectorAllowed(connector: string, allowed: readonly string[]): boolean {
  const ns = connector.split('/')[0];
  return allowed.some((a) => a === connector || (a.endsWith('/*') && a.slice(0, -2) === ns));
}

// Visible ASCII plus inner spaces, no leading/trailing whitespace.
const SAFE_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** True if the value can travel in a header unchanged. */
export function isHeaderSafe(value: string): boolean {
  return SAFE_VALUE.test(value);
}

/** Groups that can be put in the comma-separated header; others are dropped. Order kept, duplicates removed. */
export function sanitizeGroups(groups: readonly string[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    if (typeof g !== 'string' || !isHeaderSafe(g) || g.includes(',')) continue;
    if (!out.includes(g)) out.push(g);
  }
  return out;
}

/** Parses `?groups=a,b` (trimmed, empties dropped). */
export function parseGroupsParam(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
}

export function decideForwardAuth(input: ForwardAuthInput): ForwardAuthDecision {
  if (!input.verify.ok) return { status: 401, reason: input.verify.reason };
  const claims = input.verify.claims;
  if (!input.connectorEnabled(claims.connector)) return { status: 401, reason: 'ConnectorDisabled' };
  const binding = input.bindingActive(claims.connector, claims.sub);
  // Let in through an allowlisted IdP group: only while the session carries
  // that group and the connector still lists it.
  // A Denied binding is an administrator's explicit no: no group overrides it.
  const viaGroup = !binding.denied && claims.viaGroup !== undefined && (claims.idpGroups ?? []).includes(claims.viaGroup) && input.groupAllowed?.(claims.connector, claims.viaGroup) === true;
  if (!binding.active && !viaGroup) return { status: 401, reason: 'BindingNotActive' };
  // An identity that cannot be passed on unchanged is not passed on at all.
  if (!isHeaderSafe(claims.sub)) return { status: 401, reason: 'SessionInvalid' };
  const allowed = (input.allowedConnectors ?? []).filter((c) => c !== '');
  if (allowed.length > 0 && !connectorAllowed(claims.connector, allowed)) {
    return { status: 403, reason: 'ConnectorNotAllowed' };
  }
  // The binding's groups, then the IdP's (spec.saml.groupsAttribute, oidc.claims.groups).
  const groups = sanitizeGroups([...(binding.active ? binding.groups : []), ...(claims.idpGroups ?? [])]);
  const required = (input.requiredGroups ?? []).filter((g) => g !== '');
  if (required.length > 0 && !required.some((g) => groups.includes(g))) {
    return { status: 403, reason: 'GroupRequired' };
  }
  const email = claims.email !== undefined && isHeaderSafe(claims.email) ? claims.email : '';
  return {
    status: 200,
    headers: {
      'X-Auth-Request-User': claims.sub,
      'X-Auth-Request-Email': email,
      'X-Auth-Request-Groups': groups.join(','),
      'X-Auth-Request-Connector': claims.connector,
    },
    claims,
    groups,
  };
}
