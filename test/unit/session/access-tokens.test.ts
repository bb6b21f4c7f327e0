// The token vault and broker of session.passAccessToken: sealing (what a
// copy of the vault or a moved record gives away: nothing), refresh (when,
// how often, who wins between replicas) and release. A fake clock and the
// in-memory vault; Redis and a real provider are in the integration and
// interop tests.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  AccessTokenBroker,
  MemoryTokenVault,
  RefreshRefusedError,
  newSealingKey,
  open,
  refreshMargin,
  seal,
  type ProviderTokens,
  type Refresher,
  type TokenSession,
  type TokenVault,
} from '../../../src/session/access-tokens.ts';

const T0 = 1_800_000_000;

function clock(start = T0 * 1000) {
  let t = start;
  return { now: () => t, advance: (seconds: number) => (t += seconds * 1000), seconds: () => Math.floor(t / 1000) };
}

function session(over: Partial<TokenSession> = {}): TokenSession {
  return { jti: 'jti-1', exp: T0 + 8 * 3600, connector: 'default/op', atk: newSealingKey(), ...over };
}

const tokens = (over: Partial<ProviderTokens> = {}): ProviderTokens => ({
  accessToken: 'at-1',
  refreshToken: 'rt-1',
  obtainedAt: T0,
  expiresAt: T0 + 600,
  tokenType: 'Bearer',
  ...over,
});

/** A refresher that counts its calls and answers as told. */
function refresher(answer: (rt: string, n: number) => Promise<Omit<ProviderTokens, 'obtainedAt'>> | Omit<ProviderTokens, 'obtainedAt'>) {
  const calls: string[] = [];
  const fn: Refresher = async (rt) => {
    calls.push(rt);
    return answer(rt, calls.length);
  };
  return { fn, calls };
}

describe('sealing', () => {
  it('a sealed record holds neither token in the clear and opens only for its own session, connector and key', () => {
    const s = session();
    const sealed = seal(s, tokens({ accessToken: 'secret-access-token', refreshToken: 'secret-refresh-token' }));
    assert.doesNotMatch(sealed, /secret-/);
    assert.doesNotMatch(Buffer.from(sealed.slice(3), 'base64url').toString('latin1'), /secret-/);
    assert.equal(open(s, sealed)?.accessToken, 'secret-access-token');
    assert.equal(open({ ...s, jti: 'jti-2' }, sealed), undefined, 'moved under another session');
    assert.equal(open({ ...s, connector: 'default/other' }, sealed), undefined, 'claimed for another connector');
    assert.equal(open({ ...s, atk: newSealingKey() }, sealed), undefined, 'another session key');
  });

  it('a changed, truncated or malformed record does not open', () => {
    const s = session();
    const sealed = seal(s, tokens());
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    raw[20] = raw[20]! ^ 1;
    assert.equal(open(s, `v1.${raw.toString('base64url')}`), undefined, 'one bit flipped');
    assert.equal(open(s, sealed.slice(0, -4)), undefined, 'truncated');
    assert.equal(open(s, `v2.${sealed.slice(3)}`), undefined, 'unknown version');
    assert.equal(open(s, 'v1.'), undefined);
    assert.equal(open(s, `v1.${'A'.repeat(100_000)}`), undefined, 'oversized');
    assert.equal(open({ ...s, atk: 'short' }, sealed), undefined, 'a key that is not 32 bytes');
    assert.throws(() => seal({ ...s, atk: 'short' }, tokens()), /32 bytes/);
  });

  it('refreshes 60 s before expiry, or at half the lifetime of a short-lived token, never one without an expiry', () => {
    assert.equal(refreshMargin(tokens({ obtainedAt: T0, expiresAt: T0 + 3600 })), 60);
    assert.equal(refreshMargin(tokens({ obtainedAt: T0, expiresAt: T0 + 30 })), 15);
    assert.equal(refreshMargin({ accessToken: 'x', obtainedAt: T0 }), 0);
  });
});

