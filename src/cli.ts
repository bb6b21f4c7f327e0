#!/usr/bin/env node
// Entry point: `sso-operator <command> [flags]` (run, check, crds, login-url,
// status, requests, help), also installed as the kubectl plugin `kubectl-sso`. The
// commands live in src/cli/.

import { main, processIO } from './cli/main.ts';

const io = processIO();

/** Exits once stdout and stderr have flushed (a pipe may still hold the output). */
function exit(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv.slice(2), io).then(
  (code) => {
    if (code !== 'running') exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`${io.prog}: ${(err as Error).message}\n`);
    exit(1);
  },
);
