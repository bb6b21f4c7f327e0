// Standalone enforcement of the CRD's CEL rules (`x-kubernetes-validations`).
// The rules are collected from the same schema tree the CRD is generated
// from and evaluated with @bufbuild/cel, `self` bound as the apiserver binds
// it: the value at the rule's location (integers as CEL int).

import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { joinPath, type AdmissionError, type CelRule } from './common.ts';

/** A JSON-schema node as TypeBox builds it (plain keys; TypeBox's symbols are ignored). */
export type SchemaNode = Readonly<Record<string, unknown>>;

export interface CollectedRule extends CelRule {
  /** Schema location, `[*]` for every item / map value: `$.spec.saml.idp.certificates[*]`. */
  path: string;
}

function rulesOf(node: SchemaNode): CelRule[] {
  const r = node['x-kubernetes-validations'];
  return Array.isArray(r) ? (r as CelRule[]) : [];
}

function children(node: SchemaNode): { key: string | null; node: SchemaNode }[] {
  const out: { key: string | null; node: SchemaNode }[] = [];
  const props = node['properties'];
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props as Record<string, SchemaNode>)) out.push({ key: k, node: v });
  }
  const items = node['items'];
  if (items && typeof items === 'object' && !Array.isArray(items)) out.push({ key: null, node: items as SchemaNode });
  const ap = node['additionalProperties'];
  if (ap && typeof ap === 'object') out.push({ key: null, node: ap as SchemaNode });
  return out;
}

/** Per keyword, whether a schema node or any node below it has that keyword. */
const below = new Map<string, WeakMap<SchemaNode, boolean>>();

/**
 * Whether `keyword` appears at or below `node`: a subtree without any is not
 * walked (100,000 UserBindings, whose schema has no CEL rule, were each
 * walked node by node at every list).
 */
function anyBelow(node: SchemaNode, keyword: string): boolean {
  let seen = below.get(keyword);
  if (seen === undefined) below.set(keyword, (seen = new WeakMap()));
  let found = seen.get(node);
  if (found === undefined) {
    found = node[keyword] !== undefined || children(node).some((c) => anyBelow(c.node, keyword));
    seen.set(node, found);
  }
  return found;
}

/** Every CEL rule in a schema tree, in document order. */
export function collectRules(schema: SchemaNode, path = '$'): CollectedRule[] {
  const out: CollectedRule[] = rulesOf(schema).map((r) => ({ ...r, path }));
  for (const c of children(schema)) {
    out.push(...collectRules(c.node, c.key === null ? `${path}[*]` : joinPath(path, c.key)));
  }
  return out;
}

const env = celEnv({ funcs: strings });
type Program = (ctx: Record<string, CelInput>) => CelResult;
const programs = new Map<string, Program>();

/** Parses and plans a rule once; throws on a syntax error. */
export function compileRule(rule: string): Program {
  let p = programs.get(rule);
  if (!p) {
    p = plan(env, parse(rule)) as Program;
    programs.set(rule, p);
  }
  return p;
}

/** The JSON value as the apiserver hands it to CEL: integer fields become CEL int (bigint). */
export function toCelValue(value: unknown, schema: SchemaNode): CelInput {
  if (schema['type'] === 'integer' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) {
    const items = (schema['items'] ?? {}) as SchemaNode;
    return value.map((v) => toCelValue(v, items)) as CelInput;
  }
  if (value !== null && typeof value === 'object') {
    const props = (schema['properties'] ?? {}) as Record<string, SchemaNode>;
    const ap = schema['additionalProperties'];
    const out: Record<string, CelInput> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const s = props[k] ?? (ap && typeof ap === 'object' ? (ap as SchemaNode) : {});
      out[k] = toCelValue(v, s);
    }
    return out as CelInput;
  }
  return value as CelInput;
}

/** Evaluates one rule with `self` bound to `value`: true, false, or the evaluation error's text. */
export function evaluateRule(rule: string, value: unknown, schema: SchemaNode = {}): boolean | string {
  return evaluateOn(rule, () => toCelValue(value, schema));
}

