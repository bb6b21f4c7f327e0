import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../../../src/controller/rate-limiter.ts';

describe('RateLimiter', () => {
  it('grants at most perSecond starts in any one-second window, even after a pause', async () => {
    let now = 0;
    const limiter = new RateLimiter({
      perSecond: 5,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    const starts: number[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await limiter.acquire();
        starts.push(now);
        now += 7; // each request takes a little while
      }
    };
    await take(23);
    now += 5000; // idle: a token bucket would now allow a double burst
    await take(12);
    for (const t of starts) {
      const inWindow = starts.filter((s) => s >= t && s < t + 1000).length;
      assert.ok(inWindow <= 5, `${inWindow} starts in the second from ${t}`);
    }
    // And it is not slower than it must be: 23 starts need a bit over 4 windows.
    assert.ok(starts[22]! <= 4 * 1000 + 23 * 7, `23rd start at ${starts[22]}`);
  });

  it('serves concurrent callers one at a time, in order', async () => {
    const limiter = new RateLimiter({ perSecond: 1000 });
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((i) => limiter.acquire().then(() => order.push(i))));
    assert.deepEqual(order, [1, 2, 3, 4]);
  });

  it('refuses a rate below one', () => {
    assert.throws(() => new RateLimiter({ perSecond: 0 }), RangeError);
    assert.throws(() => new RateLimiter({ perSecond: Number.NaN }), RangeError);
  });
});
