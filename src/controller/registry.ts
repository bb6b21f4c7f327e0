// The registry is what the request path reads: an immutable snapshot of every
// compiled connector, swapped atomically by the controller, and the binding
// index. Handlers take one snapshot per request and never see a half-applied
// connector change.
//
// The binding index is one live structure, changed in place one binding at a
// time (each change a single synchronous step, so never seen half-done):
// with 100,000 bindings, rebuilding or copying it per change cost O(n) each,
// and a burst of new bindings then kept a denied one Active for seconds. A
// snapshot taken before a binding change therefore sees it; that errs on the
// safe side, as a deny lands even for a request already in flight.

import type { CompiledExpression } from '../access/expressions.ts';
import { sharedList } from '../store/shared-lists.ts';
import type { SamlConnectorConfig } from '../saml/types.ts';
import type { OAuth2ConnectorConfig, OidcConnectorConfig } from '../oidc/relying-party.ts';

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
  readonly protocol: 'SAML2' | 'OIDC' | 'OAuth2';
  readonly sessionTtlSeconds: number;
  /** session.passAccessToken: forward-auth hands the provider's access token on (OIDC, OAuth2). */
  readonly passAccessToken: boolean;
  readonly saml?: SamlConnectorConfig;
  readonly oidc?: OidcConnectorConfig;
  readonly oauth2?: OAuth2ConnectorConfig;
  readonly admins: readonly string[];
  /** spec.access.requests: Enabled. */
  readonly accessRequests?: boolean;
  /** spec.access.allowedIdPGroups: members are let in without a binding. */
  readonly allowedIdPGroups?: readonly string[];
  /** spec.access.identityExpression / groupsExpression, compiled. */
  readonly identityExpression?: CompiledExpression;
  readonly groupsExpression?: CompiledExpression;
  readonly loginURL: string;
  /** SAML: the SP metadata URL. */
  readonly metadataURL?: string;
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
  /** The phases of every binding of the user at the connector (Pending and Denied ones too). */
  phases: BindingPhase[];
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

/**
 * How long a decision waits for the first list of the bindings before it is
 * refused with a 503 (a restarted replica lists 100,000 of them in ~10 s).
 */
export const BINDINGS_LOADING_WAIT_MS = 20_000;

/**
 * userMatchKey's equality without building a string per user: a lowercase
 * email is its own key, an email with capitals its lowercase form, anything
 * else itself. No two kinds collide: a lowercased email still matches EMAIL
 * and a non-email never does.
 */
function indexKey(user: string): string {
  if (!EMAIL.test(user)) return user;
  return /[A-Z]/.test(user) ? user.replace(/[A-Z]/g, (c) => c.toLowerCase()) : user;
}

export class BindingIndex {
  /**
   * namespace -> name -> entry. Keyed by the entry's own name string (the
   * store's), not a `ns/name` built per binding.
   */
  readonly #entries = new Map<string, Map<string, BindingEntry>>();
  #size = 0;
  /**
   * user (indexKey) -> the binding, or the bindings when more than one (a
   * user bound in several namespaces or by several objects; rare). A lookup
   * filters them by connector: a user has a handful. In place of a map per
   * connector (300,000 connector-user pairs): the whole index went from 34
   * to 18 MB in heap snapshots of the scale run.
   */
  readonly #byUser = new Map<string, BindingEntry | BindingEntry[]>();
  /** phase -> connector key -> bindings in that phase listing it. */
  readonly #counts = new Map<BindingPhase, Map<string, number>>();
  /** connector key -> bindings listing it, any phase: bindingsOf() skips the walk when none does. */
  readonly #listing = new Map<string, number>();
  /** One copy of each connector key the entries name (100,000 bindings name the same 1,000). */
  readonly #connectorKeys = new Map<string, string>();
  #version = 0;
  /**
   * False while the first list of the bindings is still coming in (cluster
   * mode serves as soon as the connectors are compiled). A decision from an
   * incomplete index could grant what a binding not listed yet would refuse
   * (a Denied binding overrides an allowed IdP group; an access request would
   * be offered to a user already bound), so every decision that reads the
   * index waits for it (whenComplete) or refuses: it never grants early.
   */
  #complete = true;
  #completed: Promise<void> = Promise.resolve();
  #markComplete: () => void = () => {};

  constructor(entries: readonly BindingEntry[] = []) {
    for (const e of entries) this.upsert(e);
  }

  get size(): number {
    return this.#size;
  }

  /** Grows with every change of the index: what was decided from it at one version holds while it stays. */
  get version(): number {
    return this.#version;
  }

  get(namespace: string, name: string): BindingEntry | undefined {
    return this.#entries.get(namespace)?.get(name);
  }

  /** True once every binding is known (see #complete); always true unless loading() was called. */
  get complete(): boolean {
    return this.#complete;
  }

