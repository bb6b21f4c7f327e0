import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { keptMetadata, LAST_APPLIED, storedCustomObject } from '../../../src/store/kube-convert.ts';
import type { RawMeta } from '../../../src/store/kube-list-watch.ts';

const full: RawMeta = { name: 'u1', namespace: 'team', uid: 'a-b-c', generation: 3, resourceVersion: '77', creationTimestamp: '2026-01-01T00:00:00Z' };

describe('keptMetadata', () => {
  it('keeps identity and versions exactly, in one order, whichever way the object is built', () => {
    // The usual object (all four server fields, nothing else) and every variation of it give the same fields in the same order.
    const cases: [RawMeta, Record<string, unknown>][] = [
      [full, { ...full }],
      [{ ...full, managedFields: [{ manager: 'kubectl' }], selfLink: 'x' }, { ...full }],
      [{ ...full, labels: {} }, { ...full }],
      [{ ...full, annotations: { [LAST_APPLIED]: '{"secret":"copy"}' } }, { ...full }],
      [{ ...full, labels: { app: 'a' } }, { ...full, labels: { app: 'a' } }],
      [{ ...full, annotations: { [LAST_APPLIED]: '{}', note: 'n' } }, { ...full, annotations: { note: 'n' } }],
      [{ ...full, labels: { bad: 1 as unknown as string } }, { ...full }],
      [{ name: 'u1', namespace: 'team', uid: 'a-b-c', resourceVersion: '77' }, { name: 'u1', namespace: 'team', uid: 'a-b-c', resourceVersion: '77' }],
      [{ ...full, generation: '3' as unknown as number }, { name: 'u1', namespace: 'team', uid: 'a-b-c', resourceVersion: '77', creationTimestamp: full.creationTimestamp }],
      [{ name: 'c', uid: 'u', generation: 1, resourceVersion: '1', creationTimestamp: 't' }, { name: 'c', namespace: '', uid: 'u', generation: 1, resourceVersion: '1', creationTimestamp: 't' }],
    ];
    for (const [raw, want] of cases) {
      const got = keptMetadata(raw);
      assert.deepEqual(got, want);
      assert.deepEqual(Object.keys(got), Object.keys(want), JSON.stringify(raw));
    }
  });

  it('builds a stored custom object with or without a spec', () => {
    assert.deepEqual(storedCustomObject('SsoConnector', 'sso.operator.dev/v1alpha1', full, {}), { apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', metadata: { ...full } });
    const binding = storedCustomObject('UserBinding', 'sso.operator.dev/v1alpha1', full, { spec: { user: 'a@x.io', connectors: ['c1'], groups: ['g'] } });
    assert.deepEqual(binding.spec, { user: 'a@x.io', connectors: ['c1'], groups: ['g'] });
    assert.ok(!('spec' in storedCustomObject('UserBinding', 'sso.operator.dev/v1alpha1', full, {})));
  });
});
