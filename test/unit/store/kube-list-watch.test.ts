import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { DEFAULT_PAGE_SIZE, ListWatch, type RawObject, type WatchEventType } from '../../../src/store/kube-list-watch.ts';
import { KubeHttpError } from '../../../src/store/kube-transport.ts';
import { captureLogger, FakeTransport, meta, until, type LogLine } from './kube-fakes.ts';

const PATH = '/api/v1/namespaces/a/configmaps';

function setup(backoff: { initialMs: number; maxMs: number; healthyMs?: number } = { initialMs: 5, maxMs: 40 }, now?: () => number) {
  const transport = new FakeTransport();
  const lines: LogLine[] = [];
  const replaced: string[][] = [];
  const events: string[] = [];
  const lw = new ListWatch({
    transport,
    path: PATH,
    resource: 'configmaps',
    namespace: 'a',
    accept: { list: 'list-accept', watch: 'watch-accept' },
    handler: {
      replace: (items: RawObject[]) => replaced.push(items.map((i) => i.metadata.name)),
      event: (type: WatchEventType, o: RawObject) => events.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`),
    },
    logger: captureLogger(lines),
    backoff,
    now,
    watchTimeoutSeconds: () => 300,
  });
  running.push(lw);
  return { transport, lines, replaced, events, lw };
}

const running: ListWatch[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((lw) => lw.stop()));
});

describe('ListWatch', () => {
  it('lists, then watches from the list resourceVersion with bookmarks and the given Accept headers', async () => {
    const { transport, replaced, events, lw } = setup();
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [meta('a', 'x', '9')] }));
    lw.start();
    await lw.whenSynced();
    assert.deepEqual(replaced, [['x']]);
    const w = await transport.openWatch(PATH);
    assert.equal(w.query.get('resourceVersion'), '10');
    assert.equal(w.query.get('allowWatchBookmarks'), 'true');
    assert.equal(w.query.get('watch'), '1');
    assert.equal(w.accept, 'watch-accept');
    assert.equal(transport.requests[0]?.accept, 'list-accept');
    w.send('ADDED', meta('a', 'y', '11'));
    w.send('MODIFIED', meta('a', 'x', '12'));
    w.send('DELETED', meta('a', 'y', '13'));
    await until(() => events.length === 3, 'three events');
    assert.deepEqual(events, ['ADDED y@11', 'MODIFIED x@12', 'DELETED y@13']);
  });

  it('reads every page of a list, and starts over when a continue token expired', async () => {
    const { transport, lw, replaced } = setup();
    let expireOnce = true;
    transport.lists.set(PATH, (query) => {
      const token = query.get('continue');
      assert.equal(query.get('limit'), String(DEFAULT_PAGE_SIZE));
      if (token === null) return { resourceVersion: '10', items: [meta('a', 'p1', '5')], continue: 'page-2' };
      if (expireOnce) {
        expireOnce = false;
        throw new KubeHttpError(410, 'Expired', 'HTTP 410: The provided continue parameter is too old');
      }
      return { resourceVersion: '10', items: [meta('a', 'p2', '6')] };
    });
    lw.start();
    await lw.whenSynced();
    assert.deepEqual(replaced, [['p1', 'p2']]);
    assert.equal(transport.count('list', PATH), 4);
    assert.equal((await transport.openWatch(PATH)).query.get('resourceVersion'), '10');
  });

  it('hands a paging handler each page as it arrives, begins again after an expired continue token, and ends once complete', async () => {
    const transport = new FakeTransport();
    const calls: string[] = [];
    const lw = new ListWatch({
      transport,
      path: PATH,
      resource: 'configmaps',
      namespace: 'a',
      accept: { list: 'list-accept', watch: 'watch-accept' },
      handler: {
        replace: () => calls.push('replace'),
        pages: {
          begin: () => calls.push('begin'),
          page: (items) => calls.push(`page ${items.map((i) => i.metadata.name).join(',')}`),
          end: () => calls.push('end'),
        },
        event: () => undefined,
      },
      logger: captureLogger([]),
      backoff: { initialMs: 5, maxMs: 40 },
      watchTimeoutSeconds: () => 300,
    });
    running.push(lw);
    let expireOnce = true;
    transport.lists.set(PATH, (query) => {
      const token = query.get('continue');
      if (token === null) return { resourceVersion: '10', items: [meta('a', 'p1', '5')], continue: 'page-2' };
      if (expireOnce) {
        expireOnce = false;
        throw new KubeHttpError(410, 'Expired', 'HTTP 410: The provided continue parameter is too old');
      }
      return { resourceVersion: '10', items: [meta('a', 'p2', '6'), meta('a', 'p3', '7')] };
    });
    lw.start();
    await lw.whenSynced();
    assert.deepEqual(calls, ['begin', 'page p1', 'begin', 'page p1', 'page p2,p3', 'end']);
  });

  it('resumes a closed watch from the last event or bookmark without relisting', async () => {
    const { transport, lw, lines } = setup();
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    const first = await transport.openWatch(PATH);
    first.send('ADDED', meta('a', 'y', '11'));
    first.send('BOOKMARK', { metadata: { name: '', resourceVersion: '15' } });
    first.end();
    const second = await transport.openWatch(PATH, transport.watches.indexOf(first) + 1);
    assert.equal(second.query.get('resourceVersion'), '15');
    assert.equal(transport.count('list', PATH), 1);
    // A watch that ended early is logged as a restart with its reason.
    assert.ok(lines.some((l) => l.msg === 'informer restarting' && l.fields.reason === 'the watch was closed by the server'));
  });

  it('re-watches quietly when a watch ran its course (the server-side timeout)', async () => {
    let clock = 1_000_000;
    const { transport, lw, lines } = setup({ initialMs: 5, maxMs: 40, healthyMs: 1000 }, () => clock);
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    const first = await transport.openWatch(PATH);
    clock += 1000;
    first.end();
    await transport.openWatch(PATH, 1);
    assert.deepEqual(lines.filter((l) => l.level !== 'info'), []);
    assert.equal(lw.lastError, undefined);
  });

  it('relists after an ERROR 410 event and hands the new complete set to the handler', async () => {
    const { transport, lw, replaced, lines } = setup();
    let items = [meta('a', 'x', '9'), meta('a', 'y', '9')];
    let rv = '10';
    transport.lists.set(PATH, () => ({ resourceVersion: rv, items }));
    lw.start();
    const w = await transport.openWatch(PATH);
    items = [meta('a', 'x', '9')];
    rv = '50';
    w.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (40)' });
    await until(() => replaced.length === 2, 'a relist');
    assert.deepEqual(replaced, [['x', 'y'], ['x']]);
    const next = await transport.openWatch(PATH, transport.watches.indexOf(w) + 1);
    assert.equal(next.query.get('resourceVersion'), '50');
    const relist = lines.find((l) => l.msg.includes('(410); relisting'));
    assert.equal(relist?.fields.reason, 'too old resource version: 10 (40)');
    // The first 410 relists at once: no backoff line.
    assert.equal(lines.filter((l) => l.msg === 'informer restarting').length, 0);
  });

  it('relists when the watch request itself is answered 410', async () => {
    const { transport, lw, replaced } = setup();
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    const w = await transport.openWatch(PATH);
    transport.watchErrors.set(PATH, new KubeHttpError(410, 'Gone', 'HTTP 410: gone'));
    w.end();
    await until(() => replaced.length === 2, 'a relist');
  });

  it('backs off when a 410 follows right after a relist instead of looping', async () => {
    const { transport, lw, lines } = setup({ initialMs: 50, maxMs: 50 });
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    for (let i = 0; i < 2; i++) {
      const w = await transport.openWatch(PATH, i);
      w.send('ERROR', { kind: 'Status', code: 410, message: 'too old' });
      await until(() => transport.count('list', PATH) === i + 2, `relist ${i + 1}`);
    }
    const backoff = lines.find((l) => l.msg === 'informer restarting');
    assert.match(String(backoff?.fields.reason), /410 again right after a relist/);
    assert.ok(Number(backoff?.fields.retryInMs) >= 25);
  });

  it('retries a failing list with backoff, reports the reason, and syncs once it succeeds', async () => {
    const { transport, lw, lines } = setup();
    let calls = 0;
    transport.lists.set(PATH, () => {
      calls++;
      if (calls <= 3) throw new KubeHttpError(calls === 3 ? 429 : 500, undefined, `HTTP ${calls === 3 ? 429 : 500}: busy`);
      return { resourceVersion: '10', items: [] };
    });
    lw.start();
    await until(() => calls >= 1 && lw.lastError !== undefined, 'the first failure');
    assert.equal(lw.synced, false);
    assert.match(String(lw.lastError), /HTTP 500: busy/);
    await lw.whenSynced();
    assert.equal(lw.lastError, undefined);
    const restarts = lines.filter((l) => l.msg === 'informer restarting');
    assert.deepEqual(restarts.map((l) => l.fields.reason), ['HTTP 500: busy', 'HTTP 500: busy', 'HTTP 429: busy']);
    assert.deepEqual(restarts.map((l) => l.fields.failures), [1, 2, 3]);
    assert.ok(restarts.every((l) => l.level === 'warn' && l.fields.resource === 'configmaps' && l.fields.namespace === 'a'));
    assert.ok(lines.some((l) => l.msg === 'informer recovered'));
  });

  it('restarts after a broken connection and counts a watch accepted by the server as fresh', async () => {
    const { transport, lw } = setup();
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    const w = await transport.openWatch(PATH);
    const before = lw.lastActivity;
    await new Promise((r) => setTimeout(r, 20));
    w.fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    const next = await transport.openWatch(PATH, transport.watches.indexOf(w) + 1);
    assert.equal(next.query.get('resourceVersion'), '10');
    // No relist and no event: accepting the old resourceVersion is what makes it fresh.
    assert.equal(transport.count('list', PATH), 1);
    assert.ok(lw.lastActivity > before);
    const opened = lw.lastActivity;
    await new Promise((r) => setTimeout(r, 20));
    next.send('BOOKMARK', { metadata: { name: '', resourceVersion: '12' } });
    await until(() => lw.lastActivity > opened, 'a bookmark counts too');
  });

  it('stop() aborts the open watch and the backoff sleep, leaving no timers behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timers();
    const { transport, lw } = setup({ initialMs: 60_000, maxMs: 60_000 });
    transport.lists.set(PATH, () => ({ resourceVersion: '10', items: [] }));
    lw.start();
    const w = await transport.openWatch(PATH);
    await lw.stop();
    assert.equal(w.closed, true);

    const failing = setup({ initialMs: 60_000, maxMs: 60_000 });
    failing.lw.start();
    await until(() => failing.lines.some((l) => l.msg === 'informer restarting'), 'a backoff sleep');
    assert.ok(timers() > baseline, 'the 60 s sleep is pending');
    const t = Date.now();
    await failing.lw.stop();
    assert.ok(Date.now() - t < 1000);
    await new Promise((r) => setImmediate(r));
    assert.equal(timers(), baseline);
  });
});