/** evaluateRule with `self` converted by the caller (once for all the rules of one node). */
function evaluateOn(rule: string, self: () => CelInput): boolean | string {
  let result: CelResult;
  try {
    result = compileRule(rule)({ self: self() });
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  if (isCelError(result)) return result.message;
  return result === true;
}

/**
 * Evaluates every rule of `schema` against `value` (already defaulted, as the
 * apiserver validates after defaulting). `skip(path)` leaves out the rules
 * at `path` (e.g. when schema validation failed at or below it, so `self`
 * would not have the declared shape); rules further down still run.
 */
export function checkRules(
  schema: SchemaNode,
  value: unknown,
  path = '$',
  skip: (path: string) => boolean = () => false,
): AdmissionError[] {
  if (value === undefined || !anyBelow(schema, 'x-kubernetes-validations')) return [];
  const errors: AdmissionError[] = [];
  let celSelf: CelInput | undefined;
  const self = () => (celSelf ??= toCelValue(value, schema));
  for (const r of skip(path) ? [] : rulesOf(schema)) {
    const outcome = evaluateOn(r.rule, self);
    if (outcome === true) continue;
    const at = r.fieldPath ? `${path}${r.fieldPath}` : path;
    errors.push(
      outcome === false
        ? { path: at, reason: 'RuleViolation', message: r.message }
        : { path: at, reason: 'RuleEvaluationError', message: `rule ${JSON.stringify(r.rule)} could not be evaluated: ${outcome}` },
    );
  }
  if (Array.isArray(value)) {
    const items = schema['items'];
    if (items && typeof items === 'object') {
      value.forEach((v, i) => errors.push(...checkRules(items as SchemaNode, v, joinPath(path, i), skip)));
    }
  } else if (value !== null && typeof value === 'object') {
    const props = (schema['properties'] ?? {}) as Record<string, SchemaNode>;
    const ap = schema['additionalProperties'];
    for (const [k, v] of Object.entries(value)) {
      const s = props[k] ?? (ap && typeof ap === 'object' ? (ap as SchemaNode) : undefined);
      if (s) errors.push(...checkRules(s, v, joinPath(path, k), skip));
    }
  }
  return errors;
}

/**
 * `x-kubernetes-list-type: set` (unique items) and `map` (unique keys): the
 * apiserver enforces these natively; standalone mode does it here.
 */
export function checkListTypes(schema: SchemaNode, value: unknown, path = '$'): AdmissionError[] {
  if (value === undefined || !anyBelow(schema, 'x-kubernetes-list-type')) return [];
  const errors: AdmissionError[] = [];
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    const keys = (schema['x-kubernetes-list-map-keys'] ?? []) as string[];
    if (listType === 'set' || listType === 'map') {
      const seen = new Set<string>();
      value.forEach((v, i) => {
        const id =
          listType === 'set'
            ? JSON.stringify(v)
            : JSON.stringify(keys.map((k) => (v as Record<string, unknown> | null)?.[k]));
        if (seen.has(id)) {
          errors.push({
            path: joinPath(path, i),
            reason: 'DuplicateValue',
            message:
              listType === 'set'
                ? `duplicate value ${JSON.stringify(v)}`
                : `duplicate entry for ${keys.map((k) => `${k}=${JSON.stringify((v as Record<string, unknown>)[k])}`).join(', ')}`,
          });
        }
        seen.add(id);
      });
    }
    const items = schema['items'];
    if (items && typeof items === 'object') {
      value.forEach((v, i) => errors.push(...checkListTypes(items as SchemaNode, v, joinPath(path, i))));
    }
  } else if (value !== null && typeof value === 'object') {
    const props = (schema['properties'] ?? {}) as Record<string, SchemaNode>;
    for (const [k, v] of Object.entries(value)) {
      const s = props[k];
      if (s) errors.push(...checkListTypes(s, v, joinPath(path, k)));
    }
  }
  return errors;
}
