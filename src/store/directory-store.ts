// Standalone mode's store: the manifests of a folder, admitted like an
// apiserver would, watched, and diffed on every reload so that only real
// changes become events. Fail closed: a document that stops being valid,
// a deleted file and a vanished folder all delete their objects.

import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Admit } from './admission.ts';
import { listManifestFiles, listingFingerprint } from './list-manifest-files.ts';
import { loadManifests, ManifestCache } from './load-manifests.ts';
import { silentLogger, type StoreLogger } from './logger.ts';
import { normalizeObject } from './normalize-object.ts';
import { isKind, objectKey } from './object-key.ts';
import { ObjectTable } from './object-table.ts';
import { ProblemReporter } from './problem-reporter.ts';
import { TableBackedStore } from './table-backed-store.ts';
import type { SourceProblem, Store, StoredObject } from './types.ts';

export interface DirectoryStoreOptions {
  dir: string;
  admit: Admit;
  logger?: StoreLogger;
  /** Objects the process injects (e.g. the demo IdP's certificate Secret); a manifest cannot override them. */
  overlay?: StoredObject[];
  /** Quiet time after a file event before reloading (default 50 ms). */
  debounceMs?: number;
  /** Safety rescan period comparing file sizes and mtimes (default 5000 ms; 0 disables). */
  rescanMs?: number;
  /** Use fs.watch (default true); without it only the rescan notices changes. */
  watch?: boolean;
}

export class DirectoryStore extends TableBackedStore<ObjectTable> implements Store {
  readonly #dir: string;
  readonly #admit: Admit;
  readonly #logger: StoreLogger;
  readonly #debounceMs: number;
  readonly #rescanMs: number;
  readonly #useWatch: boolean;
  readonly #reporter: ProblemReporter;
  #overlay: StoredObject[];
  #problems: SourceProblem[] = [];
  /** Each file's parse and admission, reused while its content is unchanged. */
  readonly #cache = new ManifestCache();
  #synced = false;
  #started = false;
  #stopped = false;
  #watcher: FSWatcher | undefined;
  #watchedDirId = '';
  #fingerprint = '';
  #debounceTimer: NodeJS.Timeout | undefined;
  #pendingSince = 0;
  #rescanTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #rescanning = false;

