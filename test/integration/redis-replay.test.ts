// RedisReplayCache against a real redis-server (test/support/redis.ts), through
// ioredis, the client production uses. Each RedisReplayCache has its own
// connection: two of them stand for two operator replicas.

import { describe, it } from '@jest/globals';
import { onCleanup } from '../support/cleanup.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RedisReplayCache, ReplayCacheUnavailableError } from '../../src/saml/redis-replay-cache.ts';
import { connected, startRedis, useRedis } from '../support/redis.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const freshID = () => `_${randomBytes(16).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisReplayCache on a real Redis', () => {
  const fixture = useRedis();
  const client = fixture.client;

  it('lets exactly one replica accept an assertion ID', async () => {
    const replicaA = new RedisReplayCache(client(fixture.server().url));
    const replicaB = new RedisReplayCache(client(fixture.server().url));
    const id = freshID();
    const expiresAt = nowSeconds() + 300;
    assert.equal(await replicaA.remember(id, expiresAt), true);
    assert.equal(await replicaB.remember(id, expiresAt), false);
    assert.equal(await replicaA.remember(id, expiresAt), false);
    // Another ID is independent.
    assert.equal(await replicaB.remember(freshID(), expiresAt), true);
  });

  it('accepts one of many simultaneous posts of the same assertion across replicas', async () => {
    const replicas = [new RedisReplayCache(client(fixture.server().url)), new RedisReplayCache(client(fixture.server().url))];
    const id = freshID();
    const expiresAt = nowSeconds() + 300;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => replicas[i % 2]!.remember(id, expiresAt)));
    assert.equal(answers.filter(Boolean).length, 1, `answers: ${answers.join(',')}`);
  });

  it('keys by the SHA-256 of the ID, with the TTL up to the expiry', async () => {
    const redis = client(fixture.server().url);
    const cache = new RedisReplayCache(redis);
    const id = 'x'.repeat(100_000) + '\r\n*1\r\n$4\r\nPING\r\n';
    assert.equal(await cache.remember(id, nowSeconds() + 120), true);
    const key = cache.keyFor(id);
    assert.match(key, /^sso:replay:[0-9a-f]{64}$/);
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 110 && ttl <= 121, `ttl ${ttl}`);
    assert.equal(await redis.exists(`sso:replay:${id}`), 0);
  });

  it('forgets an ID once its assertion expired, and never uses EX 0', async () => {
    const replicaA = new RedisReplayCache(client(fixture.server().url));
    const replicaB = new RedisReplayCache(client(fixture.server().url));
    const id = freshID();
    const started = Date.now();
    assert.equal(await replicaA.remember(id, nowSeconds() + 1), true);
    assert.equal(await replicaB.remember(id, nowSeconds() + 1), false);
    let reaccepted = false;
    while (Date.now() - started < 5000) {
      await sleep(100);
      if (await replicaB.remember(id, nowSeconds() + 60)) {
        reaccepted = true;
        break;
      }
    }
    assert.ok(reaccepted, 'the ID was still remembered 5 s after a 1 s expiry');
    console.log(`[redis-replay] an ID with a 1 s expiry was forgotten after ${Date.now() - started} ms`);
    // Already expired: stored for the minimum 1 s rather than refused by Redis.
    const late = freshID();
    assert.equal(await replicaA.remember(late, nowSeconds() - 30), true);
    assert.equal(await replicaB.remember(late, nowSeconds() - 30), false);
  });

  it('rejects (never answers true or false) when Redis is down', async () => {
    const doomed = await startRedis();
    onCleanup(() => doomed.stop());
    const timeoutMs = 1500;
    // ioredis defaults: commands wait in the offline queue while it reconnects,
    // so only the cache's own timeout ends the wait.
    const queuedClient = client(doomed.url);
    const queued = new RedisReplayCache(queuedClient, { timeoutMs });
    // The options the operator should use: fail at once while disconnected.
    const failFastClient = client(doomed.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const failFast = new RedisReplayCache(failFastClient, { timeoutMs });
    await connected(queuedClient, failFastClient);
    // Both connected and working first.
    assert.equal(await queued.remember(freshID(), nowSeconds() + 60), true);
    assert.equal(await failFast.remember(freshID(), nowSeconds() + 60), true);
    await doomed.stop();

    for (const [name, cache] of [['default ioredis options', queued], ['enableOfflineQueue false', failFast]] as const) {
      const started = Date.now();
      const err = await cache.remember(freshID(), nowSeconds() + 60).then(
        (answer) => assert.fail(`${name}: remember() answered ${answer} with Redis stopped`),
        (e: unknown) => e,
      );
      const took = Date.now() - started;
      assert.ok(err instanceof ReplayCacheUnavailableError, `${name}: ${String(err)}`);
      assert.ok(took < timeoutMs + 500, `${name}: took ${took} ms`);
      console.log(`[redis-replay] ${name}: remember() rejected after ${took} ms (${(err as Error).message})`);
    }
  });
});
