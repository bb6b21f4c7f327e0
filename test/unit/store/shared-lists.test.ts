import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { sharedList } from '../../../src/store/shared-lists.ts';
import { storedCustomObject } from '../../../src/store/kube-convert.ts';

describe('sharedList', () => {
  it('gives one frozen copy per content, element by element', () => {
    const a = sharedList(['c1', 'c2']);
    assert.equal(sharedList(['c1', 'c2']), a);
    assert.ok(Object.isFrozen(a));
    assert.notEqual(sharedList(['c2', 'c1']), a, 'order matters');
    assert.notEqual(sharedList(['c1\u0000c2']), sharedList(['c1', 'c2']), 'no two contents share a key');
    assert.deepEqual(sharedList([]), []);
  });

  it('binding specs from the apiserver share their connector and group lists, and keep every field', () => {
    const meta = (name: string) => ({ name, namespace: 'ns', uid: `u-${name}`, generation: 1, resourceVersion: '5' });
    const spec = (user: string) => ({ user, connectors: ['a', 'b'], groups: ['staff'], approval: 'Denied', reason: 'left' });
    const one = storedCustomObject('UserBinding', 'sso.operator.dev/v1alpha1', meta('one'), { spec: spec('one@x.io') });
    const two = storedCustomObject('UserBinding', 'sso.operator.dev/v1alpha1', meta('two'), { spec: spec('two@x.io') });
    const s1 = one.spec as ReturnType<typeof spec>;
    const s2 = two.spec as ReturnType<typeof spec>;
    assert.equal(s1.connectors, s2.connectors);
    assert.equal(s1.groups, s2.groups);
    // What sign-in and forward-auth read through the index: user, connectors, groups, approval (and the reason of a denial).
    assert.deepEqual(s1, spec('one@x.io'));
    assert.deepEqual(one.metadata, meta('one'));
  });
});
