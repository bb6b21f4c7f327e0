// KubeKeyStore against a real kube-apiserver + etcd (test/support/kube.ts):
// several "replicas" (KubeKeyStore instances, each with its own watch) share
// the session key Secret. The rotation clock is faked (`now`) so a 30-day
// rotation happens on demand; everything else (create races, 409s, the watch,
// its restart) is the real apiserver.

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { KeyFileError, toPersisted, type SessionKeySet } from '../../src/session/keys.ts';
import { loadKubeAccess, type KubeAccess } from '../../src/store/kube-access.ts';
import {
  DEFAULT_SESSION_KEY_SECRET,
  KEY_SET_DATA_KEY,
  KubeKeyStore,
  ROTATED_AT_ANNOTATION,
  type KeyStoreLogger,
  type KubeKeyStoreOptions,
} from '../../src/session/kube-key-store.ts';
import { SessionTokens } from '../../src/session/tokens.ts';
import { kubeRequest, startControlPlane, type ControlPlane } from '../support/kube.ts';

const NS = 'sso-system';
const DAY_MS = 24 * 60 * 60 * 1000;
const ISSUER = 'https://sso.example.test';
const CLAIMS = { sub: 'alice@example.com', groups: ['dev'], connector: 'team-a/okta' };

interface LogEntry {
  level: string;
  obj: object;
  msg: string;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the next key set `store` reports through onRotate, and when (performance.now()). */
function nextRotation(store: KubeKeyStore): Promise<{ set: SessionKeySet; at: number }> {
  return new Promise((resolve) => {
    const off = store.onRotate((set) => {
      off();
      resolve({ set, at: performance.now() });
    });
  });
}

describe('KubeKeyStore on a real control plane', () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  /** What the operator reads the kubeconfig with (kube-access.ts); the test's own calls use client-node. */
  let access: KubeAccess;
  let core: k8s.CoreV1Api;
  const logs: LogEntry[] = [];
  const seenSets: SessionKeySet[] = [];
  const stores: KubeKeyStore[] = [];
  // The fake clock every store reads; advanced to make a rotation due.
  let fakeNow = Date.now();

  const logger = (replica: string): KeyStoreLogger => {
    const at = (level: string) => (obj: object, msg: string) => logs.push({ level, obj: { replica, ...obj }, msg });
    return { info: at('info'), warn: at('warn'), error: at('error') };
  };

  const makeStore = (replica: string, options: Partial<KubeKeyStoreOptions> = {}) => {
    const store = new KubeKeyStore({
      kubeConfig: access,
      namespace: NS,
      isLeader: () => false,
      logger: logger(replica),
      now: () => fakeNow,
      checkIntervalMs: 100,
      ...options,
    });
    store.onRotate((set) => seenSets.push(set));
    stores.push(store);
    return store;
  };

  const readSecret = (name = DEFAULT_SESSION_KEY_SECRET) => core.readNamespacedSecret({ name, namespace: NS });

  let leader: KubeKeyStore;
  let follower: KubeKeyStore;

  beforeAll(async () => {
    cp = await startControlPlane();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    access = await loadKubeAccess(cp.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.stop()));
    // Whatever happened above, no private key member may ever reach a log line.
    const secrets = seenSets.flatMap((set) => {
      const p = toPersisted(set);
      return [p.current.d, p.previous?.d, p.stateKey].filter((v): v is string => typeof v === 'string');
    });
    const logged = JSON.stringify(logs);
    for (const secret of secrets) assert.ok(!logged.includes(secret), 'key material found in the logs');
    console.log(`[kube-session-keys] ${logs.length} log lines checked for ${secrets.length} secret values`);
    await cp?.stop();
  });

  it('two replicas starting at once create exactly one Secret and share its keys', async () => {
    leader = makeStore('leader', { isLeader: () => true });
    follower = makeStore('follower');
    await Promise.all([leader.start(), follower.start()]);
    seenSets.push(leader.current(), follower.current());

    const list = await core.listNamespacedSecret({ namespace: NS });
    assert.deepEqual(
      list.items.map((s) => s.metadata?.name),
      [DEFAULT_SESSION_KEY_SECRET],
    );
    const secret = list.items[0]!;
    assert.equal(secret.type, 'Opaque');
    assert.equal(secret.metadata?.labels?.['app.kubernetes.io/managed-by'], 'sso-operator');
    assert.equal(secret.metadata?.annotations?.[ROTATED_AT_ANNOTATION], new Date(fakeNow).toISOString());
    assert.ok(secret.data?.[KEY_SET_DATA_KEY]);

    assert.equal(leader.current().current.kid, follower.current().current.kid);
    assert.equal(leader.current().previous, undefined);
    assert.deepEqual(Buffer.from(leader.current().stateKey), Buffer.from(follower.current().stateKey));
    const lost = logs.filter((l) => l.msg.includes('created the session key Secret first'));
    console.log(`[kube-session-keys] start race: ${lost.length} replica(s) lost the create with a 409 and read the winner's Secret`);
  });

