// The manifest files under a folder: *.yaml, *.yml, *.json, recursively,
// skipping dotfiles and dot-folders (which also skips the `..data` folders
// of a mounted ConfigMap while following its `name.yaml -> ..data/name.yaml`
// links). Sorted by relative path, so "first" is deterministic.

import { promises as fsp, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import type { SourceProblem } from './types.ts';

export interface ManifestFile {
  /** Relative to the folder, `/`-separated. */
  path: string;
  absolutePath: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface ManifestListing {
  /** False when the folder is missing or unreadable (then `problems` says why). */
  exists: boolean;
  /** `dev:ino` of the folder itself, to notice it being replaced. */
  dirId: string;
  files: ManifestFile[];
  problems: SourceProblem[];
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export async function listManifestFiles(dir: string): Promise<ManifestListing> {
  const root = path.resolve(dir);
  const listing: ManifestListing = { exists: false, dirId: '', files: [], problems: [] };
  let rootStat: Stats;
  try {
    rootStat = await fsp.stat(root);
  } catch (err) {
    listing.problems.push(folderProblem(root, err));
    return listing;
  }
  if (!rootStat.isDirectory()) {
    listing.problems.push({ file: '.', documentIndex: 0, path: '$', reason: 'DirectoryMissing', message: `manifest directory ${root} is not a directory` });
    return listing;
  }
  listing.dirId = `${rootStat.dev}:${rootStat.ino}`;
  const visited = new Set<string>();
  try {
    await walk(root, '', visited, listing, true);
  } catch (err) {
    listing.problems.push(folderProblem(root, err));
    return { ...listing, files: [] };
  }
  listing.exists = true;
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  listing.problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return listing;
}

/** Cheap summary of a listing; a different value means "read again". */
export function listingFingerprint(listing: ManifestListing): string {
  if (!listing.exists) return `missing:${listing.problems.map((p) => p.reason).join(',')}`;
  return [listing.dirId, ...listing.files.map((f) => `${f.path}\u0000${f.size}\u0000${f.mtimeMs}\u0000${f.ino}`)].join('\n');
}

async function walk(absolute: string, relative: string, visited: Set<string>, listing: ManifestListing, isRoot: boolean): Promise<void> {
  let real: string;
  try {
    real = await fsp.realpath(absolute);
  } catch (err) {
    if (isRoot) throw err;
    return; // vanished while walking; the next rescan sees the result
  }
  if (visited.has(real)) return; // a link loop
  visited.add(real);
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(absolute, { withFileTypes: true });
  } catch (err) {
    if (isRoot) throw err;
    if (code(err) !== 'ENOENT') {
      listing.problems.push({ file: relative, documentIndex: 0, path: '$', reason: 'DirectoryUnreadable', message: `cannot read folder ${relative}: ${message(err)}` });
    }
    return;
  }
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.name.startsWith('.')) return;
      const childAbsolute = path.join(absolute, entry.name);
      const childRelative = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const wanted = EXTENSIONS.has(path.extname(entry.name).toLowerCase());
      if (entry.isFile() && !wanted) return;
      if (!entry.isFile() && !entry.isDirectory() && !entry.isSymbolicLink()) return;
      let stat: Stats;
      try {
        stat = await fsp.stat(childAbsolute);
      } catch (err) {
        if (code(err) !== 'ENOENT') {
          listing.problems.push({ file: childRelative, documentIndex: 0, path: '$', reason: 'FileUnreadable', message: `cannot read ${childRelative}: ${message(err)}` });
        }
        return; // a dangling link or a file removed meanwhile
      }
      if (stat.isDirectory()) {
        await walk(childAbsolute, childRelative, visited, listing, false);
      } else if (stat.isFile() && wanted) {
        listing.files.push({ path: childRelative, absolutePath: childAbsolute, size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino });
      }
    }),
  );
}

function folderProblem(root: string, err: unknown): SourceProblem {
  const missing = code(err) === 'ENOENT' || code(err) === 'ENOTDIR';
  return {
    file: '.',
    documentIndex: 0,
    path: '$',
    reason: missing ? 'DirectoryMissing' : 'DirectoryUnreadable',
    message: missing ? `manifest directory ${root} does not exist` : `cannot read manifest directory ${root}: ${message(err)}`,
  };
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
