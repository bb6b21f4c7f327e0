// Logs each refused document once, when it appears, and once more when it
// is gone; a reload that finds the same problems logs nothing.

import type { StoreLogger } from './logger.ts';
import type { SourceProblem } from './types.ts';

export class ProblemReporter {
  readonly #logger: StoreLogger;
  #known = new Map<string, SourceProblem>();

  constructor(logger: StoreLogger) {
    this.#logger = logger;
  }

  update(problems: readonly SourceProblem[]): void {
    const current = new Map<string, SourceProblem>();
    for (const problem of problems) current.set(signature(problem), problem);
    for (const [sig, problem] of current) {
      if (!this.#known.has(sig)) this.#logger.warn({ problem }, `manifest refused: ${describe(problem)}`);
    }
    for (const [sig, problem] of this.#known) {
      if (!current.has(sig)) {
        this.#logger.info({ problem: { file: problem.file, documentIndex: problem.documentIndex, reason: problem.reason, object: problem.object } }, 'manifest problem resolved');
      }
    }
    this.#known = current;
  }
}

function signature(p: SourceProblem): string {
  return JSON.stringify([p.file, p.documentIndex, p.path, p.reason, p.message, p.object?.kind, p.object?.namespace, p.object?.name]);
}

function describe(p: SourceProblem): string {
  const where = p.file === '.' ? '' : `${p.file} document ${p.documentIndex}`;
  const field = p.path === '$' ? '' : ` at ${p.path}`;
  const what = p.object?.name !== undefined ? ` (${p.object.kind} ${p.object.namespace}/${p.object.name})` : '';
  return `${where}${field}${what}: ${p.reason}: ${p.message}`.replace(/^: /, '');
}
