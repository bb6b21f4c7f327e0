// The registry is what the request path reads: an immutable snapshot of every
// compiled connector and the binding index, swapped atomically by the
// controller. Handlers take one snapshot per request and never see a
// half-applied change.

import type { SamlConnectorConfig } from '../saml/types.ts';

export type Stage = 'Production' | 'Provisioning';

export interface ConnectorRuntime {
  /** `ns/name` */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly displayName?: string;
  readonly reference?: string;
  readonly generation?: number;
  readonly enabled: boolean;
  /** Ready connectors carry their compiled protocol config; others answer 503. */
  readonly ready: boolean;
  readonly notReadyReason?: string;
  readonly stage: Stage;
  readonly protocol: 'SAML2';
  readonly sessionTtlSeconds: number;
  readonly saml?: SamlConnectorConfig;
  readonly admins: readonly string[];
  readonly loginURL: string;
  readonly metadataURL: string;
}

export type BindingPhase = 'Active' | 'PendingApproval' | 'Denied' | 'Invalid';

export interface BindingEntry {
  readonly namespace: string;
  readonly name: string;
  readonly user: string;
  /** connector keys `ns/name` */
  readonly connectors: readonly string[];
  readonly groups: readonly string[];
  readonly phase: BindingPhase;
}

export interface BindingMatch {
  active: boolean;
  groups: string[];
  bindings: string[];
}

const EMAIL = /^[^@\s]+@[^@\s]+$/;

/**
 * How a user string is compared: an email case-insensitively (mail hosts treat
 * the domain so, and IdPs differ in how they case the local part), anything
 * else exactly. Never trimmed: " alice" is not "alice".
 */
export function userMatchKey(user: string): string {
  // ASCII letters only: String#toLowerCase maps the Kelvin sign (U+212A) to
  // "k", which would let "\u212Aate@x" match the binding of "kate@x".
  return EMAIL.test(user) ? `e:${user.replace(/[A-Z]/g, (c) => c.toLowerCase())}` : `x:${user}`;
}

export class BindingIndex {
  readonly #byConnector: ReadonlyMap<string, ReadonlyMap<string, readonly BindingEntry[]>>;
  readonly entries: readonly BindingEntry[];

  constructor(entries: readonly BindingEntry[]) {
    this.entries = entries;
    const byConnector = new Map<string, Map<string, BindingEntry[]>>();
    for (const e of entries) {
      const userKey = userMatchKey(e.user);
      for (const c of e.connectors) {
        let users = byConnector.get(c);
        if (!users) byConnector.set(c, (users = new Map()));
        const list = users.get(userKey);
        if (list) list.push(e);
        else users.set(userKey, [e]);
      }
    }
    this.#byConnector = byConnector;
  }

  /** Active when at least one Active binding grants the user this connector; groups are the union of those. */
  lookup(connectorKey: string, user: string): BindingMatch {
    const list = this.#byConnector.get(connectorKey)?.get(userMatchKey(user)) ?? [];
    const active = list.filter((b) => b.phase === 'Active');
    const groups = [...new Set(active.flatMap((b) => b.groups))].sort();
    return { active: active.length > 0, groups, bindings: list.map((b) => `${b.namespace}/${b.name}`) };
  }
}

export interface RegistrySnapshot {
  readonly version: number;
  readonly connectors: ReadonlyMap<string, ConnectorRuntime>;
  readonly bindings: BindingIndex;
}

export interface RegistryReader {
  current(): RegistrySnapshot;
}

export class Registry implements RegistryReader {
  #snapshot: RegistrySnapshot = { version: 0, connectors: new Map(), bindings: new BindingIndex([]) };

  current(): RegistrySnapshot {
    return this.#snapshot;
  }

  setConnector(key: string, runtime: ConnectorRuntime | undefined): void {
    const connectors = new Map(this.#snapshot.connectors);
    if (runtime) connectors.set(key, Object.freeze(runtime));
    else connectors.delete(key);
    this.#swap({ connectors });
  }

  setBindings(entries: readonly BindingEntry[]): void {
    this.#swap({ bindings: new BindingIndex(entries) });
  }

  #swap(change: Partial<Pick<RegistrySnapshot, 'connectors' | 'bindings'>>): void {
    const prev = this.#snapshot;
    this.#snapshot = Object.freeze({
      version: prev.version + 1,
      connectors: change.connectors ?? prev.connectors,
      bindings: change.bindings ?? prev.bindings,
    });
  }
}
