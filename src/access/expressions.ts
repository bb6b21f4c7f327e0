// CEL expressions that derive the user and the groups from what the identity
// provider sent (spec.access.identityExpression, spec.access.groupsExpression),
// compiled when the connector is reconciled and evaluated at each sign-in,
// after every protocol check passed. Variables:
//   user        the identity the protocol derived (NameID / userIdentity
//               attribute for SAML, the username claim for OIDC, the
//               identityField for OAuth2)
//   attributes  map(string, list(string)): SAML attributes, or OIDC/OAuth2
//               claims with each value as a list of strings
//   groups      list(string): the IdP groups (saml.groupsAttribute,
//               oidc.claims.groups), empty without them
// Examples: `attributes['mail'][0].lowerAscii()`,
//           `groups.filter(g, g.startsWith('app-'))`.
//
// What this defends against: an expression error or an unexpected result
// never becomes an identity. The identity must be a non-empty string of at
// most 1024 characters, the groups a list of strings (then sanitised as any
// IdP group), else the sign-in is refused (IdentityExpressionFailed,
// GroupsExpressionFailed). Expressions are written by the connector's
// administrators; the values they read come from the verified assertion or
// ID token only.

import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

const env = celEnv({ funcs: strings });

export type CompiledExpression = (vars: ExpressionVars) => { ok: true; value: unknown } | { ok: false; error: string };

export interface ExpressionVars {
  user: string;
  attributes: Readonly<Record<string, readonly string[]>>;
  groups: readonly string[];
}

/** Parses and plans an expression; the compiler's message when it does not compile. */
export function compileExpression(source: string): { ok: true; run: CompiledExpression } | { ok: false; error: string } {
  let program: (ctx: Record<string, CelInput>) => CelResult;
  try {
    program = plan(env, parse(source)) as typeof program;
  } catch (err) {
    return { ok: false, error: (err instanceof Error ? err.message : String(err)).slice(0, 500) };
  }
  return {
    ok: true,
    run: (vars) => {
      try {
        const attributes: Record<string, CelInput> = {};
        for (const [k, v] of Object.entries(vars.attributes)) attributes[k] = [...v] as CelInput;
        const result = program({ user: vars.user, attributes: attributes as CelInput, groups: [...vars.groups] as CelInput });
        if (isCelError(result)) return { ok: false, error: result.message.slice(0, 300) };
        return { ok: true, value: toPlain(result) };
      } catch (err) {
        return { ok: false, error: (err instanceof Error ? err.message : String(err)).slice(0, 300) };
      }
    },
  };
}

/** CEL values (lists may come back as CEL list objects) as plain JS. */
function toPlain(v: unknown): unknown {
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint' || v === null) return v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === 'object' && Symbol.iterator in v) return [...(v as Iterable<unknown>)].map(toPlain);
  return v;
}

export function identityFrom(run: CompiledExpression, vars: ExpressionVars): { ok: true; user: string } | { ok: false; error: string } {
  const r = run(vars);
  if (!r.ok) return r;
  if (typeof r.value !== 'string' || r.value.length === 0 || r.value.length > 1024) return { ok: false, error: 'the identity expression did not give a non-empty string' };
  return { ok: true, user: r.value };
}

export function groupsFrom(run: CompiledExpression, vars: ExpressionVars): { ok: true; groups: string[] } | { ok: false; error: string } {
  const r = run(vars);
  if (!r.ok) return r;
  if (!Array.isArray(r.value) || !r.value.every((g) => typeof g === 'string')) return { ok: false, error: 'the groups expression did not give a list of strings' };
  return { ok: true, groups: r.value.slice(0, 256) as string[] };
}
