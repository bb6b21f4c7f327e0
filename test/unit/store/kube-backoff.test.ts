import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Backoff } from '../../../src/store/kube-backoff.ts';

describe('Backoff', () => {
  it('doubles from 200 ms up to the 30 s cap (upper edge of the jitter)', () => {
    const b = new Backoff({ random: () => 0.999999 });
    const delays = Array.from({ length: 12 }, () => b.next());
    assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000, 30000]);
  });

  it('never waits less than half a step (lower edge of the jitter)', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    assert.deepEqual(Array.from({ length: 6 }, () => b.next()), [50, 100, 200, 400, 500, 500]);
  });

  it('spreads delays with jitter', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) seen.add(new Backoff().next());
    assert.ok(seen.size > 5, `20 first delays took only ${seen.size} values`);
    for (const d of seen) assert.ok(d >= 100 && d <= 200, `first delay ${d}`);
  });

  it('starts over after an attempt that stayed healthy, not after a short one', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 10_000, healthyMs: 5000, random: () => 0.999999 });
    b.next();
    b.next();
    assert.equal(b.next(4999), 400);
    assert.equal(b.failures, 3);
    assert.equal(b.next(5000), 100);
    assert.equal(b.failures, 1);
  });

  it('does not overflow after many failures', () => {
    const b = new Backoff({ random: () => 0.999999 });
    for (let i = 0; i < 2000; i++) b.next();
    assert.equal(b.next(), 30_000);
  });
});
