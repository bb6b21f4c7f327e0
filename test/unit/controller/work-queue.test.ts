import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from '../../../src/controller/work-queue.ts';

describe('WorkQueue', () => {
  it('deduplicates a key queued several times before it runs', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k));
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    await q.idle();
    assert.deepEqual(seen, ['a', 'b']);
    q.stop();
  });

  it('runs a key again when it was added while being processed, never twice at once', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let q!: WorkQueue;
    q = new WorkQueue(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      if (runs === 1) q.add('a');
      await new Promise((r) => setTimeout(r, 5));
      running--;
    });
    q.add('a');
    await q.idle();
    await new Promise((r) => setTimeout(r, 20));
    await q.idle();
    assert.equal(runs, 2);
    assert.equal(maxRunning, 1);
    q.stop();
  });

  it('retries a failing key with growing delays', async () => {
    const times: number[] = [];
    const errors: unknown[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(performance.now());
        if (times.length < 4) throw new Error('boom');
      },
      { baseDelayMs: 10, onError: (_k, e) => errors.push(e) },
    );
    q.add('a');
    const deadline = Date.now() + 5000;
    while (times.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(times.length, 4);
    assert.equal(errors.length, 3);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps[2]! > gaps[0]!, `backoff grows: ${gaps.map((g) => g.toFixed(1)).join(', ')}`);
    q.stop();
  });

  it('requeues when reconcile asks for it', async () => {
    let runs = 0;
    const q = new WorkQueue(async () => {
      runs++;
      return runs === 1 ? { requeueAfterMs: 15 } : undefined;
    });
    q.add('a');
    const deadline = Date.now() + 3000;
    while (runs < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(runs, 2);
    q.stop();
  });
});
