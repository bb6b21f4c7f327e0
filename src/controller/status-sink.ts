// Where status goes in standalone mode: kept in memory for GET /admin/status
// and logged on change. The Kubernetes mode writes the status subresource
// instead (kube-status-sink.ts). Either way through the StatusWriter
// (status-writer.ts), which decides when and what to write.

import { isDeepStrictEqual } from 'node:util';
import type { StatusTarget } from './status-writer.ts';

export type StatusKind = 'SsoConnector' | 'UserBinding';

export interface StatusEntry {
  kind: StatusKind;
  namespace: string;
  name: string;
  status: Record<string, unknown>;
}

interface LoggerLike {
  info(obj: object, msg: string): void;
}

export class MemoryStatusSink implements StatusTarget {
  readonly #entries = new Map<string, StatusEntry>();
  readonly #logger: LoggerLike | undefined;
  writes = 0;

  constructor(logger?: LoggerLike) {
    this.#logger = logger;
  }

  async write(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<'written'> {
    const k = `${kind}/${namespace}/${name}`;
    const old = this.#entries.get(k);
    if (old && isDeepStrictEqual(old.status, status)) return 'written';
    this.#entries.set(k, { kind, namespace, name, status });
    this.writes++;
    const conditions = (status.conditions as { type: string; status: string; reason: string }[] | undefined) ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    this.#logger?.info(
      { kind, namespace, name, phase: status.phase, ready: ready?.status, reason: ready?.reason },
      'status changed',
    );
    return 'written';
  }

  forget(kind: StatusKind, namespace: string, name: string): void {
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
