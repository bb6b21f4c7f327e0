// Standalone mode's admission: the schema/CEL checks come from outside (the
// `admit` function of src/api, passed in); this file turns its answer for
// one document into a stored object or into problems.

import { identityOf } from './document-identity.ts';
import { underPath } from './json-path.ts';
import { normalizeObject } from './normalize-object.ts';
import { isKind, KINDS } from './object-key.ts';
import type { ManifestDocument } from './parse-manifests.ts';
import type { SourceProblem, StoredObject } from './types.ts';

export interface AdmissionError {
  path: string;
  reason: string;
  message: string;
}

export type AdmittedObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} & Record<string, unknown>;

export type AdmitResult = { ok: true; object: AdmittedObject } | { ok: false; errors: AdmissionError[] };

/** Validates (and may default) one document; src/api exports one as `admit`. */
export type Admit = (doc: unknown) => AdmitResult;

export type AdmissionOutcome = { ok: true; object: StoredObject } | { ok: false; problems: SourceProblem[] };

export function admitDocument(admit: Admit, doc: ManifestDocument): AdmissionOutcome {
  const identity = identityOf(doc.value);
  const refuse = (errors: AdmissionError[]): AdmissionOutcome => ({
    ok: false,
    problems: errors.map((e) => ({
      file: doc.file,
      documentIndex: doc.documentIndex,
      path: underPath(doc.path, e.path),
      reason: e.reason,
      message: e.message,
      ...(identity ? { object: identity } : {}),
    })),
  });

  let result: AdmitResult;
  try {
    result = admit(doc.value);
  } catch (err) {
    return refuse([{ path: '$', reason: 'AdmissionFailed', message: `admission failed: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  if (!result.ok) {
    return refuse(
      result.errors.length > 0 ? result.errors : [{ path: '$', reason: 'Invalid', message: 'the document was refused' }],
    );
  }
  const admitted = result.object;
  if (!isKind(admitted.kind)) {
    return refuse([
      { path: '$.kind', reason: 'UnsupportedKind', message: `kind ${JSON.stringify(admitted.kind)} is not served here (expected one of ${KINDS.join(', ')})` },
    ]);
  }
  const normalized = normalizeObject(admitted as unknown as StoredObject);
  return normalized.ok ? normalized : refuse(normalized.problems);
}
