// KubeObjectTable keeps the status each object carries as text, one copy of
// each distinct text (100,000 binding statuses share a few thousand texts).

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { KubeObjectTable } from '../../../src/store/kube-object-table.ts';
import { silentLogger } from '../../../src/store/logger.ts';
import type { StoredObject } from '../../../src/store/types.ts';

const binding = (name: string): StoredObject => ({
  apiVersion: 'sso.operator.dev/v1alpha1',
  kind: 'UserBinding',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation: 1, resourceVersion: '1' },
  spec: { user: `${name}@example.com`, connectors: ['c'] },
});
const status = (phase: string) => ({ phase, observedGeneration: 1, conditions: [{ type: 'Ready', status: phase === 'Active' ? 'True' : 'False', reason: phase, message: phase, lastTransitionTime: '2026-01-01T00:00:00Z' }] });

describe('KubeObjectTable statuses', () => {
  it('shares one copy of each status text, counted as objects change, go and come back', () => {
    const table = new KubeObjectTable(silentLogger);
    for (const n of ['a', 'b', 'c']) table.upsert(binding(n), status('Active'));
    assert.equal(table.distinctStatuses, 1);
    assert.deepEqual(table.status('UserBinding', 'ns', 'b'), status('Active'));
    assert.ok(table.touch('UserBinding', 'ns', 'b', '2', status('Denied')));
    assert.equal(table.distinctStatuses, 2);
    assert.deepEqual(table.status('UserBinding', 'ns', 'b'), status('Denied'));
    assert.deepEqual(table.status('UserBinding', 'ns', 'a'), status('Active'), 'the others keep theirs');
    table.delete('UserBinding', 'ns', 'b');
    assert.equal(table.distinctStatuses, 1, 'the last holder of a text gone: the text goes');
    assert.equal(table.status('UserBinding', 'ns', 'b'), undefined);
    table.upsert(binding('a'), undefined);
    table.upsert(binding('c'), undefined);
    assert.equal(table.distinctStatuses, 0);
    assert.equal(table.status('UserBinding', 'ns', 'a'), undefined);
    table.upsert(binding('a'), status('Active'));
    assert.equal(table.distinctStatuses, 1);
    // The same text again changes nothing.
    table.touch('UserBinding', 'ns', 'a', '3', status('Active'));
    assert.equal(table.distinctStatuses, 1);
    table.clear();
    assert.equal(table.distinctStatuses, 0);
  });
});
