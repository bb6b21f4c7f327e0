import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { admit, collectRules, evaluateRule, renderCrds, SsoConnector, UserBinding } from '../../../src/api/index.ts';
import { compileRule, checkRules, type SchemaNode } from '../../../src/api/cel.ts';
import { RULE_CASES, validConnector } from './rule-cases.ts';

const connectorRules = collectRules(SsoConnector as unknown as SchemaNode);

function rulesAt(path: string) {
  return connectorRules.filter((r) => r.path === path);
}

test('every rule compiles with @bufbuild/cel and carries a message', () => {
  assert.ok(connectorRules.length >= 8, `only ${connectorRules.length} rules collected`);
  for (const r of [...connectorRules, ...collectRules(UserBinding as unknown as SchemaNode)]) {
    assert.doesNotThrow(() => compileRule(r.rule), r.rule);
    assert.ok(r.message.length > 0);
  }
});

test('redirectPath rules, evaluated by the CEL evaluator with self = the string', () => {
  const rules = rulesAt('$.spec.saml.idpInitiated.redirectPath');
  assert.equal(rules.length, 3);
  const passes = (s: string) => rules.every((r) => evaluateRule(r.rule, s) === true);
  for (const ok of ['/', '/app', '/a/b?c=d#e', '/.well-known/x', '/%2F%2Fx']) assert.ok(passes(ok), ok);
  for (const bad of ['https://evil.example/', 'http://x', '//evil.example', '//', 'evil.example', 'javascript:alert(1)', '/\\evil', '/\t/evil', '/a b', ''])
    assert.ok(!passes(bad), JSON.stringify(bad));
});

test('certificate rule, self = the list item', () => {
  const [r] = rulesAt('$.spec.saml.idp.certificates[*]');
  assert.ok(r);
  assert.equal(evaluateRule(r.rule, { pem: 'x' }), true);
  assert.equal(evaluateRule(r.rule, { secretRef: { name: 'a', key: 'b' } }), true);
  assert.equal(evaluateRule(r.rule, { pem: 'x', secretRef: { name: 'a', key: 'b' } }), false);
  assert.equal(evaluateRule(r.rule, {}), false);
});

test('evaluation errors are reported, not treated as success', () => {
  const errs = checkRules({ type: 'string', 'x-kubernetes-validations': [{ rule: 'self.nope()', message: 'm' }] }, 'x');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.reason, 'RuleEvaluationError');
});

test('integers reach CEL as int, as on the apiserver', () => {
  assert.equal(evaluateRule('self.n == 3 && type(self.n) == int', { n: 3 }, { type: 'object', properties: { n: { type: 'integer' } } }), true);
});

for (const c of RULE_CASES) {
  test(`rule case: ${c.name}`, () => {
    const m = validConnector();
    c.mutate(m);
    const r = admit(m);
    if (c.rejectAt === undefined) {
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    } else {
      assert.ok(!r.ok, 'expected rejection');
      assert.deepEqual(
        r.errors.map((e) => [e.path, e.reason]),
        [[c.rejectAt, 'RuleViolation']],
      );
    }
  });
}

test('the CRD carries exactly the rules standalone admission enforces', () => {
  const crd = parse(renderCrds().get('sso.operator.dev_ssoconnectors.yaml')!);
  const found: string[] = [];
  const walk = (node: Record<string, any>) => {
    for (const r of node['x-kubernetes-validations'] ?? []) found.push(r.rule);
    for (const child of Object.values(node.properties ?? {})) walk(child as Record<string, any>);
    if (node.items) walk(node.items);
  };
  walk(crd.spec.versions[0].schema.openAPIV3Schema);
  assert.deepEqual(found.sort(), connectorRules.map((r) => r.rule).sort());
});
