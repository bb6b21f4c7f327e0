// One manifest file's text -> its documents (JSON values), with `kind: List`
// expanded, empty documents dropped and syntax errors as problems. A broken
// document does not hide the others of the same file.

import { parseAllDocuments, type Document } from 'yaml';
import { identityOf, isRecord, readIdentity, type DocumentIdentity } from './document-identity.ts';
import { childPath } from './json-path.ts';
import type { SourceProblem } from './types.ts';

export interface ManifestDocument {
  /** Relative to the manifest directory, `/`-separated. */
  file: string;
  documentIndex: number;
  /** `$` for a whole document, `$.items[n]` for an item of a List. */
  path: string;
  value: unknown;
}

export interface ParsedManifests {
  documents: ManifestDocument[];
  problems: SourceProblem[];
}

export function parseManifests(file: string, text: string): ParsedManifests {
  const result: ParsedManifests = { documents: [], problems: [] };
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  docs.forEach((doc, documentIndex) => {
    const problem = (path: string, reason: string, message: string, object?: DocumentIdentity): void => {
      result.problems.push({ file, documentIndex, path, reason, message, ...(object ? { object } : {}) });
    };
    const [error] = doc.errors;
    if (error !== undefined) {
      const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : '';
      problem('$', 'YAMLSyntaxError', firstLine(error.message) + more, partialIdentity(doc));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      problem('$', 'YAMLSyntaxError', firstLine(err instanceof Error ? err.message : String(err)), partialIdentity(doc));
      return;
    }
    if (value === null || value === undefined) return;
    const unsupported = findUnsupportedValue(value, '$');
    if (unsupported !== undefined) {
      problem(unsupported.path, 'InvalidValue', unsupported.message, identityOf(value));
      return;
    }
    if (isRecord(value) && value.kind === 'List') {
      if (!Array.isArray(value.items)) {
        problem('$.items', 'Invalid', 'a List must have an items array', identityOf(value));
        return;
      }
      value.items.forEach((item: unknown, i: number) => {
        result.documents.push({ file, documentIndex, path: childPath('$.items', i), value: item });
      });
      return;
    }
    result.documents.push({ file, documentIndex, path: '$', value });
  });
  return result;
}

/** yaml's pretty messages end with a code excerpt; keep "... at line L, column C". */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:\s*$/, '');
}

function partialIdentity(doc: Document.Parsed): DocumentIdentity | undefined {
  try {
    return readIdentity(doc.get('kind'), doc.getIn(['metadata', 'namespace']), doc.getIn(['metadata', 'name']));
  } catch {
    return undefined;
  }
}

/** Only what JSON can say may reach admission (no !!binary, .inf, ...). */
function findUnsupportedValue(value: unknown, path: string): { path: string; message: string } | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path, message: `${value} is not a JSON number` };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnsupportedValue(value[i], childPath(path, i));
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, entry] of Object.entries(value)) {
      const found = findUnsupportedValue(entry, childPath(path, key));
      if (found) return found;
    }
    return undefined;
  }
  const what = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  return { path, message: `a ${what} value cannot be represented in JSON` };
}
