// Queued keys in priority lanes: each key at most once, in the highest lane
// it was added to, first in first out within a lane. Every operation is O(1)
// amortised (no Array#shift over 100,000 keys), and each lane knows its depth
// and the age of its oldest key, which the queue metrics report.
//
// A key promoted to a higher lane keeps the time it was first queued: its
// age says how long the change has waited, not how long since it was promoted.

export interface QueuedKey<L extends string> {
  key: string;
  lane: L;
  /** ms (the queue's clock) when the key was first queued. */
  since: number;
}

interface Slot {
  key: string;
  /** Which add() put it here: only the slot of the key's current entry is live. */
  seq: number;
}

interface Lane {
  keys: Slot[];
  head: number;
  depth: number;
}

export class KeyQueue<L extends string> {
  readonly #order: readonly L[];
  readonly #lanes = new Map<L, Lane>();
  readonly #entries = new Map<string, { lane: L; since: number; seq: number }>();
  readonly #now: () => number;
  #seq = 0;

  /** `lanes` from the highest priority to the lowest. */
  constructor(lanes: readonly L[], now: () => number = () => performance.now()) {
    this.#order = lanes;
    for (const l of lanes) this.#lanes.set(l, { keys: [], head: 0, depth: 0 });
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Queues `key` in `lane`, or moves it up when it waits in a lower one. Returns whether anything changed. */
  add(key: string, lane: L): boolean {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (this.#rank(lane) >= this.#rank(entry.lane)) return false;
      // The slot left in the lower lane is skipped when it comes up (stale).
      this.#lane(entry.lane).depth--;
      entry.lane = lane;
      entry.seq = ++this.#seq;
    } else {
      this.#entries.set(key, { lane, since: this.#now(), seq: ++this.#seq });
    }
    const l = this.#lane(lane);
    l.keys.push({ key, seq: this.#seq });
    l.depth++;
    return true;
  }

  /** Takes the first key of the highest non-empty lane (of `only`, when given). */
  shift(only?: L): QueuedKey<L> | undefined {
    for (const lane of only === undefined ? this.#order : [only]) {
      const first = this.#first(lane);
      if (first === undefined) continue;
      const l = this.#lane(lane);
      l.head++;
      l.depth--;
      const entry = this.#entries.get(first)!;
      this.#entries.delete(first);
      this.#compact(l);
      return { key: first, lane, since: entry.since };
    }
    return undefined;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#lane(entry.lane).depth--;
    this.#entries.delete(key);
    return true;
  }

  clear(): void {
    this.#entries.clear();
    for (const l of this.#lanes.values()) {
      l.keys = [];
      l.head = 0;
      l.depth = 0;
    }
  }

  depth(lane: L): number {
    return this.#lane(lane).depth;
  }

  /** Seconds the oldest key of `lane` has waited; 0 when the lane is empty. */
  oldestAgeSeconds(lane: L): number {
    let oldest = Infinity;
    // Promotion can put an older key behind a younger one; the lane is short
    // in that case (trust changes), and long lanes are in arrival order.
    const first = this.#first(lane);
    if (first === undefined) return 0;
    const l = this.#lane(lane);
    if (l.depth <= 64) {
      for (let i = l.head; i < l.keys.length; i++) {
        const slot = l.keys[i]!;
        const e = this.#entries.get(slot.key);
        if (e !== undefined && e.seq === slot.seq) oldest = Math.min(oldest, e.since);
      }
    } else {
      oldest = this.#entries.get(first)!.since;
    }
    return Math.max(0, (this.#now() - oldest) / 1000);
  }

  /** The first live key of `lane`, dropping stale slots (promoted, deleted or re-added keys) in front of it. */
  #first(lane: L): string | undefined {
    const l = this.#lane(lane);
    while (l.head < l.keys.length) {
      const slot = l.keys[l.head]!;
      if (this.#entries.get(slot.key)?.seq === slot.seq) return slot.key;
      l.head++;
    }
    this.#compact(l);
    return undefined;
  }

  #compact(l: Lane): void {
    if (l.head > 1024 && l.head * 2 > l.keys.length) {
      l.keys = l.keys.slice(l.head);
      l.head = 0;
    }
  }

  #lane(lane: L): Lane {
    const l = this.#lanes.get(lane);
    if (l === undefined) throw new Error(`unknown queue lane ${lane}`);
    return l;
  }

  #rank(lane: L): number {
    return this.#order.indexOf(lane);
  }
}
