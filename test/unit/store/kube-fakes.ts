// A scriptable stand-in for the apiserver behind KubeTransport: list
// answers per collection, object GETs, and watch streams the test feeds
// event by event (or ends, or breaks).

import { KubeHttpError, type KubeTransport, type RequestOptions, type WatchOptions } from '../../../src/store/kube-transport.ts';
import type { RawObject } from '../../../src/store/kube-list-watch.ts';

export interface ListAnswer {
  resourceVersion: string;
  items: RawObject[];
  /** Another page follows, fetched with this token. */
  continue?: string;
}

type Queued = { event: unknown } | { end: true } | { error: Error };

export class FakeWatch {
  readonly path: string;
  readonly accept: string;
  readonly query: URLSearchParams;
  #queue: Queued[] = [];
  #wake: (() => void) | undefined;
  closed = false;

  constructor(path: string, accept: string) {
    this.path = path;
    this.accept = accept;
    this.query = new URLSearchParams(path.split('?')[1] ?? '');
  }

  send(type: string, object: unknown): void {
    this.#push({ event: { type, object } });
  }

  end(): void {
    this.#push({ end: true });
  }

  fail(error: Error): void {
    this.#push({ error });
  }

  async *iterate(signal: AbortSignal, onOpen?: () => void): AsyncGenerator<unknown> {
    onOpen?.();
    try {
      for (;;) {
        while (this.#queue.length === 0) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          signal.throwIfAborted();
        }
        const item = this.#queue.shift() as Queued;
        if ('end' in item) return;
        if ('error' in item) throw item.error;
        yield item.event;
      }
    } finally {
      this.closed = true;
    }
  }

  #push(item: Queued): void {
    this.#queue.push(item);
    this.#wake?.();
  }
}

export class FakeTransport implements KubeTransport {
  /** Collection path (without query) -> answer, or an error to throw. */
  readonly lists = new Map<string, (query: URLSearchParams) => ListAnswer>();
  /** Object path -> object (or an error to throw); missing = 404. */
  readonly objects = new Map<string, () => unknown>();
  /** When set for a collection path, the next watch request on it fails with this error. */
  readonly watchErrors = new Map<string, Error>();
  readonly requests: { method: 'list' | 'get' | 'watch'; path: string; accept: string }[] = [];
  readonly watches: FakeWatch[] = [];

  async getJSON(path: string, options: RequestOptions): Promise<unknown> {
    options.signal.throwIfAborted();
    const [base] = path.split('?') as [string];
    if (path.includes('?')) {
      this.requests.push({ method: 'list', path, accept: options.accept });
      const answer = this.lists.get(base);
      if (!answer) throw new KubeHttpError(404, 'NotFound', 'HTTP 404: the server could not find the requested resource');
      const { resourceVersion, items, continue: token } = answer(new URLSearchParams(path.split('?')[1]));
      return { metadata: { resourceVersion, ...(token ? { continue: token } : {}) }, items: structuredClone(items) };
    }
    this.requests.push({ method: 'get', path, accept: options.accept });
    const object = this.objects.get(base);
    if (!object) throw new KubeHttpError(404, 'NotFound', `HTTP 404: ${base} not found`);
    return structuredClone(object());
  }

  watch(path: string, options: WatchOptions): AsyncIterable<unknown> {
    this.requests.push({ method: 'watch', path, accept: options.accept });
    const [base] = path.split('?') as [string];
    const error = this.watchErrors.get(base);
    if (error) {
      this.watchErrors.delete(base);
      return (async function* () {
        throw error;
      })();
    }
    const watch = new FakeWatch(path, options.accept);
    this.watches.push(watch);
    return watch.iterate(options.signal, options.onOpen);
  }

  /** The newest open watch on a collection, waiting for it to be opened. */
  async openWatch(base: string, after = 0, timeoutMs = 2000): Promise<FakeWatch> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.watches.slice(after).filter((w) => w.path.startsWith(`${base}?`) && !w.closed).at(-1);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no watch on ${base} within ${timeoutMs} ms; requests: ${JSON.stringify(this.requests.map((r) => `${r.method} ${r.path}`))}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  count(method: 'list' | 'get' | 'watch', base: string): number {
    return this.requests.filter((r) => r.method === method && r.path.split('?')[0] === base).length;
  }
}

export async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export function meta(namespace: string, name: string, resourceVersion: string, extra: Record<string, unknown> = {}): RawObject {
  return { metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion, creationTimestamp: '2026-01-01T00:00:00Z', ...extra } };
}

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export function captureLogger(lines: LogLine[] = []) {
  const at = (level: string) => (fields: object, msg: string) => {
    lines.push({ level, msg, fields: fields as Record<string, unknown> });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
