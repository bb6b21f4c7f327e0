// Where status goes. In standalone mode it is kept in memory for
// GET /admin/status and logged on change; the Kubernetes mode writes the
// status subresource instead. Either way only a changed status is written.

import { isDeepStrictEqual } from 'node:util';

export type StatusKind = 'SsoConnector' | 'UserBinding';

export interface StatusSink {
  publish(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  forget(kind: StatusKind, namespace: string, name: string): Promise<void>;
}

export interface StatusEntry {
  kind: StatusKind;
  namespace: string;
  name: string;
  status: Record<string, unknown>;
}

interface LoggerLike {
  info(obj: object, msg: string): void;
}

export class MemoryStatusSink implements StatusSink {
  readonly #entries = new Map<string, StatusEntry>();
  readonly #logger: LoggerLike | undefined;
  writes = 0;

  constructor(logger?: LoggerLike) {
    this.#logger = logger;
  }

  async publish(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    const k = `${kind}/${namespace}/${name}`;
    const old = this.#entries.get(k);
    if (old && isDeepStrictEqual(old.status, status)) return;
    this.#entries.set(k, { kind, namespace, name, status });
    this.writes++;
    const conditions = (status.conditions as { type: string; status: string; reason: string }[] | undefined) ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    this.#logger?.info(
      { kind, namespace, name, phase: status.phase, ready: ready?.status, reason: ready?.reason },
      'status changed',
    );
  }

  async forget(kind: StatusKind, namespace: string, name: string): Promise<void> {
    this.#entries.delete(`${kind}/${namespace}/${name}`);
  }

  get(kind: StatusKind, namespace: string, name: string): Record<string, unknown> | undefined {
    return this.#entries.get(`${kind}/${namespace}/${name}`)?.status;
  }

  list(): StatusEntry[] {
    return [...this.#entries.values()].sort((a, b) =>
      `${a.kind}/${a.namespace}/${a.name}`.localeCompare(`${b.kind}/${b.namespace}/${b.name}`),
    );
  }
}
