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

  /** Every (connector, user) pair some Active binding grants, as `connector\0userMatchKey(user)`. */
  activePairs(): ReadonlySet<string> {
    const pairs = new Set<string>();
    for (const [connector, users] of this.#byConnector) {
      for (const [userKey, list] of users) if (list.some((b) => b.phase === 'Active')) pairs.add(`${connector}\0${userKey}`);
    }
    return pairs;
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

/** A user lost access through a connector: no Active binding grants it any more. */
export interface EndedAccess {
  connector: string;
  /** userMatchKey() of the user. */
  userKey: string;
}

export interface RegistryReader {
  current(): RegistrySnapshot;
  /**
   * Called (synchronously, after the swap) with the pairs whose access ended
   * in a binding change: deleted, denied, pending again, or the connector
   * removed from its list. Returns the unsubscribe function.
   */
  onAccessEnded?(listener: (ended: EndedAccess[]) => void): () => void;
}

export class Registry implements RegistryReader {
  #snapshot: RegistrySnapshot = { version: 0, connectors: new Map(), bindings: new BindingIndex([]) };
  readonly #accessEnded = new Set<(ended: EndedAccess[]) => void>();

  onAccessEnded(listener: (ended: EndedAccess[]) => void): () => void {
    this.#accessEnded.add(listener);
    return () => this.#accessEnded.delete(listener);
  }

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
    const before = this.#accessEnded.size > 0 ? this.#snapshot.bindings.activePairs() : undefined;
    const bindings = new BindingIndex(entries);
    this.#swap({ bindings });
    if (!before) return;
    const after = bindings.activePairs();
    const ended: EndedAccess[] = [];
    for (const pair of before) {
      if (after.has(pair)) continue;
      const at = pair.indexOf('\0');
      ended.push({ connector: pair.slice(0, at), userKey: pair.slice(at + 1) });
    }
    if (ended.length === 0) return;
    for (const listener of this.#accessEnded) listener(ended);
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
