import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { StatusKind } from '../../../src/controller/status-sink.ts';
import { StatusWriter, type StatusTarget } from '../../../src/controller/status-writer.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A target that records each write, optionally slow. */
class RecordingTarget implements StatusTarget {
  readonly writes: { key: string; status: Record<string, unknown>; at: number }[] = [];
  delayMs = 0;
  gone = new Set<string>();
  async write(kind: StatusKind, ns: string, name: string, status: Record<string, unknown>): Promise<'written' | 'gone'> {
    if (this.delayMs) await sleep(this.delayMs);
    const key = `${kind}/${ns}/${name}`;
    if (this.gone.has(key)) return 'gone';
    this.writes.push({ key, status, at: performance.now() });
    return 'written';
  }
}

const quiet = { info() {}, warn() {} };
const phase = (p: string) => ({ phase: p, conditions: [{ type: 'Ready', status: p === 'Active' ? 'True' : 'False', reason: p, message: p }] });

describe('StatusWriter', () => {
  it('never makes the caller wait: publish returns before anything is written', () => {
    const target = new RecordingTarget();
    const w = new StatusWriter({ target, logger: quiet });
    const r = w.publish('UserBinding', 'ns', 'a', undefined, phase('Active')) as unknown;
    assert.equal(r, undefined);
    assert.equal(target.writes.length, 0);
    w.close();
  });

  it('coalesces: an object changed five times while waiting is written once, with its latest status', async () => {
    const target = new RecordingTarget();
    target.delayMs = 20;
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1 });
    w.publish('UserBinding', 'ns', 'first', undefined, phase('Active'));
    await sleep(1); // `first` is being written
    for (const p of ['PendingApproval', 'Denied', 'Active', 'Invalid', 'Denied']) w.publish('UserBinding', 'ns', 'b', undefined, phase(p));
    await w.idle();
    assert.deepEqual(target.writes.map((x) => `${x.key}=${x.status.phase}`), ['UserBinding/ns/first=Active', 'UserBinding/ns/b=Denied']);
    w.close();
  });

  it('writes connectors before bindings, and nothing that equals what was written or what the object carries', async () => {
    const target = new RecordingTarget();
    const observed = new Map([['UserBinding/ns/same', phase('Active')]]);
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1, observed: (k, ns, n) => observed.get(`${k}/${ns}/${n}`) });
    w.publish('UserBinding', 'ns', 'b1', undefined, phase('Active'));
    w.publish('UserBinding', 'ns', 'same', undefined, phase('Active'));
    w.publish('SsoConnector', 'ns', 'c1', undefined, { conditions: [] });
    await w.idle();
    assert.deepEqual(target.writes.map((x) => x.key), ['SsoConnector/ns/c1', 'UserBinding/ns/b1']);
    w.publish('UserBinding', 'ns', 'b1', undefined, structuredClone(phase('Active')));
    await w.idle();
    assert.equal(target.writes.length, 2);
    assert.equal(w.writes, 2);
    w.close();
  });

  it("writes every waiting connector's status before the Events of any, and bindings' statuses after both", async () => {
    const order: string[] = [];
    const target: StatusTarget = {
      async write(kind, _ns, name) {
        order.push(`status ${kind === 'SsoConnector' ? 'connector' : 'binding'} ${name}`);
        return 'written';
      },
    };
    const ready = { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ready' }] };
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1, events: { record: async (o, _t, reason) => void order.push(`event ${o.name} ${reason}`) } });
    w.publish('UserBinding', 'ns', 'b1', undefined, phase('Denied'));
    for (const c of ['c1', 'c2', 'c3']) w.publish('SsoConnector', 'ns', c, undefined, ready);
    await w.idle();
    assert.deepEqual(order, [
      'status connector c1',
      'status connector c2',
      'status connector c3',
      'event c1 ConnectorReady',
      'event c2 ConnectorReady',
      'event c3 ConnectorReady',
      'status binding b1',
      'event b1 BindingDenied',
    ]);
    w.close();
  });

  it('stays within qps writes (status and Events together) in any one-second window', async () => {
    const target = new RecordingTarget();
    const eventTimes: number[] = [];
    const w = new StatusWriter({
      target,
      logger: quiet,
      qps: 10,
      events: { record: async () => void eventTimes.push(performance.now()) },
    });
    // 18 new bindings, each with a first-state Event: 36 writes at 10 per second.
    for (let i = 0; i < 18; i++) w.publish('UserBinding', 'ns', `b${i}`, undefined, phase('PendingApproval'));
    await w.idle();
    const all = [...target.writes.map((x) => x.at), ...eventTimes].sort((a, b) => a - b);
    assert.equal(all.length, 36);
    for (const t of all) {
      const n = all.filter((s) => s >= t && s < t + 1000).length;
      assert.ok(n <= 10, `${n} writes in the second from ${t.toFixed(0)}`);
    }
    w.close();
  });

  it('as a follower keeps no binding status (the controller publishes them again when it leads); as leader writes what differs and announces only what changed', async () => {
    const target = new RecordingTarget();
    const events: string[] = [];
    let leader = false;
    const observed = new Map<string, Record<string, unknown>>([
      // Written by the previous leader: pending -> still pending is no news, and not written again.
      ['UserBinding/ns/p', phase('PendingApproval')],
      // The previous leader wrote Pending; now it is Active: written, and one Event.
      ['UserBinding/ns/a', phase('PendingApproval')],
    ]);
    const w = new StatusWriter({
      target,
      logger: quiet,
      isLeader: () => leader,
      observed: (k, ns, n) => observed.get(`${k}/${ns}/${n}`),
      events: { record: async (o, _t, reason) => void events.push(`${o.name} ${reason}`) },
    });
    w.publish('UserBinding', 'ns', 'p', undefined, phase('PendingApproval'));
    w.publish('UserBinding', 'ns', 'a', undefined, phase('Active'));
    w.publish('UserBinding', 'ns', 'new', undefined, phase('Denied'));
    await w.idle();
    assert.equal(target.writes.length, 0);
    assert.equal(w.depth('UserBinding'), 0, 'a follower queues nothing');
    assert.equal(w.known('UserBinding', 'ns', 'a'), undefined, 'nor keeps a binding status');

    leader = true;
    w.startedLeading();
    // What Controller.republishBindingStatuses does on leadership.
    w.publish('UserBinding', 'ns', 'p', undefined, phase('PendingApproval'));
    w.publish('UserBinding', 'ns', 'a', undefined, phase('Active'));
    w.publish('UserBinding', 'ns', 'new', undefined, phase('Denied'));
    await w.idle();
    assert.deepEqual(target.writes.map((x) => x.key).sort(), ['UserBinding/ns/a', 'UserBinding/ns/new']);
    assert.deepEqual(events.sort(), ['a BindingActive', 'new BindingDenied']);
    w.close();
  });

  it('keeps nothing for a binding whose object already carries its status, and a write under way is not forgotten', async () => {
    const target = new RecordingTarget();
    target.delayMs = 30;
    const observed = new Map<string, Record<string, unknown>>([['UserBinding/ns/same', phase('Active')], ['UserBinding/ns/flip', phase('Active')]]);
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1, observed: (k, ns, n) => observed.get(`${k}/${ns}/${n}`) });
    w.publish('UserBinding', 'ns', 'same', undefined, phase('Active'));
    assert.equal(w.known('UserBinding', 'ns', 'same'), undefined, 'nothing held');
    assert.equal(w.depth('UserBinding'), 0);
    // Denied is on its way; then Active again (what the object carries): the Active one must still be written after it.
    w.publish('UserBinding', 'ns', 'flip', undefined, phase('Denied'));
    await sleep(5);
    w.publish('UserBinding', 'ns', 'flip', undefined, phase('Active'));
    await w.idle();
    assert.deepEqual(target.writes.map((x) => `${x.key} ${x.status.phase}`), ['UserBinding/ns/flip Denied', 'UserBinding/ns/flip Active']);
    // Written: remembered (until the watch surely brought it back), not also kept as wanted; the same again is not written.
    assert.deepEqual(w.known('UserBinding', 'ns', 'flip'), phase('Active'));
    w.publish('UserBinding', 'ns', 'flip', undefined, phase('Active'));
    await w.idle();
    assert.equal(target.writes.length, 2);
    w.close();
  });

  it('room(): resolves while fewer than the limit wait, else once the writes caught up; at once on a follower', async () => {
    const target = new RecordingTarget();
    target.delayMs = 20;
    let leader = true;
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1, isLeader: () => leader });
    for (const n of ['a', 'b', 'c']) w.publish('UserBinding', 'ns', n, undefined, phase('Active'));
    let roomy = false;
    const waiting = w.room('UserBinding', 2).then(() => (roomy = true));
    await sleep(5);
    assert.equal(roomy, false, 'three waiting, limit two');
    await waiting;
    assert.ok(w.depth('UserBinding') < 2);
    assert.ok(target.writes.length >= 1);
    for (const n of ['d', 'e', 'f']) w.publish('UserBinding', 'ns', n, undefined, phase('Active'));
    leader = false;
    await w.room('UserBinding', 1);
    await w.idle();
    w.close();
  });

  it('wouldQueue(): true exactly when publish() would add a write; it changes nothing', async () => {
    const target = new RecordingTarget();
    target.delayMs = 20;
    let leader = true;
    const observed = new Map<string, Record<string, unknown>>([['UserBinding/ns/carried', phase('Active')]]);
    const w = new StatusWriter({ target, logger: quiet, concurrency: 1, isLeader: () => leader, observed: (k, ns, n) => observed.get(`${k}/${ns}/${n}`) });
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'carried', undefined, phase('Active')), false, 'the object carries it');
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'carried', undefined, phase('Denied')), true, 'it carries another');
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'new', undefined, phase('Active')), true, 'no status yet');
    assert.equal(w.depth('UserBinding'), 0, 'asking queued nothing');
    w.publish('UserBinding', 'ns', 'new', undefined, phase('Active'));
    w.publish('UserBinding', 'ns', 'next', undefined, phase('Active'));
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'next', undefined, phase('Denied')), false, 'a write of it waits already: publish replaces its status');
    assert.equal(w.hasRoom('UserBinding', 3), true);
    assert.equal(w.hasRoom('UserBinding', 1), false);
    await w.idle();
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'new', undefined, phase('Active')), false, 'written this term');
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'new', 'another-uid', phase('Active')), true, 'written, but to an object of the same name deleted since');
    leader = false;
    assert.equal(w.wouldQueue('UserBinding', 'ns', 'carried', undefined, phase('Denied')), false, 'a follower writes nothing');
    assert.equal(w.hasRoom('UserBinding', 0), true, 'and never makes anyone wait');
    w.close();
  });

  it('drops a write whose object is gone and retries one the target refuses', async () => {
    let fail = 2;
    const writes: string[] = [];
    const warnings: string[] = [];
    const w = new StatusWriter({
      logger: { info() {}, warn: (_o: object, m: string) => void warnings.push(m) },
      target: {
        async write(_k, _ns, name) {
          if (name === 'gone') return 'gone';
          if (fail-- > 0) throw new Error('HTTP 500');
          writes.push(name);
          return 'written';
        },
      },
    });
    w.publish('UserBinding', 'ns', 'gone', undefined, phase('Active'));
    w.publish('UserBinding', 'ns', 'flaky', undefined, phase('Active'));
    const deadline = Date.now() + 10_000;
    while (writes.length === 0 && Date.now() < deadline) await sleep(50);
    assert.deepEqual(writes, ['flaky']);
    assert.equal(warnings.filter((m) => /retrying/.test(m)).length, 2);
    assert.equal(w.writes, 1);
    w.close();
  });

  it('says when status writes are behind, and when they caught up', async () => {
    const target = new RecordingTarget();
    target.delayMs = 40;
    const logs: string[] = [];
    const w = new StatusWriter({
      target,
      concurrency: 1,
      behindAfterSeconds: 0.1,
      logger: { info: (_o: object, m: string) => void logs.push(m), warn: (o: object, m: string) => void logs.push(`${m} ${JSON.stringify(o)}`) },
    });
    for (let i = 0; i < 10; i++) w.publish('UserBinding', 'ns', `b${i}`, undefined, phase('Active'));
    assert.ok(w.backlog().pending >= 9, `pending ${w.backlog().pending}`);
    await w.idle();
    await sleep(150);
    const behind = logs.find((l) => l.startsWith('status writes are behind'));
    assert.ok(behind, logs.join('\n'));
    assert.match(behind, /"pending":\d+/);
    assert.ok(logs.includes('status writes caught up'), logs.join('\n'));
    assert.deepEqual(w.backlog(), { pending: 0, oldestSeconds: 0, qps: 'unlimited' });
    w.close();
  });

  it('writes the status of an object deleted and created again under the same name, though it equals the old one', async () => {
    const target = new RecordingTarget();
    const w = new StatusWriter({ target, logger: quiet });
    w.publish('UserBinding', 'ns', 'b', 'uid-1', phase('Active'));
    await w.idle();
    // Re-created before the controller noticed the delete: same name, same status, new object.
    w.publish('UserBinding', 'ns', 'b', 'uid-2', phase('Active'));
    await w.idle();
    assert.equal(target.writes.length, 2);
    w.publish('UserBinding', 'ns', 'b', 'uid-2', phase('Active'));
    await w.idle();
    assert.equal(target.writes.length, 2);
    w.close();
  });
});
