// Runs the admin CLI in-process (src/cli/main.ts main) with captured output,
// as `sso-operator <argv>` would from `cwd`.

import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface CliRun {
  code: number | 'running';
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; prog?: string; now?: Date } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: o.env ?? {},
    cwd: o.cwd ?? REPO,
    prog: o.prog ?? 'sso-operator',
    ...(o.now ? { now: () => o.now! } : {}),
  });
  return { code, stdout, stderr };
}
