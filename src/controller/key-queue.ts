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

/**
 * A lane's slots as parallel arrays (a key and when it was first queued), not
 * an object per key: 100,000 binding statuses waiting were ~12 MB of slot and
 * entry objects. `base` is the absolute position of keys[0], so a slot's
 * absolute position (base + i) stays its name across compactions.
 */
interface Lane {
  keys: string[];
  /** ms (the queue's clock) when the key of the same slot was first queued. */
  since: number[];
  base: number;
  head: number;
  depth: number;
}

/** How many lanes a queue may have: an entry is its slot's absolute position * MAX_LANES + its lane's rank. */
const MAX_LANES = 8;

export class KeyQueue<L extends string> {
  readonly #order: readonly L[];
  readonly #lanes: Lane[] = [];
  /**
   * key -> where its live slot is: (absolute position) * MAX_LANES + lane
   * rank. A slot whose key maps to another code is stale (the key was
   * promoted, deleted, or added again) and is skipped when it comes up.
   */
  readonly #entries = new Map<string, number>();
  readonly #now: () => number;

  /** `lanes` from the highest priority to the lowest. */
  constructor(lanes: readonly L[], now: () => number = () => performance.now()) {
    if (lanes.length > MAX_LANES) throw new Error(`a queue has at most ${MAX_LANES} lanes`);
    this.#order = lanes;
    for (const _ of lanes) this.#lanes.push({ keys: [], since: [], base: 0, head: 0, depth: 0 });
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
    const rank = this.#rank(lane);
    const code = this.#entries.get(key);
    let since: number;
    if (code !== undefined) {
      const from = code % MAX_LANES;
      if (rank >= from) return false;
      // The slot left in the lower lane is skipped when it comes up (stale).
      const l = this.#lanes[from]!;
      l.depth--;
      since = l.since[(code - from) / MAX_LANES - l.base]!;
    } else {
      since = this.#now();
    }
    const l = this.#lanes[rank]!;
    this.#entries.set(key, (l.base + l.keys.length) * MAX_LANES + rank);
    l.keys.push(key);
    l.since.push(since);
    l.depth++;
    return true;
  }

  /** Takes the first key of the highest non-empty lane (of `only`, when given). */
  shift(only?: L): QueuedKey<L> | undefined {
    const last = only === undefined ? this.#order.length - 1 : this.#rank(only);
    for (let rank = only === undefined ? 0 : last; rank <= last; rank++) {
      const l = this.#lanes[rank]!;
      if (!this.#skipStale(l, rank)) continue;
      const key = l.keys[l.head]!;
      const since = l.since[l.head]!;
      l.head++;
      l.depth--;
      this.#entries.delete(key);
      this.#compact(l);
      return { key, lane: this.#order[rank]!, since };
    }
    return undefined;
  }

  delete(key: string): boolean {
    const code = this.#entries.get(key);
    if (code === undefined) return false;
    this.#lanes[code % MAX_LANES]!.depth--;
    this.#entries.delete(key);
    return true;
  }

  clear(): void {
    this.#entries.clear();
    for (const l of this.#lanes) {
      l.keys = [];
      l.since = [];
      l.base = 0;
      l.head = 0;
      l.depth = 0;
    }
  }

  depth(lane: L): number {
    return this.#lanes[this.#rank(lane)]!.depth;
  }

  /** Seconds the oldest key of `lane` has waited; 0 when the lane is empty. */
  oldestAgeSeconds(lane: L): number {
    const rank = this.#rank(lane);
    const l = this.#lanes[rank]!;
    if (!this.#skipStale(l, rank)) return 0;
    let oldest = l.since[l.head]!;
    // Promotion can put an older key behind a younger one; the lane is short
    // in that case (trust changes), and long lanes are in arrival order.
    if (l.depth <= 64) {
      for (let i = l.head + 1; i < l.keys.length; i++) if (this.#live(l, rank, i)) oldest = Math.min(oldest, l.since[i]!);
    }
    return Math.max(0, (this.#now() - oldest) / 1000);
  }

  /** Whether slot `i` of the lane is its key's current one. */
  #live(l: Lane, rank: number, i: number): boolean {
    return this.#entries.get(l.keys[i]!) === (l.base + i) * MAX_LANES + rank;
  }

  /** Drops stale slots in front of the lane's first live one; false when none is left. */
  #skipStale(l: Lane, rank: number): boolean {
    while (l.head < l.keys.length) {
      if (this.#live(l, rank, l.head)) return true;
      l.head++;
    }
    this.#compact(l);
    return false;
  }

  #compact(l: Lane): void {
    if (l.head > 1024 && l.head * 2 > l.keys.length) {
      l.keys = l.keys.slice(l.head);
      l.since = l.since.slice(l.head);
      l.base += l.head;
      l.head = 0;
    }
  }

  #rank(lane: L): number {
    const rank = this.#order.indexOf(lane);
    if (rank < 0) throw new Error(`unknown queue lane ${lane}`);
    return rank;
  }
}
