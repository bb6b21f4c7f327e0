// announcingRequests: a new access request is announced once (cluster mode
// records an AccessRequested Event on the connector); one that existed, one
// that could not be recorded, and an announcer that throws change nothing
// about the answer the user gets.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { announcingRequests, requestBinding, type AccessRequestStore, type RequestBinding } from '../../../src/access/requests.ts';

function storeAnswering(answer: 'created' | 'exists' | Error): AccessRequestStore & { calls: number } {
  const s = {
    calls: 0,
    async create(): Promise<'created' | 'exists'> {
      s.calls++;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    async has(): Promise<boolean> {
      return true;
    },
  };
  return s;
}

const binding = requestBinding('team-a', 'wiki', 'bob@example.com', new Date('2026-12-06T20:00:00Z'));

describe('announcingRequests', () => {
  it('announces a request that was created, with the binding that asks', async () => {
    const heard: RequestBinding[] = [];
    const store = announcingRequests(storeAnswering('created'), (b) => heard.push(b));
    assert.equal(await store.create(binding), 'created');
    assert.deepEqual(heard.map((b) => [b.metadata.namespace, b.spec.connectors[0], b.spec.user, b.metadata.name]), [['team-a', 'wiki', 'bob@example.com', binding.metadata.name]]);
    assert.equal(await store.has?.('team-a', binding.metadata.name), true, 'the inner store answers has()');
  });

  it('does not announce a request that existed already, nor one that could not be recorded', async () => {
    const heard: RequestBinding[] = [];
    assert.equal(await announcingRequests(storeAnswering('exists'), (b) => heard.push(b)).create(binding), 'exists');
    await assert.rejects(announcingRequests(storeAnswering(new Error('apiserver down')), (b) => heard.push(b)).create(binding), /apiserver down/);
    assert.equal(heard.length, 0);
  });

  it('keeps the request recorded when the announcer throws', async () => {
    const inner = storeAnswering('created');
    const store = announcingRequests(inner, () => {
      throw new Error('event recorder broken');
    });
    assert.equal(await store.create(binding), 'created');
    assert.equal(inner.calls, 1);
  });
});
