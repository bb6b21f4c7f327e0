// One full read of the manifest folder: list, parse, admit, de-duplicate.
// The result is what the store should hold now, in "creation" order (file
// path, then document index), plus every refused document as a problem.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { admitDocument, type Admit } from './admission.ts';
import { listManifestFiles, listingFingerprint, type ManifestFile } from './list-manifest-files.ts';
import { describeObject, objectKey } from './object-key.ts';
import { parseManifests } from './parse-manifests.ts';
import type { SourceProblem, StoredObject } from './types.ts';

export const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** `file` of the objects the process injects itself (see `overlay`). */
export const OVERLAY_FILE = '<operator>';

export interface LoadedObject {
  object: StoredObject;
  file: string;
  documentIndex: number;
  path: string;
}

export interface LoadResult {
  /** False when the folder is missing or unreadable: fail closed, nothing but the overlay is loaded. */
  exists: boolean;
  dirId: string;
  /** Cheap summary of the files read (see listingFingerprint). */
  fingerprint: string;
  objects: LoadedObject[];
  problems: SourceProblem[];
}

/** What one file gave, in document order: admitted objects and refused documents. */
type FileOutcome = ({ object: LoadedObject } | { problems: SourceProblem[] })[];

/**
 * The outcome of each file's last parse and admission, by the SHA-256 of its
 * text: a reload parses and admits only the files whose content changed.
 * With 20,000 bindings in the folder, parsing and admitting them all again
 * made a Secret edit (a certificate removal) wait 5 to 7 s behind them.
 * Admission of a document depends on that document alone, so a cached
 * outcome is exactly what a fresh one would be; duplicates across files are
 * still decided on every load.
 */
export class ManifestCache {
  readonly #files = new Map<string, { digest: string; outcome: FileOutcome }>();

  outcome(path: string, text: string, compute: () => FileOutcome): FileOutcome {
    const digest = createHash('sha256').update(text).digest('base64');
    const cached = this.#files.get(path);
    if (cached?.digest === digest) return cached.outcome;
    const outcome = compute();
    this.#files.set(path, { digest, outcome });
    return outcome;
  }

  /** Forgets files that are no longer in the folder. */
  retain(paths: ReadonlySet<string>): void {
    for (const path of this.#files.keys()) if (!paths.has(path)) this.#files.delete(path);
  }
}

/**
 * @param overlay already-normalized objects the process provides; they come
 * first, so a manifest defining the same object is the duplicate.
 * @param cache keeps each file's outcome across loads (the directory store's own).
 */
export async function loadManifests(dir: string, admit: Admit, overlay: readonly StoredObject[] = [], cache = new ManifestCache()): Promise<LoadResult> {
  const listing = await listManifestFiles(dir);
  const loaded = await loadManifestFiles(listing.files, admit, overlay, cache);
  const problems: SourceProblem[] = [...listing.problems, ...loaded.problems];
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.documentIndex - b.documentIndex));
  return { exists: listing.exists, dirId: listing.dirId, fingerprint: listingFingerprint(listing), objects: loaded.objects, problems };
}

/**
 * The files given, in their order: read, parse, admit, de-duplicate (the
 * first definition of an object wins). Problems name each file by its `path`.
 * loadManifests runs this on a folder's listing; the admin CLI on the files
 * and folders it is given.
 */
export async function loadManifestFiles(
  files: readonly ManifestFile[],
  admit: Admit,
  overlay: readonly StoredObject[] = [],
  cache = new ManifestCache(),
): Promise<{ objects: LoadedObject[]; problems: SourceProblem[] }> {
  const problems: SourceProblem[] = [];
  const objects: LoadedObject[] = [];
  const byKey = new Map<string, LoadedObject>();
  const keep = (loaded: LoadedObject): void => {
    const { kind, metadata } = loaded.object;
    const key = objectKey(kind, metadata.namespace, metadata.name);
    const first = byKey.get(key);
    if (first === undefined) {
      byKey.set(key, loaded);
      objects.push(loaded);
      return;
    }
    const where = first.file === OVERLAY_FILE ? 'is provided by the operator itself' : `is already defined in ${first.file} (document ${first.documentIndex})`;
    problems.push({
      file: loaded.file,
      documentIndex: loaded.documentIndex,
      path: loaded.path,
      reason: 'DuplicateObject',
      message: `${describeObject(kind, metadata.namespace, metadata.name)} ${where}; this definition is ignored`,
      object: { kind, namespace: metadata.namespace, name: metadata.name },
    });
  };

  overlay.forEach((object, i) => keep({ object, file: OVERLAY_FILE, documentIndex: i, path: '$' }));

  const texts = await Promise.all(files.map((file) => readManifest(file)));
  files.forEach((file, i) => {
    const text = texts[i];
    if (text === undefined) return;
    if (typeof text !== 'string') {
      problems.push(text);
      return;
    }
    const outcome = cache.outcome(file.path, text, () => {
      const parsed = parseManifests(file.path, text);
      const out: FileOutcome = [{ problems: parsed.problems }];
      for (const doc of parsed.documents) {
        const admitted = admitDocument(admit, doc);
        out.push(admitted.ok ? { object: { object: admitted.object, file: doc.file, documentIndex: doc.documentIndex, path: doc.path } } : { problems: admitted.problems });
      }
      return out;
    });
    for (const entry of outcome) {
      if ('object' in entry) keep(entry.object);
      else problems.push(...entry.problems);
    }
  });
  cache.retain(new Set(files.map((f) => f.path)));
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.documentIndex - b.documentIndex));
  return { objects, problems };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text, a problem, or undefined when the file vanished since listing. */
async function readManifest(file: ManifestFile): Promise<string | SourceProblem | undefined> {
  const problem = (reason: string, message: string): SourceProblem => ({ file: file.path, documentIndex: 0, path: '$', reason, message });
  if (file.size > MAX_FILE_BYTES) return problem('FileTooLarge', `${file.path} is ${file.size} bytes; the limit is ${MAX_FILE_BYTES}`);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file.absolutePath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return problem('FileUnreadable', `cannot read ${file.path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (bytes.length > MAX_FILE_BYTES) return problem('FileTooLarge', `${file.path} is over ${MAX_FILE_BYTES} bytes`);
  try {
    return utf8.decode(bytes);
  } catch {
    return problem('InvalidEncoding', `${file.path} is not valid UTF-8`);
  }
}
