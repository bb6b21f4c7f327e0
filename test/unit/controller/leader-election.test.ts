// LeaderElector against an in-memory Lease API (with resourceVersion conflicts,
// like the apiserver) and a fake clock, so terms of 15 s run in milliseconds.
// The same semantics on a real apiserver: test/integration/kube-status-leader.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import {
  LeaderElector,
  LeaseConflictError,
  type Lease,
  type LeaseApi,
  type LeaderClock,
  type LeaderElectorOptions,
} from '../../../src/controller/leader-election.ts';

const NS = 'sso-system';
const NAME = 'sso-operator';
const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** Lets pending promise chains (fake API calls, callbacks) run to completion. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

class FakeClock implements LeaderClock {
  t = 0;
  readonly wallStart = Date.parse('2026-03-01T12:00:00.000Z');
  #timers: { at: number; seq: number; fn: () => void }[] = [];
  #seq = 0;

  now(): Date {
    return new Date(this.wallStart + this.t);
  }
  monotonic(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((x) => x !== timer);
    };
  }
  /** Moves time forward, firing due timers in order and letting their async work finish. */
  async advance(ms: number, onStep?: () => void): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await settle();
      onStep?.();
    }
    this.t = end;
    await settle();
    onStep?.();
  }
}

/** One shared "etcd": Leases with resourceVersions, as the apiserver keeps them. */
class FakeLeaseStore {
  lease: Lease | undefined;
  #rv = 0;
  writes: { op: string; holder: string | null | undefined; at: number }[] = [];
  readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }

  get(): Lease | undefined {
    return this.lease ? structuredClone(this.lease) : undefined;
  }
  create(l: Lease): Lease {
    if (this.lease) throw new LeaseConflictError('exists');
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.#rv) } };
    this.writes.push({ op: 'create', holder: l.spec?.holderIdentity, at: this.clock.t });
    return structuredClone(this.lease);
  }
  update(l: Lease): Lease {
    if (!this.lease) throw new Error('not found');
    if (l.metadata.resourceVersion !== this.lease.metadata.resourceVersion) throw new LeaseConflictError('conflict');
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.#rv) } };
    this.writes.push({ op: 'update', holder: l.spec?.holderIdentity, at: this.clock.t });
    return structuredClone(this.lease);
  }
}

/** One replica's view of the store; `down` makes every call fail (a partition or a dead apiserver). */
class FakeLeaseApi implements LeaseApi {
  down = false;
  /** When set, the next update waits for this promise before it is applied. */
  holdUpdate: Promise<void> | undefined;
  /** Runs between this replica's read and its write, to stage races. */
  beforeUpdate: (() => void) | undefined;
  readonly store: FakeLeaseStore;
  constructor(store: FakeLeaseStore) {
    this.store = store;
  }

  async get(namespace: string, name: string): Promise<Lease | undefined> {
    assert.equal(`${namespace}/${name}`, `${NS}/${NAME}`);
    if (this.down) throw new Error('connect ECONNREFUSED');
    return this.store.get();
  }
  async create(lease: Lease): Promise<Lease> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    return this.store.create(lease);
  }
  async update(lease: Lease): Promise<Lease> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    const hold = this.holdUpdate;
    this.holdUpdate = undefined;
    if (hold) await hold;
    const hook = this.beforeUpdate;
    this.beforeUpdate = undefined;
    hook?.();
    return this.store.update(lease);
  }
}

const silent = { info() {}, warn() {}, error() {} };

interface Replica {
  elector: LeaderElector;
  api: FakeLeaseApi;
  log: string[];
}

function replica(id: string, store: FakeLeaseStore, clock: FakeClock, extra: Partial<LeaderElectorOptions> = {}): Replica {
  const api = new FakeLeaseApi(store);
  const log: string[] = [];
  const elector = new LeaderElector({
    leaseApi: api,
    namespace: NS,
    name: NAME,
    identity: id,
    logger: silent,
    clock,
    onStartedLeading: () => void log.push(`started@${clock.t}`),
    onStoppedLeading: () => void log.push(`stopped@${clock.t}`),
    ...extra,
  });
  return { elector, api, log };
}

