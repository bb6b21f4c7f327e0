import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
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

  it('finds a binding exactly when userMatchKey says the users are the same', () => {
    // The index keys users without userMatchKey's prefixes; this is the equality it must keep.
    const users = ['Alice@Example.com', 'alice@example.com', 'ALICE@EXAMPLE.COM', 'Alice', 'alice', 'e:alice@example.com', 'x:Alice', 'a@b@c', 'A@B@C', 'x y@z', 'X Y@z', 'bob@x.io', 'Bob@x.io ', '\u212Aate@x.io', 'kate@x.io', ''];
    const idx = new BindingIndex(users.map((u, i) => entry(u, { name: `b${i}` })));
    let pairs = 0;
    for (const q of users) {
      const found = new Set(idx.lookup('default/a', q).bindings);
      users.forEach((u, i) => {
        pairs++;
        assert.equal(found.has(`default/b${i}`), userMatchKey(u) === userMatchKey(q), `${JSON.stringify(q)} against ${JSON.stringify(u)}`);
      });
    }
    assert.equal(pairs, users.length ** 2);
  });

  it('names the bindings that list a connector, whatever their phase, and none once they stop', () => {
    const idx = new BindingIndex([
      entry('a@x.io', { name: 'b1', connectors: ['default/a', 'default/b'] }),
      entry('b@x.io', { name: 'b2', connectors: ['default/b'], phase: 'Denied' }),
      entry('c@x.io', { name: 'b3', namespace: 'other', connectors: ['default/b', 'default/b'] }),
    ]);
    assert.deepEqual(idx.bindingsOf('default/a'), ['default/b1']);
    assert.deepEqual(idx.bindingsOf('default/b').sort(), ['default/b1', 'default/b2', 'other/b3']);
    assert.deepEqual(idx.bindingsOf('default/c'), []);
    idx.upsert(entry('a@x.io', { name: 'b1', connectors: ['default/b'] }));
    assert.deepEqual(idx.bindingsOf('default/a'), []);
    idx.remove('other', 'b3');
    idx.remove('default', 'b2');
    assert.deepEqual(idx.bindingsOf('default/b'), ['default/b1']);
    assert.equal(idx.size, 1);
    assert.equal(idx.get('other', 'b3'), undefined);
  });

  it('counts bindings per phase and connector as they come, change phase and go (the pending-requests gauge)', () => {
    const idx = new BindingIndex([entry('a@x.io', { phase: 'PendingApproval', connectors: ['default/a', 'default/b', 'default/a'] }), entry('b@x.io', { phase: 'PendingApproval' })]);
    const pending = () => Object.fromEntries(idx.countByPhase('PendingApproval'));
    assert.deepEqual(pending(), { 'default/a': 2, 'default/b': 1 }, 'a connector listed twice counts once');
    idx.upsert(entry('b@x.io', { phase: 'Active' }));
    assert.deepEqual(pending(), { 'default/a': 1, 'default/b': 1 });
    assert.deepEqual(Object.fromEntries(idx.countByPhase('Active')), { 'default/a': 1 });
    idx.remove('default', 'b-a@x.io');
    assert.deepEqual(pending(), {});
    idx.countByPhase('Active').set('default/z', 9);
    assert.deepEqual(Object.fromEntries(idx.countByPhase('Active')), { 'default/a': 1 }, 'a copy is handed out');
    idx.replaceAll([entry('c@x.io', { phase: 'PendingApproval' })]);
    assert.deepEqual(pending(), { 'default/a': 1 });
    assert.deepEqual(Object.fromEntries(idx.countByPhase('Active')), {});
  });

  it('waits while loading: whenComplete resolves once complete, or false after its timeout; the version moves on completion', async () => {
    const idx = new BindingIndex();
    assert.equal(idx.complete, true);
    idx.loading();
    assert.equal(idx.complete, false);
    assert.equal(await idx.whenComplete(10), false);
    const waiting = idx.whenComplete(5000);
    const v = idx.version;
    idx.markComplete();
    assert.equal(await waiting, true);
    assert.ok(idx.version > v);
  });

  it('holds one binding or several per user and connector, and goes back and forth between them', () => {
    const idx = new BindingIndex([entry('amy@x.io', { name: 'one', groups: ['g1'] })]);
    idx.upsert(entry('amy@x.io', { name: 'two', groups: ['g2'] }));
    idx.upsert(entry('amy@x.io', { name: 'three', groups: ['g3'], phase: 'Denied' }));
    assert.deepEqual(idx.lookup('default/a', 'amy@x.io').groups, ['g1', 'g2']);
    assert.deepEqual(idx.lookup('default/a', 'amy@x.io').bindings.sort(), ['default/one', 'default/three', 'default/two']);
    idx.remove('default', 'one');
    idx.remove('default', 'three');
    assert.deepEqual(idx.lookup('default/a', 'amy@x.io'), { active: true, groups: ['g2'], bindings: ['default/two'], phases: ['Active'] });
    assert.deepEqual(idx.bindingsOf('default/a'), ['default/two']);
    idx.upsert(entry('amy@x.io', { name: 'one', groups: ['g1'] }));
    assert.deepEqual(idx.lookup('default/a', 'amy@x.io').groups, ['g1', 'g2']);
    idx.remove('default', 'two');
    idx.remove('default', 'one');
    assert.deepEqual(idx.lookup('default/a', 'amy@x.io'), { active: false, groups: [], bindings: [], phases: [] });
    assert.deepEqual(idx.bindingsOf('default/a'), []);
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
  it('swaps whole connector snapshots: one taken before a change does not see it', () => {
    const r = new Registry();
    const before = r.current();
    r.setConnector('default/a', { key: 'default/a', namespace: 'default', name: 'a', enabled: true, ready: false, stage: 'Production', protocol: 'SAML2', sessionTtlSeconds: 0, passAccessToken: false, admins: [], loginURL: 'x', metadataURL: 'y' });
    assert.equal(before.connectors.has('default/a'), false);
    assert.equal(r.current().connectors.get('default/a')?.name, 'a');
    assert.ok(r.current().version > before.version);
    assert.ok(Object.isFrozen(r.current()));
    assert.ok(Object.isFrozen(r.current().connectors.get('default/a')));
  });

  it('keeps one live binding index: a deny reaches a snapshot taken before it', () => {
    const r = new Registry();
    r.setBindings([entry('a@x.io')]);
    const before = r.current();
    assert.equal(before.bindings.lookup('default/a', 'a@x.io').active, true);
    r.current().bindings.upsert(entry('a@x.io', { phase: 'Denied' }));
    assert.equal(before.bindings.lookup('default/a', 'a@x.io').active, false);
  });
});