  constructor(options: DirectoryStoreOptions) {
    const logger = options.logger ?? silentLogger;
    super(new ObjectTable({ logger }));
    this.#dir = path.resolve(options.dir);
    this.#admit = options.admit;
    this.#logger = logger;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#rescanMs = options.rescanMs ?? 5000;
    this.#useWatch = options.watch ?? true;
    this.#reporter = new ProblemReporter(this.#logger);
    this.#overlay = normalizeOverlay(options.overlay ?? []);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#stopped = false;
    await this.reload();
    if (this.#stopped) return;
    this.#synced = true;
    if (this.#rescanMs > 0) {
      this.#rescanTimer = setInterval(() => void this.#rescan(), this.#rescanMs);
      this.#rescanTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#started = false;
    this.#closeWatcher();
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = undefined;
    clearInterval(this.#rescanTimer);
    this.#rescanTimer = undefined;
    await this.#reloading;
  }

  synced(): boolean {
    return this.#synced;
  }

  problems(): SourceProblem[] {
    return this.#problems.map((p) => structuredClone(p));
  }

  /** Replaces the injected objects and reloads. */
  async setOverlay(objects: StoredObject[]): Promise<void> {
    this.#overlay = normalizeOverlay(objects);
    await this.reload();
  }

  /**
   * Reads the folder now and applies the differences; resolves once the
   * state reflects the files as they were when it was called. Concurrent
   * calls are folded into one extra pass.
   */
  async reload(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#reloadAgain = true;
      while (this.#reloading !== undefined) await this.#reloading;
      return;
    }
    const run = async (): Promise<void> => {
      do {
        this.#reloadAgain = false;
        await this.#reloadOnce();
      } while (this.#reloadAgain && !this.#stopped);
    };
    this.#reloading = run().finally(() => {
      this.#reloading = undefined;
    });
    await this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    const started = Date.now();
    let result: Awaited<ReturnType<typeof loadManifests>>;
    try {
      result = await loadManifests(this.#dir, this.#admit, this.#overlay, this.#cache);
    } catch (err) {
      this.#logger.error({ err, dir: this.#dir }, 'reading the manifest directory failed');
      return;
    }
    if (this.#stopped) return;
    this.#fingerprint = result.fingerprint;
    // Problems first: a listener seeing a delete can already ask why.
    this.#problems = result.problems;
    this.#reporter.update(result.problems);
    const held = new Set<string>();
    for (const p of result.problems) {
      const o = p.object;
      if (o !== undefined && isKind(o.kind) && o.namespace !== undefined && o.name !== undefined && p.reason !== 'DuplicateObject') {
        held.add(objectKey(o.kind, o.namespace, o.name));
      }
    }
    const events = this.table.replaceAll(
      result.objects.map((o) => o.object),
      held,
    );
    if (events.length > 0 || !this.#synced) {
      const count = (type: string): number => events.filter((e) => e.type === type).length;
      this.#logger.info(
        {
          dir: this.#dir,
          objects: this.table.size(),
          upserted: count('upsert'),
          deleted: count('delete'),
          problems: result.problems.length,
          ms: Date.now() - started,
        },
        this.#synced ? 'manifests reloaded' : 'manifests loaded',
      );
    }
    this.#maintainWatcher(result.exists, result.dirId);
  }

  #maintainWatcher(exists: boolean, dirId: string): void {
    if (!this.#useWatch || this.#stopped) return;
    if (!exists) {
      this.#closeWatcher();
      return;
    }
    if (this.#watcher !== undefined && this.#watchedDirId === dirId) return;
    this.#closeWatcher(); // the folder was replaced: the old watch sees nothing
    try {
      const watcher = watch(this.#dir, { recursive: true, persistent: false }, () => this.#schedule());
      watcher.on('error', (err) => {
        this.#logger.warn({ err, dir: this.#dir }, 'manifest directory watch failed; relying on rescans');
        if (this.#watcher === watcher) this.#closeWatcher();
        this.#schedule();
      });
      this.#watcher = watcher;
      this.#watchedDirId = dirId;
    } catch (err) {
      this.#logger.warn({ err, dir: this.#dir }, 'cannot watch the manifest directory; relying on rescans');
    }
  }

  #closeWatcher(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    this.#watchedDirId = '';
    watcher?.close();
  }

  /** Debounced reload: waits for `debounceMs` of quiet, but never more than 20x that overall. */
  #schedule(): void {
    if (this.#stopped) return;
    const now = Date.now();
    if (this.#debounceTimer === undefined) this.#pendingSince = now;
    clearTimeout(this.#debounceTimer);
    const deadline = this.#pendingSince + Math.max(1000, this.#debounceMs * 20);
    const delay = Math.max(0, Math.min(this.#debounceMs, deadline - now));
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.reload().catch((err: unknown) => this.#logger.error({ err }, 'manifest reload failed'));
    }, delay);
    this.#debounceTimer.unref();
  }

  /** The safety net: cheap listing, reload only when sizes/mtimes/inodes differ. */
  async #rescan(): Promise<void> {
    if (this.#stopped || this.#rescanning || this.#reloading !== undefined || this.#debounceTimer !== undefined) return;
    this.#rescanning = true;
    try {
      const listing = await listManifestFiles(this.#dir);
      if (this.#stopped) return;
      const changed = listingFingerprint(listing) !== this.#fingerprint;
      const watchStale = this.#useWatch && listing.exists && (this.#watcher === undefined || this.#watchedDirId !== listing.dirId);
      if (changed || watchStale) this.#schedule();
    } catch (err) {
      this.#logger.error({ err }, 'manifest rescan failed');
    } finally {
      this.#rescanning = false;
    }
  }
}

function normalizeOverlay(objects: readonly StoredObject[]): StoredObject[] {
  return objects.map((object) => {
    const result = normalizeObject(object);
    if (!result.ok) {
      const first = result.problems[0];
      throw new Error(`invalid overlay object ${object.kind} ${object.metadata.name}: ${first?.path} ${first?.message}`);
    }
    return result.object;
  });
}
