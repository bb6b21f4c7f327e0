import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { fileURLToPath } from 'node:url';
import { DirectoryStore } from '../../../src/store/directory-store.ts';
import type { StoreEvent } from '../../../src/store/types.ts';
import { connector, sleep, tempDir } from './helpers.ts';
import { fakeAdmit } from './fake-admit.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

test('after stop() no watcher or timer reacts any more', async () => {
  for (const watch of [true, false]) {
    const { dir, cleanup } = tempDir();
    onCleanup(cleanup);
    writeFileSync(path.join(dir, 'c.yaml'), connector('a'));
    const store = new DirectoryStore({ dir, admit: fakeAdmit, watch, rescanMs: 30 });
    await store.start();
    const events: StoreEvent[] = [];
    store.onChange((e) => events.push(e));
    await store.stop();
    writeFileSync(path.join(dir, 'c.yaml'), connector('a', '  description: after stop'));
    await sleep(250);
    assert.deepEqual(events, [], `watch=${watch}`);
    assert.equal(store.get('SsoConnector', 'default', 'a')?.metadata.generation, 1);
  }
});

test('a process that used the store exits by itself after stop()', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(path.join(dir, 'c.yaml'), connector('a'));
    const script = `
      import { writeFileSync } from 'node:fs';
      import { DirectoryStore } from ${JSON.stringify(path.resolve(here, '../../../src/store/directory-store.ts'))};
      import { fakeAdmit } from ${JSON.stringify(path.resolve(here, 'fake-admit.ts'))};
      const baseline = process.getActiveResourcesInfo().length;
      const store = new DirectoryStore({ dir: ${JSON.stringify(dir)}, admit: fakeAdmit, rescanMs: 20 });
      await store.start();
      const changed = new Promise((resolve) => store.onChange(resolve));
      writeFileSync(${JSON.stringify(path.join(dir, 'c.yaml'))}, 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n');
      // The store's own watcher and timers never hold the process open.
      const keepAlive = setInterval(() => {}, 1000);
      await changed;
      clearInterval(keepAlive);
      await store.stop();
      await new Promise((resolve) => setTimeout(resolve, 50)); // let in-flight fs closes settle
      console.log(JSON.stringify({ left: process.getActiveResourcesInfo().length - baseline, objects: store.list('ConfigMap').length }));
    `;
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      );
    });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop() ?? '{}'), { left: 0, objects: 1 });
    assert.ok(Date.now() - started < 10_000);
  } finally {
    cleanup();
  }
});