  /** The index is being filled by a first list: decisions wait until complete() is called. */
  loading(): void {
    if (!this.#complete) return;
    this.#complete = false;
    this.#completed = new Promise((resolve) => (this.#markComplete = resolve));
  }

  /** Every binding is known: waiting decisions go on. */
  markComplete(): void {
    if (this.#complete) return;
    this.#complete = true;
    this.#version++;
    this.#markComplete();
  }

  /** Resolves true once complete, or false after `timeoutMs` (the caller then refuses, 503). */
  whenComplete(timeoutMs = BINDINGS_LOADING_WAIT_MS): Promise<boolean> {
    if (this.#complete) return Promise.resolve(true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    return Promise.race([this.#completed.then(() => true), late]).finally(() => clearTimeout(timer));
  }

  /** Adds or replaces the binding `entry.namespace/entry.name`. */
  upsert(entry: BindingEntry): void {
    // The same binding again (start-up looks at every one once more when all
    // connectors are known): nothing to relink.
    const held = this.get(entry.namespace, entry.name);
    if (held !== undefined && sameEntry(held, entry)) return;
    this.#version++;
    this.#unlink(entry.namespace, entry.name);
    // A frozen groups list (the store's own, deep-frozen) is shared, not copied: 100,000 copies otherwise.
    const groups = Object.isFrozen(entry.groups) ? entry.groups : Object.freeze([...entry.groups]);
    const frozen: BindingEntry = Object.freeze({
      namespace: entry.namespace,
      name: entry.name,
      user: entry.user,
      connectors: sharedList([...new Set(entry.connectors)].map((c) => this.#connectorKey(c))),
      groups,
      phase: entry.phase,
    });
    let names = this.#entries.get(frozen.namespace);
    if (!names) this.#entries.set(frozen.namespace, (names = new Map()));
    names.set(frozen.name, frozen);
    this.#size++;
    this.#count(frozen, 1);
    const userKey = indexKey(frozen.user);
    const same = this.#byUser.get(userKey);
    if (same === undefined) this.#byUser.set(userKey, frozen);
    else if (Array.isArray(same)) same.push(frozen);
    else this.#byUser.set(userKey, [same as BindingEntry, frozen]);
  }

  remove(namespace: string, name: string): void {
    this.#version++;
    this.#unlink(namespace, name);
  }

  /** Replaces every entry. */
  replaceAll(entries: readonly BindingEntry[]): void {
    this.#version++;
    this.#entries.clear();
    this.#size = 0;
    this.#byUser.clear();
    this.#counts.clear();
    this.#listing.clear();
    this.#connectorKeys.clear();
    for (const e of entries) this.upsert(e);
  }

  /**
   * `ns/name` of every binding that lists the connector `connectorKey`. A
   * walk of every binding, taken only when one lists it (a connector
   * appearing or vanishing; 1,000 new connectors nobody lists cost nothing).
   */
  bindingsOf(connectorKey: string): string[] {
    const out: string[] = [];
    if (!this.#listing.has(connectorKey)) return out;
    for (const names of this.#entries.values()) {
      for (const e of names.values()) if (e.connectors.includes(connectorKey)) out.push(`${e.namespace}/${e.name}`);
    }
    return out;
  }

  /** Bindings in `phase` per connector key they list (the pending-requests gauge). */
  countByPhase(phase: BindingPhase): Map<string, number> {
    return new Map(this.#counts.get(phase));
  }

  /** Kept as entries come and go: the gauge is read at every scrape (and by every series removal), and counting 100,000 entries each time took 4 s of CPU in one minute of the scale run. */
  #count(entry: BindingEntry, delta: 1 | -1): void {
    let byConnector = this.#counts.get(entry.phase);
    if (!byConnector) this.#counts.set(entry.phase, (byConnector = new Map()));
    // entry.connectors has no repeats (upsert).
    for (const c of entry.connectors) {
      add(byConnector, c, delta);
      add(this.#listing, c, delta);
    }
  }

  /** Active when at least one Active binding grants the user this connector; groups are the union of those. */
  lookup(connectorKey: string, user: string): BindingMatch {
    const list = listOf(this.#byUser.get(indexKey(user))).filter((b) => b.connectors.includes(connectorKey));
    const active = list.filter((b) => b.phase === 'Active');
    const groups = [...new Set(active.flatMap((b) => b.groups))].sort();
    return { active: active.length > 0, groups, bindings: list.map((b) => `${b.namespace}/${b.name}`), phases: list.map((b) => b.phase) };
  }

  #connectorKey(key: string): string {
    const held = this.#connectorKeys.get(key);
    if (held !== undefined) return held;
    this.#connectorKeys.set(key, key);
    return key;
  }

  #unlink(namespace: string, name: string): void {
    const names = this.#entries.get(namespace);
    const old = names?.get(name);
    if (names === undefined || old === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#entries.delete(namespace);
    this.#size--;
    this.#count(old, -1);
    const userKey = indexKey(old.user);
    const held = this.#byUser.get(userKey);
    if (held === undefined) return;
    const rest = listOf(held).filter((e) => e !== old);
    if (rest.length > 1) this.#byUser.set(userKey, rest);
    else if (rest.length === 1) this.#byUser.set(userKey, rest[0]!);
    else this.#byUser.delete(userKey);
  }
}

function add(counts: Map<string, number>, key: string, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function listOf(held: BindingEntry | readonly BindingEntry[] | undefined): readonly BindingEntry[] {
  return held === undefined ? [] : Array.isArray(held) ? held : [held as BindingEntry];
}

function sameEntry(a: BindingEntry, b: BindingEntry): boolean {
  return a.user === b.user && a.phase === b.phase && sameList(a.connectors, b.connectors) && sameList(a.groups, b.groups);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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

  /** Replaces every binding (tests; the controller changes one at a time through `bindings`). */
  setBindings(entries: readonly BindingEntry[]): void {
    this.#snapshot.bindings.replaceAll(entries);
  }

  #swap(change: Pick<RegistrySnapshot, 'connectors'>): void {
    const prev = this.#snapshot;
    this.#snapshot = Object.freeze({ version: prev.version + 1, connectors: change.connectors, bindings: prev.bindings });
  }
}
