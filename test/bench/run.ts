// ACS validation benchmark: `npm run bench` (or `node test/bench/run.ts [--quick]`).
//
// Measures validateResponse against samlify and @node-saml/node-saml (in
// this process), crewjam/saml, gosaml2 and python3-saml (in their own
// processes, see test/support/saml-peers.ts) and one XML parse (the floor) on
// the same pre-generated responses in the same run, prints a table with the
// ratio peer / ours, the targets, one whole login through the HTTP
// layer, and a final `BENCH_JSON {...}` line for comparing runs. Speed claims
// are checked here, never by timed tests. Exit code 1 when any validation of
// a valid response failed (a missed target is printed, not an error).
//
// Memory figures need a full GC between segments: without --expose-gc this
// script re-runs itself in a child process with it.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);

if (typeof globalThis.gc !== 'function' && process.env.SSO_BENCH_CHILD !== '1') {
  const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, SSO_BENCH_CHILD: '1' },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const { main } = await import('./bench.ts');
  try {
    const code = await main(argv);
    // Nothing should be left running; exit explicitly so a stray handle cannot keep the run alive.
    process.exit(code);
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
}