function setup(...ids: string[]) {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const replicas = ids.map((id) => replica(id, store, clock));
  let overlaps = 0;
  /** Call after every step: counts moments with two leaders. */
  const sample = () => {
    if (replicas.filter((r) => r.elector.isLeader()).length > 1) overlaps++;
  };
  return { clock, store, replicas, sample, overlaps: () => overlaps };
}

describe('LeaderElector', () => {
  it('acquires an absent Lease at once, with MicroTime stamps and no transitions', async () => {
    const { clock, store, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    assert.equal(a.elector.isLeader(), true);
    assert.deepEqual(a.log, ['started@0']);
    const spec = store.lease!.spec!;
    assert.equal(spec.holderIdentity, 'a');
    assert.equal(spec.leaseDurationSeconds, 15);
    assert.equal(spec.leaseTransitions, 0);
    assert.match(spec.acquireTime!, MICRO);
    assert.equal(spec.acquireTime, '2026-03-01T12:00:00.000000Z');
    assert.equal(spec.renewTime, spec.acquireTime);
    await a.elector.stop();
  });

  it('renews every retry period, keeping acquireTime and leaseTransitions', async () => {
    const { clock, store, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    const acquired = store.lease!.spec!.acquireTime;
    await clock.advance(2000);
    assert.equal(store.lease!.spec!.renewTime, '2026-03-01T12:00:02.000000Z');
    await clock.advance(60_000);
    assert.equal(store.lease!.spec!.renewTime, '2026-03-01T12:01:02.000000Z');
    assert.equal(store.lease!.spec!.acquireTime, acquired);
    assert.equal(store.lease!.spec!.leaseTransitions, 0);
    assert.equal(store.writes.length, 1 + 31, 'one create and one renewal per 2 s');
    assert.equal(a.elector.isLeader(), true);
    assert.deepEqual(a.log, ['started@0'], 'a renewal is not a new term');
    await a.elector.stop();
  });

  it('leaves a live Lease to its holder', async () => {
    const { clock, store, replicas, sample, overlaps } = setup('a', 'b');
    const [a, b] = replicas as [Replica, Replica];
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(120_000, sample);
    assert.equal(a.elector.isLeader(), true);
    assert.equal(b.elector.isLeader(), false);
    assert.deepEqual(b.log, []);
    assert.ok(store.writes.every((w) => w.holder === 'a'));
    assert.equal(overlaps(), 0);
  });

  it('stops leading exactly when renewals have failed for the renew deadline', async () => {
    const { clock, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(4000); // renewals at 0, 2000, 4000
    a.api.down = true;
    const lastRenewal = 4000;
    await clock.advance(lastRenewal + 10_000 - 1 - clock.t);
    assert.equal(a.elector.isLeader(), true, 'still leading 1 ms before the deadline');
    assert.deepEqual(a.log, ['started@0']);
    await clock.advance(2);
    assert.equal(a.elector.isLeader(), false);
    assert.equal(a.log.length, 2);
    const stoppedAt = Number(a.log[1]!.split('@')[1]);
    assert.ok(stoppedAt >= lastRenewal + 10_000 && stoppedAt <= lastRenewal + 10_001, `stopped at ${stoppedAt}`);
    // The apiserver comes back: the Lease is still ours, so the next attempt leads again.
    a.api.down = false;
    await clock.advance(2000);
    assert.equal(a.elector.isLeader(), true);
    assert.equal(a.log.length, 3);
    await a.elector.stop();
  });

  it('answers isLeader() from the clock, not from timers, when the event loop was blocked past the term', async () => {
    const { clock, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    clock.t = 10_000; // no timer has run since the renewal at 0
    assert.equal(a.elector.isLeader(), false);
    clock.t = 9_999;
    assert.equal(a.elector.isLeader(), true);
    await a.elector.stop();
  });

  it('stops leading at the deadline while a renewal hangs, and does not start a term from its late answer', async () => {
    const { clock, store, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    let answer!: () => void;
    a.api.holdUpdate = new Promise<void>((r) => (answer = r));
    await clock.advance(10_500); // the renewal started at 2000 hangs; the term (from 0) ends at 10 000
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.log, ['started@0', 'stopped@10001']);
    await clock.advance(2000); // 12 500: the hung renewal (started at 2000) is past its own deadline too
    answer();
    await clock.advance(0);
    assert.equal(store.lease!.spec!.renewTime, '2026-03-01T12:00:02.000000Z', 'the late write landed');
    assert.equal(a.elector.isLeader(), false, 'but a term started at 2000 ended at 12 000');
    assert.equal(a.log.length, 2);
    await clock.advance(2000);
    assert.equal(a.elector.isLeader(), true, 'the next ordinary renewal leads again');
    await a.elector.stop();
  });

  it('takes over an expired Lease only after the old leader has stopped, and counts the transition', async () => {
    const { clock, store, replicas, sample, overlaps } = setup('a', 'b');
    const [a, b] = replicas as [Replica, Replica];
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(6000, sample);
    a.api.down = true; // a crashed or is cut off; its last renewal started at 6000
    await clock.advance(30_000, sample);
    assert.equal(b.elector.isLeader(), true);
    assert.equal(a.elector.isLeader(), false);
    const aStopped = Number(a.log[1]!.split('@')[1]);
    const bStarted = Number(b.log[0]!.split('@')[1]);
    assert.ok(aStopped >= 16_000 && aStopped <= 16_001, `a stopped at ${aStopped}, not 10 s after its last renewal started`);
    assert.ok(bStarted >= 6000 + 15_000, `b took over at ${bStarted}, before a's lease could expire`);
    assert.ok(bStarted <= 6000 + 15_000 + 2000, `b took over at ${bStarted}, later than one retry after expiry`);
    assert.equal(overlaps(), 0);
    const spec = store.lease!.spec!;
    assert.equal(spec.holderIdentity, 'b');
    assert.equal(spec.leaseTransitions, 1);
    assert.equal(spec.acquireTime, new Date(clock.wallStart + bStarted).toISOString().replace('Z', '000Z'));
    await b.elector.stop();
  });

  it('measures expiry from when it saw the record, not from the renewTime written in it', async () => {
    // A renewTime far in the past (or a leader whose clock is behind) must not make a live lease look expired.
    const { clock, store, replicas } = setup('b');
    const [b] = replicas as [Replica];
    store.create({
      metadata: { name: NAME, namespace: NS },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2020-01-01T00:00:00.000000Z', acquireTime: '2020-01-01T00:00:00.000000Z', leaseTransitions: 4 },
    });
    b.elector.start();
    await clock.advance(14_000);
    assert.equal(b.elector.isLeader(), false);
    await clock.advance(2000);
    assert.equal(b.elector.isLeader(), true);
    assert.equal(store.lease!.spec!.leaseTransitions, 5);
    await b.elector.stop();
  });

  it('releases the Lease on stop, so another replica leads at its next retry instead of after expiry', async () => {
    const { clock, store, replicas, sample, overlaps } = setup('a', 'b');
    const [a, b] = replicas as [Replica, Replica];
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(5000, sample);
    await a.elector.stop();
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.log, ['started@0', 'stopped@5000']);
    const spec = store.lease!.spec!;
    assert.equal(spec.holderIdentity, '');
    assert.equal(spec.leaseDurationSeconds, 1);
    await clock.advance(2000, sample);
    assert.equal(b.elector.isLeader(), true, 'b took over within one retry period');
    assert.ok(Number(b.log[0]!.split('@')[1]) <= 7000);
    assert.equal(overlaps(), 0);
    assert.equal(store.lease!.spec!.leaseTransitions, 1);
    assert.equal(store.lease!.spec!.leaseDurationSeconds, 15);
    await b.elector.stop();
  });

  it('calls onStoppedLeading before the release write', async () => {
    const { clock, store } = setup();
    let holderSeen: string | null | undefined;
    const r = replica('x', store, clock, { onStoppedLeading: () => void (holderSeen = store.lease!.spec!.holderIdentity) });
    r.elector.start();
    await clock.advance(0);
    await r.elector.stop();
    assert.equal(holderSeen, 'x', 'the Lease was still held when the callback ran');
    assert.equal(store.lease!.spec!.holderIdentity, '');
  });

  it('does not release a Lease someone else holds by now', async () => {
    const { clock, store, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    a.api.down = true;
    await clock.advance(11_000);
    // Another replica took the Lease while a was cut off.
    const taken = store.get()!;
    store.update({ ...taken, spec: { ...taken.spec, holderIdentity: 'z', renewTime: '2026-03-01T12:00:11.000000Z' } });
    a.api.down = false;
    await a.elector.stop();
    assert.equal(store.lease!.spec!.holderIdentity, 'z');
  });

  it('of two replicas creating the Lease at once, exactly one leads', async () => {
    const { clock, store, replicas, sample, overlaps } = setup('a', 'b');
    const [a, b] = replicas as [Replica, Replica];
    a.elector.start();
    b.elector.start();
    await clock.advance(30_000, sample);
    assert.equal([a, b].filter((r) => r.elector.isLeader()).length, 1);
    assert.equal(store.writes.filter((w) => w.op === 'create').length, 1);
    assert.equal(store.lease!.spec!.leaseTransitions, 0);
    assert.equal(overlaps(), 0);
  });

  it('loses a takeover race on the resourceVersion and does not lead', async () => {
    const { clock, store, replicas } = setup('b');
    const [b] = replicas as [Replica];
    store.create({ metadata: { name: NAME, namespace: NS }, spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 } });
    // Between b's read and b's write, replica c takes the released Lease.
    b.api.beforeUpdate = () => {
      const l = store.get()!;
      store.update({ ...l, spec: { ...l.spec, holderIdentity: 'c', leaseDurationSeconds: 15, leaseTransitions: 3 } });
    };
    b.elector.start();
    await clock.advance(0);
    assert.equal(b.elector.isLeader(), false);
    assert.equal(store.lease!.spec!.holderIdentity, 'c');
    await clock.advance(10_000);
    assert.equal(b.elector.isLeader(), false, 'c holds a live lease');
    assert.deepEqual(b.log, []);
    await b.elector.stop();
  });

  it('stops leading when it finds the Lease taken by another holder', async () => {
    const { clock, store, replicas } = setup('a');
    const [a] = replicas as [Replica];
    a.elector.start();
    await clock.advance(0);
    // Someone (an admin, a misconfigured replica) overwrites the holder.
    const l = store.get()!;
    store.update({ ...l, spec: { ...l.spec, holderIdentity: 'intruder' } });
    await clock.advance(2000);
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.log, ['started@0', 'stopped@2000']);
  });

  it('survives throwing callbacks and a throwing API without an unhandled rejection', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore(clock);
    const errors: string[] = [];
    const api = new FakeLeaseApi(store);
    const elector = new LeaderElector({
      leaseApi: api,
      namespace: NS,
      name: NAME,
      identity: 'a',
      clock,
      logger: { info() {}, warn() {}, error: (o: object) => void errors.push(JSON.stringify(o)) },
      onStartedLeading: () => {
        throw new Error('boom in onStartedLeading');
      },
      onStoppedLeading: async () => {
        throw new Error('boom in onStoppedLeading');
      },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      elector.start();
      await clock.advance(0);
      assert.equal(elector.isLeader(), true);
      api.get = () => {
        throw new TypeError('synchronous failure');
      };
      await clock.advance(12_000);
      assert.equal(elector.isLeader(), false);
      await elector.stop();
      await settle();
      assert.deepEqual(unhandled, []);
      assert.ok(errors.some((e) => e.includes('boom in onStartedLeading')));
      assert.ok(errors.some((e) => e.includes('boom in onStoppedLeading')));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('refuses timings that would allow two leaders', () => {
    const base = { leaseApi: new FakeLeaseApi(new FakeLeaseStore(new FakeClock())), namespace: NS, identity: 'a', logger: silent };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 }), /greater than renewDeadlineSeconds/);
    assert.throws(() => new LeaderElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 }), /1\.2 \* retryPeriodSeconds/);
    assert.throws(() => new LeaderElector({ ...base, identity: '' }), /identity/);
  });
});
