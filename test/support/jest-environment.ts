// Jest's Node environment, with structuredClone and fetch's Response.json()
// giving objects of the test's own realm.
//
// Jest runs each test file in its own V8 context. Globals that Node implements
// natively still create objects of the outer context: structuredClone returns
// objects whose prototype is the *outer* Object.prototype or Array.prototype.
// node:util isDeepStrictEqual and node:assert's deepStrictEqual compare
// prototypes, so they call such a copy unequal to an equal literal. The source
// uses structuredClone and isDeepStrictEqual together (the stores copy every
// object they keep, the status writer compares statuses), so under plain Jest
// it would not behave as it does in production: an unchanged status would be
// written again, an identical manifest re-admitted. Here the real
// structuredClone runs first (what it refuses, this refuses, with its error),
// and its copy is then rebuilt with the test realm's Object, Array, Date, Map,
// Set and RegExp. Binary data (Buffer, typed arrays) and errors are left as the
// real structuredClone made them: Jest already shares Buffer with the outer
// context. fetch is Node's too (undici): its Response.json() is adopted the
// same way, per response, so a test compares what an endpoint answered with a
// literal, as it would outside Jest. Nothing outside the test's context is
// changed.

import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment } from 'jest-environment-node';
import { runInContext } from 'node:vm';

/** Runs inside the test's context, so every object it makes belongs to that realm. */
const ADOPT = `(function adopt(value, seen) {
  if (value === null || typeof value !== 'object') return value;
  seen = seen || new Map();
  if (seen.has(value)) return seen.get(value);
  const tag = Object.prototype.toString.call(value);
  let out;
  if (Array.isArray(value)) out = new Array(value.length);
  else if (tag === '[object Object]') out = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
  else if (tag === '[object Date]') return seen.set(value, new Date(value.getTime())).get(value);
  else if (tag === '[object RegExp]') return seen.set(value, new RegExp(value.source, value.flags)).get(value);
  else if (tag === '[object Map]') {
    out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(adopt(k, seen), adopt(v, seen));
    return out;
  } else if (tag === '[object Set]') {
    out = new Set();
    seen.set(value, out);
    for (const v of value) out.add(adopt(v, seen));
    return out;
  } else return value;
  seen.set(value, out);
  for (const key of Object.keys(value)) out[key] = adopt(value[key], seen);
  return out;
})`;

export default class TestRealmEnvironment extends TestEnvironment {
  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const outerClone = globalThis.structuredClone;
    const adopt = runInContext(ADOPT, this.getVmContext()!) as (value: unknown) => unknown;
    this.global.structuredClone = ((value: unknown, options?: StructuredSerializeOptions) => adopt(outerClone(value, options))) as typeof structuredClone;
    const outerFetch = globalThis.fetch;
    this.global.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const res = await outerFetch(input, init);
      const json = res.json.bind(res);
      Object.defineProperty(res, 'json', { value: async () => adopt(await json()) });
      return res;
    }) as typeof fetch;
  }
}
