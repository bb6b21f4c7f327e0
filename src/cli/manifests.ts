// The manifests the CLI is given (files and folders), read exactly as the
// standalone operator reads its folder: the same listing rules for folders,
// the same reading, YAML parsing, admission and duplicate detection
// (store/load-manifests.ts), with the problems naming each file as the user
// gave it (`examples/connector.yaml`).

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { admit } from '../api/index.ts';
import { listManifestFiles, type ManifestFile } from '../store/list-manifest-files.ts';
import { loadManifestFiles, OVERLAY_FILE, type LoadedObject } from '../store/load-manifests.ts';
import type { SourceProblem, StoredObject } from '../store/types.ts';

export interface ManifestSet {
  /** Files read. */
  files: number;
  /** Every object admitted, the overlay's (file OVERLAY_FILE) first. */
  objects: LoadedObject[];
  /** Documents refused, unreadable files, duplicates. */
  problems: SourceProblem[];
}

/** `dir` + a path relative to it, as the user would type it. */
function under(dir: string, relative: string): string {
  if (relative === '.' || relative === '') return dir;
  return path.join(dir, relative).split(path.sep).join('/');
}

/**
 * Reads FILE and DIR arguments in the order given (a file named twice, or
 * also found in a folder given, is read once). `overlay`: objects provided by
 * the process itself (the demo IdP's Secrets), as `run` injects them.
 */
export async function readManifests(args: readonly string[], cwd: string, overlay: readonly StoredObject[] = []): Promise<ManifestSet> {
  const files: ManifestFile[] = [];
  const problems: SourceProblem[] = [];
  const seen = new Set<string>();
  const add = async (file: ManifestFile): Promise<void> => {
    const real = await fsp.realpath(file.absolutePath).catch(() => file.absolutePath);
    if (seen.has(real)) return;
    seen.add(real);
    files.push(file);
  };
  for (const arg of args) {
    const absolute = path.resolve(cwd, arg);
    let stat;
    try {
      stat = await fsp.stat(absolute);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR';
      problems.push({
        file: arg,
        documentIndex: 0,
        path: '$',
        reason: missing ? 'FileNotFound' : 'FileUnreadable',
        message: missing ? `${arg} does not exist` : `cannot read ${arg}: ${(err as Error).message}`,
      });
      continue;
    }
    if (stat.isDirectory()) {
      const listing = await listManifestFiles(absolute);
      for (const p of listing.problems) problems.push({ ...p, file: under(arg, p.file) });
      for (const f of listing.files) await add({ ...f, path: under(arg, f.path) });
    } else {
      // A file named explicitly is read whatever its extension.
      await add({ path: arg.split(path.sep).join('/'), absolutePath: absolute, size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino });
    }
  }
  const loaded = await loadManifestFiles(files, admit, overlay);
  problems.push(...loaded.problems);
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.documentIndex - b.documentIndex));
  return { files: files.length, objects: loaded.objects, problems };
}

/** The objects that came from the manifests (not from the overlay). */
export function fromManifests(objects: readonly LoadedObject[]): LoadedObject[] {
  return objects.filter((o) => o.file !== OVERLAY_FILE);
}

/**
 * What `run --demo-idp` adds to the store: the demo IdP's signing certificate
 * and the demo OpenID Provider's client secret, made by the same code.
 */
export async function demoIdpOverlay(publicURL: string): Promise<StoredObject[]> {
  const [{ createDemoIdp }, { createDemoOp }] = await Promise.all([import('../demo-idp/app.ts'), import('../demo-idp/oidc-op.ts')]);
  const logger = pino({ level: 'silent' });
  const users = () => undefined;
  const idp = await createDemoIdp({ publicURL, logger, users });
  const op = await createDemoOp({ publicURL, logger, users });
  return [...idp.overlay, ...op.overlay];
}
