// `crds`: the CustomResourceDefinitions generated from the resource model
// compiled into this binary (src/api, renderCrds: what tools/gen-crds.ts
// writes to crds/), so the output never depends on the repository layout.

import { renderCrds } from '../api/index.ts';
import { EXIT, parseFlags, UsageError, type CliIO } from './io.ts';

/** Every CRD file's text, by file name, concatenated: one multi-document YAML stream. */
export function crdsText(): string {
  const files = renderCrds();
  return [...files.keys()].sort().map((name) => files.get(name)!).join('');
}

export async function crdsCommand(argv: string[], io: CliIO): Promise<number | 'help'> {
  const { values, positionals } = parseFlags(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  io.stdout(crdsText());
  return EXIT.ok;
}
