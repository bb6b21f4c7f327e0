// RedisTokenVault (session.passAccessToken with --redis-url) against a real
// redis-server, through ioredis as in production. Two brokers with their own
// connections stand for two replicas: a token kept by one is passed by the
// other, a refresh happens once, and a logout on one ends the token for both.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { AccessTokenBroker, RedisTokenVault, TokenVaultUnavailableError, newSealingKey, type Refresher, type TokenSession } from '../../src/session/access-tokens.ts';
import { connected, useRedis } from '../support/redis.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);
let n = 0;
const session = (): TokenSession => ({ jti: `jti-${Date.now()}-${n++}`, exp: nowSeconds() + 600, connector: 'default/op', atk: newSealingKey() });

describe('RedisTokenVault on a real Redis', () => {
  const fixture = useRedis();

  it('a token kept by one replica is passed by the other; Redis holds it sealed, under a hashed key, until the session ends', async () => {
    const redis = fixture.client(fixture.server().url);
    const other = fixture.client(fixture.server().url);
    await connected(redis, other);
    const vaultA = new RedisTokenVault(redis);
    const a = new AccessTokenBroker(vaultA);
    const b = new AccessTokenBroker(new RedisTokenVault(other));
    const s = session();
    await a.hold(s, { accessToken: 'provider-access-token-1', refreshToken: 'provider-refresh-token-1', obtainedAt: nowSeconds(), expiresAt: nowSeconds() + 3600 });
    assert.deepEqual(await b.obtain(s), { ok: true, accessToken: 'provider-access-token-1', refreshed: false });
    const key = vaultA.keyFor(s.jti);
    assert.match(key, /^sso:token:[0-9a-f]{64}$/);
    const stored = (await redis.get(key))!;
    assert.doesNotMatch(stored, /provider-/, 'sealed');
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 600 && ttl <= 660 + 1, `ttl ${ttl}: the session's 600 s and a minute of grace`);
    // Logout on B ends it for A.
    assert.equal(await b.release(s), 'released');
    assert.deepEqual(await a.obtain(s), { ok: false, status: 401, reason: 'AccessTokenMissing' });
  });

  it('two replicas that find the token due at once refresh it once (the lock), and both pass the new one', async () => {
    const ra = fixture.client(fixture.server().url);
    const rb = fixture.client(fixture.server().url);
    await connected(ra, rb);
    const a = new AccessTokenBroker(new RedisTokenVault(ra));
    const b = new AccessTokenBroker(new RedisTokenVault(rb), { waitMs: 3000 });
    const s = session();
    // Expired already: neither replica may pass it, so the loser must wait for the winner.
    await a.hold(s, { accessToken: 'old', refreshToken: 'rt-1', obtainedAt: nowSeconds() - 120, expiresAt: nowSeconds() - 1 });
    const used: string[] = [];
    const refresh: Refresher = async (rt) => {
      used.push(rt);
      await new Promise((r) => setTimeout(r, 300));
      return { accessToken: `new-${used.length}`, refreshToken: 'rt-2', expiresAt: nowSeconds() + 600 };
    };
    const [x, y] = await Promise.all([a.obtain(s, refresh), b.obtain(s, refresh)]);
    assert.deepEqual(used, ['rt-1'], 'one refresh with the one refresh token');
    assert.equal(x.ok && x.accessToken, 'new-1');
    assert.equal(y.ok && y.accessToken, 'new-1');
    assert.equal([x, y].filter((r) => r.ok && r.refreshed).length, 1);
  });

  it('the lock is released only by its holder, and expires by itself', async () => {
    const ra = fixture.client(fixture.server().url);
    const rb = fixture.client(fixture.server().url);
    await connected(ra, rb);
    const a = new RedisTokenVault(ra);
    const b = new RedisTokenVault(rb);
    assert.equal(await a.lock('jti-lock', 300), true);
    assert.equal(await b.lock('jti-lock', 300), false);
    await b.unlock('jti-lock');
    assert.equal(await b.lock('jti-lock', 300), false, "B's unlock did not release A's lock");
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(await b.lock('jti-lock', 300), true, 'expired');
    await b.unlock('jti-lock');
    assert.equal(await a.lock('jti-lock', 300), true);
  });

  it('Redis away: sign-in cannot keep the token and forward-auth gets 503 TokenVaultUnavailable, within the command timeout', async () => {
    const redis = fixture.client('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    const broker = new AccessTokenBroker(new RedisTokenVault(redis, { timeoutMs: 200 }));
    const s = session();
    const started = Date.now();
    await assert.rejects(broker.hold(s, { accessToken: 'x', obtainedAt: nowSeconds() }), TokenVaultUnavailableError);
    assert.deepEqual(await broker.obtain(s), { ok: false, status: 503, reason: 'TokenVaultUnavailable' });
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
  });
});
