// What every command of the admin CLI gets: where to write, the environment,
// the folder relative paths start from, and the name it was invoked by
// (`sso-operator`, or `kubectl sso` as a kubectl plugin). Commands return
// their exit code instead of exiting, so tests call them in-process.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Relative FILE and DIR arguments are resolved against this folder. */
  cwd: string;
  /** `sso-operator`, or `kubectl sso` when run as the kubectl plugin. */
  prog: string;
  now?: () => Date;
}

/** Exit codes, the same for every command. */
export const EXIT = { ok: 0, problems: 1, usage: 2 } as const;

/** A command line the command cannot run: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs, strict, with its errors as UsageError (first sentence
 * only: its advice about `--` is noise here).
 */
export function parseFlags<O extends Options>(argv: string[], options: O, positionals: boolean) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (err) {
    const message = (err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
    throw new UsageError(message);
  }
}

/** `-o` values a command accepts; anything else is a usage error. */
export function outputFormat<T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--output must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