  it('the leader rotates when due and the other replica follows within a second, keeping old sessions valid', async () => {
    const oldKid = follower.current().current.kid;
    const leaderTokens = new SessionTokens(() => leader.current(), ISSUER);
    const followerTokens = new SessionTokens(() => follower.current(), ISSUER);
    const issuedBefore = await leaderTokens.issue(CLAIMS, 3600);

    const leaderSaw = nextRotation(leader);
    const followerSaw = nextRotation(follower);
    const dueAt = performance.now();
    fakeNow += 31 * DAY_MS; // the leader's check timer (100 ms) notices
    const l = await within(leaderSaw, 5000, 'leader rotation');
    const f = await within(followerSaw, 5000, 'follower sees the rotation');
    const delay = f.at - l.at;
    console.log(
      `[kube-session-keys] rotation: leader wrote it ${(l.at - dueAt).toFixed(0)} ms after it fell due; ` +
        `the other replica had it ${delay.toFixed(1)} ms after the leader`,
    );
    assert.ok(delay < 1000, `follower saw the rotation ${delay} ms after the leader`);

    assert.notEqual(f.set.current.kid, oldKid);
    assert.equal(f.set.current.kid, l.set.current.kid);
    assert.equal(f.set.previous?.kid, oldKid);
    assert.equal(follower.current().current.kid, l.set.current.kid);

    const verified = await followerTokens.verify(issuedBefore.token);
    assert.ok(verified.ok, `a token signed before the rotation no longer verifies: ${JSON.stringify(verified)}`);
    const issuedAfter = await followerTokens.issue(CLAIMS, 3600);
    assert.ok((await leaderTokens.verify(issuedAfter.token)).ok);
    assert.deepEqual(
      followerTokens.jwks().keys.map((k) => k.kid),
      [l.set.current.kid, oldKid],
    );

    const secret = await readSecret();
    assert.equal(secret.metadata?.annotations?.[ROTATED_AT_ANNOTATION], new Date(fakeNow).toISOString());
    // Not due again: the next checks leave it alone.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(leader.current().current.kid, l.set.current.kid);
    assert.equal((await readSecret()).metadata?.resourceVersion, secret.metadata?.resourceVersion);
  });

