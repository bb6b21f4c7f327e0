// The admin CLI's dispatcher: `sso-operator <command> [flags]`, the same
// when invoked as the kubectl plugin `kubectl-sso` (kubectl sso <command>).
// Every command returns its exit code: 0 ok, 1 problems found (or the
// command failed), 2 usage error.

import path from 'node:path';
import { ConfigError } from '../config.ts';
import { EXIT, UsageError, type CliIO } from './io.ts';
import { isCommand, usage, type Command } from './usage.ts';

export type { CliIO } from './io.ts';

type Handler = (argv: string[], io: CliIO) => Promise<number | 'help' | 'running'>;

/** Each command's module is loaded when it runs: `--help` and `crds` need neither the operator nor the compilers. */
const HANDLERS: Record<Exclude<Command, 'help'>, () => Promise<Handler>> = {
  run: async () => (await import('./run.ts')).runCommand,
  check: async () => (await import('./check.ts')).checkCommand,
  crds: async () => (await import('./crds.ts')).crdsCommand,
  'login-url': async () => (await import('./login-url.ts')).loginURLCommand,
  status: async () => (await import('./status.ts')).statusCommand,
  requests: async () => (await import('./requests.ts')).requestsCommand,
};

/** `kubectl sso` when invoked as the kubectl plugin (kubectl-sso), else `sso-operator`. */
export function programName(argv1: string | undefined): string {
  const base = path.basename(argv1 ?? '').replace(/\.(ts|js|mjs)$/, '');
  return base === 'kubectl-sso' ? 'kubectl sso' : 'sso-operator';
}

/**
 * Runs one command line (without the program name). Resolves with the exit
 * code, or 'running' when `run` started the operator (the process then lives
 * on its own until a signal).
 */
export async function main(argv: string[], io: CliIO): Promise<number | 'running'> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr(`${usage('main', io.prog)}\n`);
    return EXIT.usage;
  }
  if (command === '--help' || command === '-h') {
    io.stdout(`${usage('main', io.prog)}\n`);
    return EXIT.ok;
  }
  if (command === 'help') {
    const [topic, ...extra] = rest;
    if (topic === undefined) {
      io.stdout(`${usage('main', io.prog)}\n`);
      return EXIT.ok;
    }
    if (!isCommand(topic) || extra.length > 0) {
      io.stderr(`${io.prog} help: ${extra.length > 0 ? 'one command at a time' : `unknown command ${JSON.stringify(topic)}`}\n\n${usage('main', io.prog)}\n`);
      return EXIT.usage;
    }
    io.stdout(`${usage(topic, io.prog)}\n`);
    return EXIT.ok;
  }
  if (!isCommand(command)) {
    io.stderr(`${io.prog}: unknown command ${JSON.stringify(command)}\n\n${usage('main', io.prog)}\n`);
    return EXIT.usage;
  }
  try {
    const handler = await HANDLERS[command as Exclude<Command, 'help'>]();
    const result = await handler(rest, io);
    if (result === 'help') {
      io.stdout(`${usage(command, io.prog)}\n`);
      return EXIT.ok;
    }
    return result;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr(`${io.prog} ${command}: ${err.message}\nRun '${io.prog} ${command} --help' for usage.\n`);
      return EXIT.usage;
    }
    if (err instanceof Error && err.name === 'ClusterError') {
      io.stderr(`${io.prog} ${command}: ${err.message}\n`);
      return EXIT.problems;
    }
    throw err;
  }
}

/** The process's own streams and environment. */
export function processIO(): CliIO {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    prog: programName(process.argv[1]),
  };
}
