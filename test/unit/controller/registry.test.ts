import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BindingIndex, Registry, userMatchKey, type BindingEntry } from '../../../src/controller/registry.ts';

function entry(user: string, extra: Partial<BindingEntry> = {}): BindingEntry {
  return { namespace: 'default', name: `b-${user}`, user, connectors: ['default/a'], groups: ['g1'], phase: 'Active', ...extra };
}

describe('BindingIndex', () => {
  it('matches an email case-insensitively', () => {
    const idx = new BindingIndex([entry('Alice@Example.COM')]);
    assert.equal(idx.lookup('default/a', 'alice@example.com').active, true);
    assert.equal(idx.lookup('default/a', 'ALICE@EXAMPLE.com').active, true);
  });

  it('matches anything else exactly and never trims', () => {
    const idx = new BindingIndex([entry('Alice')]);
    assert.equal(idx.lookup('default/a', 'Alice').active, true);
    assert.equal(idx.lookup('default/a', 'alice').active, false);
    assert.equal(idx.lookup('default/a', ' Alice').active, false);
    assert.equal(idx.lookup('default/a', 'Alice ').active, false);
    assert.notEqual(userMatchKey('alice@x.io '), userMatchKey('alice@x.io'));
  });

  it('grants only the listed connectors', () => {
    const idx = new BindingIndex([entry('bob@x.io')]);
    assert.equal(idx.lookup('default/b', 'bob@x.io').active, false);
    assert.equal(idx.lookup('other/a', 'bob@x.io').active, false);
  });

  it('ignores bindings that are not Active and unions the groups of Active ones', () => {
    const idx = new BindingIndex([
      entry('c@x.io', { name: 'p', phase: 'PendingApproval', groups: ['pending'] }),
      entry('c@x.io', { name: 'd', phase: 'Denied', groups: ['denied'] }),
    ]);
    assert.equal(idx.lookup('default/a', 'c@x.io').active, false);
    const two = new BindingIndex([entry('c@x.io', { name: 'x', groups: ['b', 'a'] }), entry('c@x.io', { name: 'y', groups: ['a', 'c'] })]);
    assert.deepEqual(two.lookup('default/a', 'c@x.io').groups, ['a', 'b', 'c']);
  });
});

describe('Registry', () => {
  it('swaps whole snapshots: one taken before a change does not see it', () => {
    const r = new Registry();
    const before = r.current();
    r.setBindings([entry('a@x.io')]);
    assert.equal(before.bindings.lookup('default/a', 'a@x.io').active, false);
    assert.equal(r.current().bindings.lookup('default/a', 'a@x.io').active, true);
    assert.ok(r.current().version > before.version);
    assert.ok(Object.isFrozen(r.current()));
  });
});

describe('BindingIndex and Unicode', () => {
  it('does not let the Kelvin sign (U+212A) stand for k', () => {
    const idx = new BindingIndex([entry('kate@example.com')]);
    assert.equal(idx.lookup('default/a', '\u212Aate@example.com').active, false);
    assert.equal(idx.lookup('default/a', 'KATE@example.com').active, true);
  });
});