  it('never rotates twice when two replicas both believe they lead', async () => {
    // Their own Secret, and check timers far apart, so that only the two
    // explicit calls below race.
    const name = 'split-brain-keys';
    const a = makeStore('split-a', { secretName: name, isLeader: () => true, checkIntervalMs: 3_600_000 });
    const b = makeStore('split-b', { secretName: name, isLeader: () => true, checkIntervalMs: 3_600_000 });
    await Promise.all([a.start(), b.start()]);
    const original = a.current().current.kid;
    fakeNow += 31 * DAY_MS;
    const results = await Promise.all([a.rotateIfDue(), b.rotateIfDue()]);
    assert.equal(results.filter(Boolean).length, 1, `rotateIfDue results: ${results.join(',')}`);
    const stored = (await readSecret(name)).data?.[KEY_SET_DATA_KEY];
    const persisted = JSON.parse(Buffer.from(stored ?? '', 'base64').toString('utf8')) as { previous?: { kid?: string } };
    assert.equal(persisted.previous?.kid, original, 'the Secret was rotated more than once');
    const conflicts = logs.filter((l) => l.msg.includes('another replica rotated')).length;
    console.log(`[kube-session-keys] split brain: one rotation, ${conflicts} update refused with 409`);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('refuses a corrupt Secret with a clear error, never overwrites it and never echoes its content', async () => {
    const name = 'broken-keys';
    const body = '{"current": {"kty": "OKP", "crv": "Ed25519", "d": "TOPSECRETd"';
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name }, type: 'Opaque', data: { [KEY_SET_DATA_KEY]: Buffer.from(body).toString('base64') } },
    });
    const before = await readSecret(name);
    const store = makeStore('broken', { secretName: name, isLeader: () => true });
    const err = await store.start().then(
      () => assert.fail('start() accepted a corrupt Secret'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KeyFileError, String(err));
    assert.match(
      err.message,
      /^Secret sso-system\/broken-keys does not hold a valid session key set: data key "keys\.json" is not valid JSON; fix it, or delete the Secret/,
    );
    assert.ok(!err.message.includes('TOPSECRET'));
    const afterwards = await readSecret(name);
    assert.equal(afterwards.metadata?.resourceVersion, before.metadata?.resourceVersion);

    // Valid JSON, wrong content: the key-set validator's reason is passed on.
    await core.replaceNamespacedSecret({
      name,
      namespace: NS,
      body: { ...afterwards, data: { [KEY_SET_DATA_KEY]: Buffer.from('{"current": {"kty": "RSA"}}').toString('base64') } },
    });
    const second = makeStore('broken-2', { secretName: name, isLeader: () => true });
    await assert.rejects(second.start(), /broken-keys does not hold a valid session key set: data key "keys\.json": current: expected an Ed25519 key/);
  });

  it('keeps the last good keys while the shared Secret is invalid, and follows the fix', async () => {
    // The split-brain test moved the shared clock 31 days on, so the leader's
    // own check is about to rotate the shared Secret too. Let that rotation
    // happen (and reach the follower) first: a replace based on a read taken
    // before it would be refused with 409.
    await leader.rotateIfDue();
    const settleBy = performance.now() + 5000;
    while (follower.current().current.kid !== leader.current().current.kid) {
      assert.ok(performance.now() < settleBy, 'the follower did not see the pending rotation');
      await new Promise((r) => setTimeout(r, 20));
    }
    const good = await readSecret();
    const kid = follower.current().current.kid;
    const invalidSeen = Date.now();
    await core.replaceNamespacedSecret({
      name: DEFAULT_SESSION_KEY_SECRET,
      namespace: NS,
      body: { ...good, data: { [KEY_SET_DATA_KEY]: Buffer.from('not json').toString('base64') } },
    });
    const deadline = Date.now() + 5000;
    while (follower.status().error === undefined || leader.status().error === undefined) {
      assert.ok(Date.now() < deadline, 'the invalid Secret was not noticed');
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`[kube-session-keys] invalid Secret noticed by both replicas after ${Date.now() - invalidSeen} ms`);
    assert.equal(follower.current().current.kid, kid);
    // Due, but the leader must not overwrite the bad version.
    fakeNow += 31 * DAY_MS;
    assert.equal(await leader.rotateIfDue(), false);
    assert.equal(Buffer.from((await readSecret()).data?.[KEY_SET_DATA_KEY] ?? '', 'base64').toString(), 'not json');

    // Restored (same keys, rotated-at in the past): valid again, and the
    // leader's next check rotates.
    const rotated = nextRotation(follower);
    const current = await readSecret();
    await core.replaceNamespacedSecret({
      name: DEFAULT_SESSION_KEY_SECRET,
      namespace: NS,
      body: { ...current, data: good.data },
    });
    const r = await within(rotated, 5000, 'rotation after the fix');
    assert.equal(r.set.previous?.kid, kid);
    assert.equal(follower.status().error, undefined);
  });

  it('creates a new key set on every replica when the Secret is deleted', async () => {
    const oldKid = follower.current().current.kid;
    const res = await kubeRequest(cp, 'DELETE', `/api/v1/namespaces/${NS}/secrets/${DEFAULT_SESSION_KEY_SECRET}`);
    assert.equal(res.status, 200, res.text);
    // Converged: both replicas on one new key set (late events of earlier
    // rotations may arrive first, so wait for the end state, not the first change).
    const settled = () => {
      const l = leader.current();
      const f = follower.current();
      return l.current.kid !== oldKid && l.current.kid === f.current.kid ? f : undefined;
    };
    const deadline = performance.now() + 5000;
    while (!settled() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const f = settled();
    assert.ok(f, 're-created key set on both replicas within 5 s');
    assert.equal(f.previous, undefined);
    const names = (await core.listNamespacedSecret({ namespace: NS })).items.map((s) => s.metadata?.name);
    assert.equal(names.filter((n) => n === DEFAULT_SESSION_KEY_SECRET).length, 1);
  });

  it('keeps following rotations after the apiserver restarts (watch restarted with backoff)', async () => {
    const failuresBefore = logs.filter((l) => l.msg.includes('watch failed')).length;
    await cp.restartApiserver();
    const failures = logs.filter((l) => l.msg.includes('watch failed')).length - failuresBefore;
    assert.ok(failures > 0, 'the watches never noticed the apiserver going away');
    // Both replicas agree before the rotation falls due (the follower's watch
    // may still be reconnecting after the restart).
    const agree = () => follower.current().current.kid === leader.current().current.kid;
    const deadline = performance.now() + 30_000;
    while (!agree() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(agree(), 'the replicas agree on the key after the restart');
    const kid = leader.current().current.kid;
    const leaderKids: string[] = [];
    const offLeader = leader.onRotate((set) => leaderKids.push(set.current.kid));
    const startedAt = performance.now();
    fakeNow += 31 * DAY_MS;
    while (!(leader.current().current.kid !== kid && agree()) && performance.now() < startedAt + 30_000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    offLeader();
    console.log(
      `[kube-session-keys] after an apiserver restart the other replica had the rotation ` +
        `${(performance.now() - startedAt).toFixed(0)} ms after it fell due (${failures} failed watch attempts during the restart)`,
    );
    assert.notEqual(leader.current().current.kid, kid, 'the leader rotated');
    assert.equal(leaderKids.length, 1, `exactly one rotation (saw ${leaderKids.length})`);
    assert.ok(agree(), 'the follower has the new key');
    assert.equal(follower.current().previous?.kid, kid);
  });
});
