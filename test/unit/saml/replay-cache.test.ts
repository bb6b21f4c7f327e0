import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';

describe('MemoryReplayCache', () => {
  it('remembers an id until it expires', async () => {
    let now = 1_000_000_000_000;
    const cache = new MemoryReplayCache({ now: () => now });
    const exp = now / 1000 + 60;
    assert.equal(await cache.remember('a', exp), true);
    assert.equal(await cache.remember('a', exp), false);
    assert.equal(await cache.remember('b', exp), true);
    now += 61_000;
    assert.equal(await cache.remember('a', now / 1000 + 60), true, 'expired ids may be used again');
  });

  it('sweeps expired entries lazily, never unexpired ones, and has no size cap', async () => {
    let now = 1_000_000_000_000;
    const cache = new MemoryReplayCache({ now: () => now, sweepIntervalSeconds: 10 });
    for (let i = 0; i < 10_000; i++) await cache.remember(`short${i}`, now / 1000 + 5);
    await cache.remember('long', now / 1000 + 3600);
    assert.equal(cache.size, 10_001);
    now += 11_000;
    await cache.remember('trigger', now / 1000 + 5);
    assert.equal(cache.size, 2);
    assert.equal(await cache.remember('long', now / 1000 + 3600), false);
  });
});
