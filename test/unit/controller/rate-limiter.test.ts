import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { RateLimiter } from '../../../src/controller/rate-limiter.ts';

describe('RateLimiter', () => {
  it('lets at most perSecond requests arrive in any one-second window, however long each takes to arrive', async () => {
    let now = 0;
    const limiter = new RateLimiter({
      perSecond: 5,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    // When the server sees each request: somewhere between its start and its end.
    const starts: number[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const release = await limiter.acquire();
        const latency = i % 3 === 0 ? 90 : 3; // some requests are slow on the way
        starts.push(now + latency);
        now += latency + 2;
        release();
      }
    };
    await take(23);
    now += 5000; // idle: a token bucket would now allow a double burst
    await take(12);
    for (const t of starts) {
      const inWindow = starts.filter((s) => s >= t && s < t + 1000).length;
      assert.ok(inWindow <= 5, `${inWindow} starts in the second from ${t}`);
    }
    // And it is not much slower than it must be: 23 requests need 4 windows plus their latency.
    assert.ok(starts[22]! <= 4 * 1000 + 23 * 95, `23rd arrived at ${starts[22]}`);
  });

  it('serves concurrent callers one at a time, in order', async () => {
    const limiter = new RateLimiter({ perSecond: 1000 });
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((i) => limiter.acquire().then((release) => (order.push(i), release()))));
    assert.deepEqual(order, [1, 2, 3, 4]);
  });

  it('holds a slot while its request is in flight', async () => {
    const limiter = new RateLimiter({ perSecond: 2 });
    const a = await limiter.acquire();
    await limiter.acquire();
    let third = false;
    const pending = limiter.acquire().then((r) => ((third = true), r));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(third, false, 'both slots busy');
    a();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(third, false, 'freed, but only a second after its request ended');
    (await pending)();
    assert.equal(third, true);
  });

  it('refuses a rate below one', () => {
    assert.throws(() => new RateLimiter({ perSecond: 0 }), RangeError);
    assert.throws(() => new RateLimiter({ perSecond: Number.NaN }), RangeError);
    assert.throws(() => new RateLimiter({ perSecond: 1001 }), RangeError);
  });
});