describe('AccessTokenBroker', () => {
  it('passes the held token without asking the provider while it is not due', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    await broker.hold(s, tokens());
    const r = refresher(() => ({ accessToken: 'at-2' }));
    c.advance(500);
    assert.deepEqual(await broker.obtain(s, r.fn), { ok: true, accessToken: 'at-1', refreshed: false });
    assert.equal(r.calls.length, 0);
  });

  it('refreshes when due, once for concurrent requests, stores the new token and keeps a refresh token the provider did not rotate', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    await broker.hold(s, tokens());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const r = refresher(async () => {
      await gate;
      return { accessToken: 'at-2', expiresAt: c.seconds() + 600 };
    });
    c.advance(541); // 59 s before expiry: due
    const both = Promise.all([broker.obtain(s, r.fn), broker.obtain(s, r.fn)]);
    release();
    const [a, b] = await both;
    assert.deepEqual(a, { ok: true, accessToken: 'at-2', refreshed: true });
    assert.deepEqual(b, a, 'the second request shares the first refresh');
    assert.deepEqual(r.calls, ['rt-1']);
    const kept = open(s, (await vault.get(s.jti))!);
    assert.equal(kept?.accessToken, 'at-2');
    assert.equal(kept?.refreshToken, 'rt-1', 'not rotated by the provider: the old refresh token stays');
    // The next refresh uses a rotated refresh token when the provider gives one.
    const rotating = refresher(() => ({ accessToken: 'at-3', refreshToken: 'rt-2', expiresAt: c.seconds() + 600 }));
    c.advance(560);
    assert.equal((await broker.obtain(s, rotating.fn)).ok, true);
    assert.equal(open(s, (await vault.get(s.jti))!)?.refreshToken, 'rt-2');
  });

  it('a refresh the provider refuses ends the token: 401 AccessTokenRefreshFailed, and the record is gone', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    await broker.hold(s, tokens());
    c.advance(590);
    const r = refresher(() => {
      throw new RefreshRefusedError('CodeExchangeFailed');
    });
    assert.deepEqual(await broker.obtain(s, r.fn), { ok: false, status: 401, reason: 'AccessTokenRefreshFailed' });
    assert.equal(await vault.get(s.jti), undefined);
    assert.deepEqual(await broker.obtain(s, r.fn), { ok: false, status: 401, reason: 'AccessTokenMissing' });
  });

  it('a provider that does not answer: the current token while it is valid, then 503 ProviderUnavailable', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    await broker.hold(s, tokens());
    const r = refresher(() => {
      throw new Error('ProviderUnavailable');
    });
    c.advance(590);
    assert.deepEqual(await broker.obtain(s, r.fn), { ok: true, accessToken: 'at-1', refreshed: false });
    c.advance(10);
    assert.deepEqual(await broker.obtain(s, r.fn), { ok: false, status: 503, reason: 'ProviderUnavailable' });
    assert.equal(r.calls.length, 2);
    assert.ok(await vault.get(s.jti), 'kept: the provider may answer again');
  });

  it('an expired token without a refresh token is 401 AccessTokenExpired; one that never expires is passed as it is', async () => {
    const c = clock();
    const broker = new AccessTokenBroker(new MemoryTokenVault({ now: c.now }), { now: c.now });
    const s = session();
    await broker.hold(s, { accessToken: 'at-1', obtainedAt: T0, expiresAt: T0 + 60 });
    c.advance(61);
    assert.deepEqual(await broker.obtain(s), { ok: false, status: 401, reason: 'AccessTokenExpired' });
    const forever = session({ jti: 'jti-forever' });
    await broker.hold(forever, { accessToken: 'gho_forever', obtainedAt: T0 });
    c.advance(7 * 3600);
    assert.deepEqual(await broker.obtain(forever), { ok: true, accessToken: 'gho_forever', refreshed: false });
  });

  it('a record that is missing, replaced or opened with another session key is never passed', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    assert.deepEqual(await broker.obtain(s), { ok: false, status: 401, reason: 'AccessTokenMissing' });
    // Someone with write access to the vault puts another session's record under this jti.
    const other = session({ jti: 'jti-other' });
    await vault.put(s.jti, seal(other, tokens({ accessToken: 'someone-elses' })), 600);
    assert.deepEqual(await broker.obtain(s), { ok: false, status: 401, reason: 'AccessTokenInvalid' });
    await broker.hold(s, tokens());
    assert.deepEqual(await broker.obtain({ ...s, atk: newSealingKey() }), { ok: false, status: 401, reason: 'AccessTokenInvalid' });
  });

  it('two replicas sharing a vault refresh a session once: the other passes the current token, or waits for the new one', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const a = new AccessTokenBroker(vault, { now: c.now });
    // Replica B's wait uses real timers (100 ms polls) and the fake clock for the deadline.
    const b = new AccessTokenBroker(vault, { now: c.now, waitMs: 2000 });
    const s = session();
    await a.hold(s, tokens());
    c.advance(590); // due, still valid for 10 s
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = refresher(async () => {
      await gate;
      return { accessToken: 'at-2', expiresAt: c.seconds() + 600 };
    });
    const fromA = a.obtain(s, slow.fn);
    await new Promise((r) => setImmediate(r));
    const bRefresh = refresher(() => ({ accessToken: 'at-from-b', expiresAt: c.seconds() + 600 }));
    assert.deepEqual(await b.obtain(s, bRefresh.fn), { ok: true, accessToken: 'at-1', refreshed: false }, 'still valid: passed while A refreshes');
    c.advance(11); // expired now; A still refreshing (its lock holds 15 s)
    const waiting = b.obtain(s, bRefresh.fn);
    await new Promise((r) => setTimeout(r, 150));
    release();
    assert.deepEqual(await fromA, { ok: true, accessToken: 'at-2', refreshed: true });
    assert.deepEqual(await waiting, { ok: true, accessToken: 'at-2', refreshed: false }, "B takes A's new token");
    assert.equal(bRefresh.calls.length, 0, 'B never refreshed');
    assert.equal(slow.calls.length, 1);
  });

  it('a vault that cannot answer is 503 TokenVaultUnavailable, never a token and never a crash', async () => {
    const down: TokenVault = {
      put: () => Promise.reject(new Error('down')),
      get: () => Promise.reject(new Error('down')),
      delete: () => Promise.reject(new Error('down')),
      lock: () => Promise.reject(new Error('down')),
      unlock: () => Promise.reject(new Error('down')),
    };
    const broker = new AccessTokenBroker(down);
    await assert.rejects(broker.hold(session({ exp: Math.floor(Date.now() / 1000) + 600 }), tokens()));
    assert.deepEqual(await broker.obtain(session()), { ok: false, status: 503, reason: 'TokenVaultUnavailable' });
    assert.equal(await broker.release(session()), 'unavailable');
  });

  it('release deletes the record and revokes the tokens at the provider; a failed revocation is reported', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session();
    await broker.hold(s, tokens());
    const revoked: ProviderTokens[] = [];
    assert.equal(await broker.release(s, async (t) => void revoked.push(t)), 'released');
    assert.equal(revoked[0]?.refreshToken, 'rt-1');
    assert.equal(await vault.get(s.jti), undefined);
    assert.equal(await broker.release(s, async (t) => void revoked.push(t)), 'absent');
    assert.equal(revoked.length, 1, 'nothing to revoke the second time');
    const s2 = session({ jti: 'jti-2' });
    await broker.hold(s2, tokens());
    assert.equal(await broker.release(s2, () => Promise.reject(new Error('provider down'))), 'revocationFailed');
    assert.equal(await vault.get(s2.jti), undefined, 'deleted here even when the provider did not answer');
  });

  it('records expire with their session (plus a minute of grace)', async () => {
    const c = clock();
    const vault = new MemoryTokenVault({ now: c.now, sweepIntervalSeconds: 1 });
    const broker = new AccessTokenBroker(vault, { now: c.now });
    const s = session({ exp: T0 + 100 });
    await broker.hold(s, tokens({ expiresAt: undefined }));
    c.advance(159);
    assert.equal((await broker.obtain(s)).ok, true);
    c.advance(2);
    assert.deepEqual(await broker.obtain(s), { ok: false, status: 401, reason: 'AccessTokenMissing' });
    await vault.put('other', 'x', 10);
    assert.equal(vault.size, 1, 'swept');
  });
});
