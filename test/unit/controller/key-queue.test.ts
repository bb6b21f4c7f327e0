import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { KeyQueue } from '../../../src/controller/key-queue.ts';

function drain<L extends string>(q: KeyQueue<L>): string[] {
  const out: string[] = [];
  for (let k = q.shift(); k; k = q.shift()) out.push(`${k.lane}:${k.key}`);
  return out;
}

describe('KeyQueue', () => {
  it('serves the highest lane first, each lane in arrival order, each key once', () => {
    const q = new KeyQueue(['trust', 'normal'] as const);
    q.add('a', 'normal');
    q.add('b', 'normal');
    q.add('a', 'normal');
    q.add('x', 'trust');
    q.add('c', 'normal');
    q.add('y', 'trust');
    assert.equal(q.size, 5);
    assert.deepEqual(drain(q), ['trust:x', 'trust:y', 'normal:a', 'normal:b', 'normal:c']);
    assert.equal(q.size, 0);
  });

  it('moves a waiting key up to a higher lane, never down, and keeps its first queue time', () => {
    let now = 0;
    const q = new KeyQueue(['trust', 'normal'] as const, () => now);
    q.add('a', 'normal');
    now = 5000;
    q.add('b', 'normal');
    assert.equal(q.add('a', 'trust'), true);
    assert.equal(q.add('a', 'normal'), false, 'not moved down');
    assert.equal(q.depth('trust'), 1);
    assert.equal(q.depth('normal'), 1);
    now = 6000;
    assert.equal(q.oldestAgeSeconds('trust'), 6, 'waiting since it was first queued');
    assert.equal(q.oldestAgeSeconds('normal'), 1);
    assert.deepEqual(drain(q), ['trust:a', 'normal:b']);
    assert.equal(q.oldestAgeSeconds('normal'), 0);
  });

  it('a deleted key leaves no trace; queued again it goes to the back', () => {
    const q = new KeyQueue(['only'] as const);
    for (const k of ['a', 'b', 'c']) q.add(k, 'only');
    assert.equal(q.delete('a'), true);
    assert.equal(q.delete('a'), false);
    q.add('a', 'only');
    assert.equal(q.depth('only'), 3);
    assert.deepEqual(drain(q), ['only:b', 'only:c', 'only:a']);
  });

  it('handles 200,000 keys with promotions in linear time (no Array#shift per key)', () => {
    const q = new KeyQueue(['trust', 'normal'] as const);
    for (let i = 0; i < 200_000; i++) q.add(`k${i}`, 'normal');
    for (let i = 0; i < 200_000; i += 1000) q.add(`k${i}`, 'trust');
    let n = 0;
    let trust = 0;
    for (let k = q.shift(); k; k = q.shift()) {
      n++;
      if (k.lane === 'trust') trust++;
      else assert.equal(trust, 200, 'every promoted key came first');
    }
    assert.equal(n, 200_000);
  });

  it('agrees with a plain model through compactions, promotions, deletions and re-adds', () => {
    // A simple reference: per lane an array of live keys in order, and each key's first queue time.
    let now = 0;
    const lanes = ['trust', 'reconcile', 'status'] as const;
    const q = new KeyQueue(lanes, () => now);
    const model = new Map<string, { lane: number; since: number }>();
    const order: string[][] = [[], [], []];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let step = 0; step < 60_000; step++) {
      now++;
      const op = rand(10);
      const key = `k${rand(3000)}`;
      if (op < 5) {
        const lane = rand(3);
        const held = model.get(key);
        const changed = q.add(key, lanes[lane]!);
        if (held === undefined) {
          model.set(key, { lane, since: now });
          order[lane]!.push(key);
          assert.equal(changed, true);
        } else if (lane < held.lane) {
          order[held.lane] = order[held.lane]!.filter((k) => k !== key);
          order[lane]!.push(key);
          held.lane = lane;
          assert.equal(changed, true);
        } else {
          assert.equal(changed, false);
        }
      } else if (op < 6) {
        const held = model.get(key);
        assert.equal(q.delete(key), held !== undefined);
        if (held) {
          model.delete(key);
          order[held.lane] = order[held.lane]!.filter((k) => k !== key);
        }
      } else {
        const got = q.shift();
        const lane = order.findIndex((l) => l.length > 0);
        if (lane < 0) {
          assert.equal(got, undefined);
          continue;
        }
        const key = order[lane]!.shift()!;
        assert.deepEqual(got, { key, lane: lanes[lane], since: model.get(key)!.since });
        model.delete(key);
      }
      if (step % 97 === 0) {
        assert.equal(q.size, model.size);
        lanes.forEach((l, i) => assert.equal(q.depth(l), order[i]!.length));
      }
    }
  });
});