describe('BindingIndex changes one binding at a time', () => {
  it('replaces a binding in place: its old user, connectors and groups no longer match', () => {
    const idx = new BindingIndex([entry('a@x.io', { name: 'b', connectors: ['default/a', 'default/b'] })]);
    idx.upsert(entry('z@x.io', { name: 'b', connectors: ['default/b'], groups: ['g2'] }));
    assert.equal(idx.size, 1);
    assert.equal(idx.lookup('default/a', 'a@x.io').active, false);
    assert.equal(idx.lookup('default/b', 'a@x.io').active, false);
    assert.equal(idx.lookup('default/a', 'z@x.io').active, false);
    assert.deepEqual(idx.lookup('default/b', 'z@x.io'), { active: true, groups: ['g2'], bindings: ['default/b'], phases: ['Active'] });
    assert.deepEqual(idx.bindingsOf('default/a'), []);
    assert.deepEqual(idx.bindingsOf('default/b'), ['default/b']);
  });

  it('removes one binding and leaves the others of the same user', () => {
    const idx = new BindingIndex([entry('c@x.io', { name: 'x', groups: ['gx'] }), entry('c@x.io', { name: 'y', groups: ['gy'] })]);
    idx.remove('default', 'x');
    assert.deepEqual(idx.lookup('default/a', 'c@x.io'), { active: true, groups: ['gy'], bindings: ['default/y'], phases: ['Active'] });
    idx.remove('default', 'y');
    idx.remove('default', 'y');
    assert.deepEqual(idx.lookup('default/a', 'c@x.io'), { active: false, groups: [], bindings: [], phases: [] });
    assert.equal(idx.size, 0);
  });

  it('denies one of 100,000 bindings of one connector without touching the others', () => {
    const idx = new BindingIndex();
    for (let i = 0; i < 100_000; i++) idx.upsert(entry(`u${i}@x.io`, { name: `b${i}` }));
    idx.upsert(entry('u5@x.io', { name: 'b5', phase: 'Denied' }));
    assert.equal(idx.lookup('default/a', 'u5@x.io').active, false);
    assert.equal(idx.lookup('default/a', 'u6@x.io').active, true);
    assert.equal(idx.bindingsOf('default/a').length, 100_000);
  });
});

describe('BindingIndex and Unicode', () => {
  it('does not let the Kelvin sign (U+212A) stand for k', () => {
    const idx = new BindingIndex([entry('kate@example.com')]);
    assert.equal(idx.lookup('default/a', '\u212Aate@example.com').active, false);
    assert.equal(idx.lookup('default/a', 'KATE@example.com').active, true);
  });
});
