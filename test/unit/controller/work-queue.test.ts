import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
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
    // Lower bounds only (a busy machine stretches any gap): 10, 20 and 40 ms, less timer rounding.
    gaps.forEach((g, i) => assert.ok(g >= 10 * 2 ** i - 2, `backoff grows: ${gaps.map((x) => x.toFixed(1)).join(', ')}`));
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

describe('WorkQueue lanes', () => {
  it('runs a key of a higher lane before every waiting key of a lower one', async () => {
    const seen: string[] = [];
    let q!: WorkQueue<'trust' | 'normal'>;
    q = new WorkQueue<'trust' | 'normal'>(
      async (k) => {
        seen.push(k);
        // The trust change arrives while the backlog is being worked off.
        if (k === 'n2') q.add('t', 'trust');
      },
      { lanes: ['trust', 'normal'] },
    );
    for (let i = 0; i < 50; i++) q.add(`n${i}`);
    await q.idle();
    assert.deepEqual(seen.slice(0, 4), ['n0', 'n1', 'n2', 't']);
    assert.equal(seen.length, 51);
    q.stop();
  });

  it('lets timers and sockets run while it works off a long backlog of quick keys', async () => {
    let done = 0;
    const q = new WorkQueue(async () => {
      // ~0.05 ms of synchronous work per key: 4,000 keys hold the loop for ~200 ms in all.
      const until = performance.now() + 0.05;
      while (performance.now() < until);
      done++;
    });
    for (let i = 0; i < 4000; i++) q.add(`k${i}`);
    const timerRanAfter = await new Promise<number>((resolve) => setTimeout(() => resolve(done), 1));
    assert.ok(timerRanAfter < 4000, `a 1 ms timer ran only after all ${timerRanAfter} keys`);
    await q.idle();
    assert.equal(done, 4000);
    q.stop();
  });

  it('processes several keys at once with concurrency, never one key twice at once', async () => {
    let running = 0;
    let max = 0;
    const perKey = new Map<string, number>();
    let q!: WorkQueue;
    q = new WorkQueue(
      async (k) => {
        running++;
        max = Math.max(max, running);
        perKey.set(k, (perKey.get(k) ?? 0) + 1);
        assert.equal(running <= 3, true);
        if (k === 'a' && perKey.get('a') === 1) q.add('a');
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      { concurrency: 3 },
    );
    for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) q.add(k);
    await q.idle();
    assert.equal(max, 3);
    assert.equal(perKey.get('a'), 2);
    q.stop();
  });

  it('reports depth and the age of the oldest waiting key per lane', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue<'trust' | 'normal'>(async () => gate, { lanes: ['trust', 'normal'] });
    q.add('running');
    await new Promise((r) => setImmediate(r));
    q.add('a');
    q.add('b');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(q.depth('normal'), 2);
    assert.equal(q.depth('trust'), 0);
    assert.ok(q.oldestAgeSeconds('normal') >= 0.02, `age ${q.oldestAgeSeconds('normal')}`);
    release();
    await q.idle();
    assert.equal(q.depth('normal'), 0);
    assert.equal(q.oldestAgeSeconds('normal'), 0);
    q.stop();
  });

  it('counts a key waiting for its retry in depth, and a scheduled requeue not', async () => {
    let failures = 1;
    const q = new WorkQueue<'trust' | 'normal'>(
      async (k) => {
        if (k === 'later') return { requeueAfterMs: 60_000 };
        if (failures-- > 0) throw new Error('refused');
      },
      { lanes: ['trust', 'normal'], baseDelayMs: 40 },
    );
    q.add('failing');
    q.add('later');
    await q.idle();
    // Nothing runs now, but the failed key is still work to do: a depth of 0 would say "all done".
    assert.equal(q.depth('normal'), 1);
    assert.equal(q.depth('trust'), 0);
    await new Promise((r) => setTimeout(r, 80));
    await q.idle();
    assert.equal(q.depth('normal'), 0, 'retried and done');
    q.stop();
  });
});

describe('WorkQueue: a lane with a worker of its own', () => {
  it('runs a key of the reserved lane while the other worker waits on a slow key', async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const q = new WorkQueue<'trust' | 'normal'>(
      async (k) => {
        seen.push(`start ${k}`);
        if (k === 'slow') await slow;
        seen.push(`end ${k}`);
      },
      { lanes: ['trust', 'normal'], reservedFor: 'trust' },
    );
    q.add('slow');
    q.add('other');
    await new Promise((r) => setTimeout(r, 10));
    q.add('t', 'trust');
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ['start slow', 'start t', 'end t'], 'the trust key ran while the slow one waited');
    release();
    await q.idle();
    assert.deepEqual(seen.slice(3), ['end slow', 'start other', 'end other']);
    q.stop();
  });

  it('puts a scheduled requeue in the lane reconcile names, and retries a failed key in its own lane', async () => {
    const runs: string[] = [];
    let fail = true;
    let q!: WorkQueue<'trust' | 'normal'>;
    q = new WorkQueue<'trust' | 'normal'>(
      async (k) => {
        runs.push(k);
        if (k.startsWith('n')) await new Promise((r) => setTimeout(r, 1));
        if (k === 'expiring' && runs.filter((r) => r === k).length === 1) return { requeueAfterMs: 5, lane: 'trust' };
        if (k === 'failing' && fail) {
          fail = false;
          throw new Error('boom');
        }
        return undefined;
      },
      { lanes: ['trust', 'normal'], baseDelayMs: 5 },
    );
    q.add('expiring');
    q.add('failing', 'trust');
    // Both wake up while a long backlog (1 ms a key) waits in the normal lane: they go first.
    for (let i = 0; i < 200; i++) q.add(`n${i}`);
    await new Promise((r) => setTimeout(r, 30));
    await q.idle();
    assert.equal(runs.filter((r) => r === 'expiring').length, 2);
    assert.equal(runs.filter((r) => r === 'failing').length, 2);
    const at = (k: string) => runs.lastIndexOf(k);
    assert.ok(at('expiring') < at('n150'), `requeued expiring at ${at('expiring')}`);
    assert.ok(at('failing') < at('n150'), `retried failing at ${at('failing')}`);
    q.stop();
  });
});
