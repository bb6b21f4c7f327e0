// RedisRevocationList against a real redis-server (test/support/redis.ts),
// through ioredis, the client production uses. Each list has its own
// connection: two of them stand for two operator replicas.

import { describe, it } from '@jest/globals';
import { onCleanup } from '../support/cleanup.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { REVOCATION_GRACE_SECONDS, RedisRevocationList, RevocationListUnavailableError } from '../../src/session/revocation.ts';
import { connected, startRedis, useRedis } from '../support/redis.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const freshJti = () => randomBytes(16).toString('base64url');

describe('RedisRevocationList on a real Redis', () => {
  const fixture = useRedis();
  const client = fixture.client;

  it('a logout on one replica revokes the session on the other', async () => {
    const replicaA = new RedisRevocationList(client(fixture.server().url));
    const replicaB = new RedisRevocationList(client(fixture.server().url));
    const jti = freshJti();
    assert.equal(await replicaB.isRevoked(jti), false);
    await replicaA.revoke(jti, nowSeconds() + 3600);
    assert.equal(await replicaB.isRevoked(jti), true);
    assert.equal(await replicaA.isRevoked(jti), true);
    // Another session is independent.
    assert.equal(await replicaB.isRevoked(freshJti()), false);
  });

  it('a single logout by session key on one replica ends earlier sessions on the other, not later ones (one MGET)', async () => {
    const redis = client(fixture.server().url);
    const replicaA = new RedisRevocationList(client(fixture.server().url));
    const replicaB = new RedisRevocationList(redis);
    const T = nowSeconds();
    const key = `saml-session:default/demo\0${freshJti()}`;
    const jti = freshJti();
    assert.equal(await replicaB.isRevoked(jti, { iat: T - 5, keys: [key] }), false);
    await replicaA.revokeIssuedBefore(key, T, T + 600);
    assert.equal(await replicaB.isRevoked(jti, { iat: T - 5, keys: [key] }), true);
    assert.equal(await replicaB.isRevoked(jti, { iat: T + 1, keys: [key] }), false, 'a session issued after the logout');
    assert.equal(await replicaB.isRevoked(jti, { iat: T - 5, keys: ['saml-session:default/demo\0other'] }), false);
    // The jti still counts when keys are given.
    await replicaA.revoke(jti, T + 600);
    assert.equal(await replicaB.isRevoked(jti, { iat: T + 1, keys: [key] }), true);
    const redisKey = replicaB.sessionKeyFor(key);
    assert.match(redisKey, /^sso:revoked:[0-9a-f]{64}$/);
    assert.notEqual(redisKey, replicaB.keyFor(key), 'session keys and jtis never share a Redis key');
    const ttl = await redis.ttl(redisKey);
    assert.ok(ttl > 600 + REVOCATION_GRACE_SECONDS - 10 && ttl <= 600 + REVOCATION_GRACE_SECONDS + 1, `ttl ${ttl}`);
    // A revocation stamped earlier (a replica whose clock runs behind) never lowers the time or the TTL.
    await replicaA.revokeIssuedBefore(key, T - 100, T + 10);
    assert.equal(await redis.get(redisKey), String(T));
    assert.ok((await redis.ttl(redisKey)) > 600, 'TTL kept');
    await replicaA.revokeIssuedBefore(key, T + 5, T + 900);
    assert.equal(await redis.get(redisKey), String(T + 5));
    assert.ok((await redis.ttl(redisKey)) > 900, 'TTL raised');
    // An unreadable value is an unknown answer, never "not revoked".
    await redis.set(redisKey, 'garbage', 'EX', 60);
    await assert.rejects(replicaB.isRevoked(freshJti(), { iat: T, keys: [key] }), RevocationListUnavailableError);
  });

  it('keys by the SHA-256 of the jti, with the TTL ending at exp (plus the grace)', async () => {
    const redis = client(fixture.server().url);
    const list = new RedisRevocationList(redis);
    const jti = freshJti();
    await list.revoke(jti, nowSeconds() + 120);
    const key = list.keyFor(jti);
    assert.match(key, /^sso:revoked:[0-9a-f]{64}$/);
    const ttl = await redis.ttl(key);
    const expected = 120 + REVOCATION_GRACE_SECONDS;
    assert.ok(ttl > expected - 10 && ttl <= expected + 1, `ttl ${ttl}, expected about ${expected}`);
    assert.equal(await redis.exists(`sso:revoked:${jti}`), 0);
  });

  it('forgets the entry once the TTL ends, and sets nothing for an already expired token', async () => {
    const redis = client(fixture.server().url);
    // A clock one grace ahead makes "exp in 1 s" an entry of 1 s, so the test need not wait a minute.
    const list = new RedisRevocationList(redis, { now: () => Date.now() + REVOCATION_GRACE_SECONDS * 1000 });
    const jti = freshJti();
    await list.revoke(jti, nowSeconds() + 1);
    assert.equal(await list.isRevoked(jti), true);
    const started = Date.now();
    while ((await list.isRevoked(jti)) && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await list.isRevoked(jti), false, 'still revoked 5 s after a TTL of at most 2 s');
    console.log(`[redis-revocation] an entry with a TTL of at most 2 s was gone after ${Date.now() - started} ms`);
    const late = freshJti();
    await list.revoke(late, nowSeconds() - 2 * REVOCATION_GRACE_SECONDS);
    assert.equal(await redis.exists(list.keyFor(late)), 0);
  });

  it('isRevoked rejects (never answers false) when Redis is stopped', async () => {
    const doomed = await startRedis();
    onCleanup(() => doomed.stop());
    const timeoutMs = 1500;
    // ioredis defaults: the command waits in the offline queue; only the list's timeout ends the wait.
    const queuedClient = client(doomed.url);
    const queued = new RedisRevocationList(queuedClient, { timeoutMs });
    // The options the operator uses: fail at once while disconnected.
    const failFastClient = client(doomed.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const failFast = new RedisRevocationList(failFastClient, { timeoutMs });
    // Without an offline queue a command sent before the connection is up fails at once.
    await connected(queuedClient, failFastClient);
    const jti = freshJti();
    await failFast.revoke(jti, nowSeconds() + 3600);
    assert.equal(await queued.isRevoked(jti), true);
    await doomed.stop();

    for (const [name, list] of [['default ioredis options', queued], ['enableOfflineQueue false', failFast]] as const) {
      for (const call of ['isRevoked', 'revoke'] as const) {
        const started = Date.now();
        const pending = call === 'isRevoked' ? list.isRevoked(freshJti()) : list.revoke(freshJti(), nowSeconds() + 60);
        const err = await pending.then(
          (answer) => assert.fail(`${name}: ${call}() answered ${String(answer)} with Redis stopped`),
          (e: unknown) => e,
        );
        const took = Date.now() - started;
        assert.ok(err instanceof RevocationListUnavailableError, `${name}: ${String(err)}`);
        assert.ok(took < timeoutMs + 500, `${name}: took ${took} ms`);
        console.log(`[redis-revocation] ${name}: ${call}() rejected after ${took} ms (${(err as Error).message})`);
      }
    }
  });
});
