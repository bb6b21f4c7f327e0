import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from '@jest/globals';
import { chartMemoryLimitMiB, operatorRuntime } from '../support/operator-runtime.ts';

const VALUES = 'image:\n  tag: x\nresources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\n  limits:\n    memory: 512Mi\n\nother: 1\n';
let dir: string | undefined;

async function tree(dockerfile: string, values = VALUES): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'sso-runtime-'));
  await mkdir(join(dir, 'charts', 'sso-operator'), { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  await writeFile(join(dir, 'charts', 'sso-operator', 'values.yaml'), values);
  return dir;
}

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('operatorRuntime (how harnesses start the operator: as the image does)', () => {
  it("reads the image's node flags, with the heap share of the chart's memory limit as a size, and its memory settings", async () => {
    const root = await tree('FROM x\nENV NODE_ENV=production\nENV MALLOC_ARENA_MAX=2 NODE_COMPILE_CACHE=/app/.cc\nENTRYPOINT ["node", "--max-old-space-size-percentage=75", "--max-semi-space-size=4", "src/cli.ts"]\nCMD ["run"]\n');
    const r = operatorRuntime(root);
    assert.deepEqual(r.nodeArgs, ['--max-old-space-size=384', '--max-semi-space-size=4']);
    assert.equal(r.env.MALLOC_ARENA_MAX, '2');
    assert.ok(r.env.NODE_COMPILE_CACHE && r.env.NODE_COMPILE_CACHE !== '/app/.cc', 'a cache of its own, not the image path');
    assert.equal(r.env.NODE_ENV, undefined);
  });

  it('follows a changed limit, and refuses an ENTRYPOINT it cannot read', async () => {
    assert.equal(chartMemoryLimitMiB(await tree('', VALUES.replace('512Mi', '1Gi'))), 1024);
    await rm(dir!, { recursive: true });
    await assert.rejects(async () => operatorRuntime(await tree('ENTRYPOINT node src/cli.ts\n')), /ENTRYPOINT/);
  });

  it("matches this repository's Dockerfile and chart", () => {
    const r = operatorRuntime();
    assert.ok(r.nodeArgs.some((a) => /^--max-old-space-size=\d+$/.test(a)), r.nodeArgs.join(' '));
    assert.equal(chartMemoryLimitMiB(), 512);
  });
});
