// Timing and memory bookkeeping shared by the benchmark scenarios.
//
// A subject (one library, or the HTTP login) is run in segments of `perRound`
// calls; segments of the subjects of one scenario are interleaved round by
// round so that clock, thermal or GC drift hits every subject alike. Every
// call is timed on its own (hrtime), every call's success is checked, and the
// heap / RSS are sampled after a full GC before and after each segment. A
// subject in another process (RemoteRecorder) runs in the same segments and
// reports its own per-call timings.

export interface BenchPlan {
  warmup: number;
  rounds: number;
  perRound: number;
}

export interface Stats {
  calls: number;
  failures: number;
  medianUs: number;
  p95Us: number;
  meanUs: number;
  /** Calls per second over the summed timed calls. */
  opsPerSec: number;
  /** Retained growth per 1000 calls, KiB, after a full GC (sum over segments). */
  heapKiBPer1000: number;
  rssKiBPer1000: number;
}

/** One call: resolves true when the input was accepted as expected. */
export type Call = (i: number) => Promise<boolean>;

/** What runInterleaved drives: a subject run in segments. */
export interface Segmented {
  warmup(n: number): Promise<void>;
  segment(n: number): Promise<void>;
}

const gc: () => void = typeof globalThis.gc === 'function' ? (globalThis.gc as () => void) : () => {};
export const gcAvailable = typeof globalThis.gc === 'function';

function fullGc(): void {
  gc();
  gc();
}

export class Recorder implements Segmented {
  readonly samples: number[] = [];
  failures = 0;
  private heapDelta = 0;
  private rssDelta = 0;
  private next = 0;
  /** Optional untimed work before each segment (after the memory snapshot), e.g. pre-registering request IDs. */
  beforeSegment?: (from: number, to: number) => Promise<void>;
  readonly call: Call;
  readonly firstIndex: number;

  constructor(call: Call, firstIndex: number) {
    this.call = call;
    this.firstIndex = firstIndex;
    this.next = firstIndex;
  }

  /** Untimed warm-up over `n` inputs; failures still count. */
  async warmup(n: number): Promise<void> {
    const from = this.next;
    await this.beforeSegment?.(from, from + n);
    for (let i = 0; i < n; i++) {
      if (!(await this.call(this.next++))) this.failures++;
    }
  }

  async segment(n: number): Promise<void> {
    const from = this.next;
    fullGc();
    const before = process.memoryUsage();
    await this.beforeSegment?.(from, from + n);
    for (let i = 0; i < n; i++) {
      const idx = this.next++;
      const t0 = process.hrtime.bigint();
      const ok = await this.call(idx);
      const t1 = process.hrtime.bigint();
      this.samples.push(Number(t1 - t0) / 1000);
      if (!ok) this.failures++;
    }
    fullGc();
    const after = process.memoryUsage();
    this.heapDelta += after.heapUsed - before.heapUsed;
    this.rssDelta += after.rss - before.rss;
  }

  stats(): Stats {
    const n = this.samples.length;
    const per1000 = (bytes: number) => (n === 0 ? 0 : (bytes / 1024 / n) * 1000);
    return { ...timingStats(this.samples, this.failures), heapKiBPer1000: per1000(this.heapDelta), rssKiBPer1000: per1000(this.rssDelta) };
  }
}

/** A segment run elsewhere (a peer process): per input, accepted or not, and its timing there (µs). */
export type RemoteRun = (from: number, to: number) => Promise<{ accepted: boolean[]; timingsUs: number[]; errors: string[] }>;

/**
 * A subject in another process, run in the same segments as the Recorders
 * (and interleaved with them) but timed by that process: its own clock
 * around each validation, without the round trip. No memory figures.
 */
export class RemoteRecorder implements Segmented {
  readonly samples: number[] = [];
  failures = 0;
  /** The first refusal messages, for the report. */
  readonly errors: string[] = [];
  private next: number;
  private readonly run: RemoteRun;

  constructor(run: RemoteRun, firstIndex: number) {
    this.run = run;
    this.next = firstIndex;
  }

  private async take(n: number, timed: boolean): Promise<void> {
    const from = this.next;
    this.next += n;
    const r = await this.run(from, from + n);
    if (timed) this.samples.push(...r.timingsUs);
    this.failures += r.accepted.filter((ok) => !ok).length;
    if (this.errors.length < 3) this.errors.push(...r.errors.slice(0, 3 - this.errors.length));
  }

  warmup(n: number): Promise<void> {
    return this.take(n, false);
  }

  segment(n: number): Promise<void> {
    return this.take(n, true);
  }

  stats(): Stats {
    return timingStats(this.samples, this.failures);
  }
}

/** Stats of per-call timings (µs) taken elsewhere, e.g. inside a peer process; heap/RSS figures are NaN (not measured). */
export function timingStats(samplesUs: readonly number[], failures: number): Stats {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const n = sorted.length;
  const total = sorted.reduce((s, v) => s + v, 0);
  return {
    calls: n,
    failures,
    medianUs: quantile(sorted, 0.5),
    p95Us: quantile(sorted, 0.95),
    meanUs: n === 0 ? 0 : total / n,
    opsPerSec: total === 0 ? 0 : n / (total / 1e6),
    heapKiBPer1000: Number.NaN,
    rssKiBPer1000: Number.NaN,
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

/**
 * Warms every recorder up, then runs `plan.rounds` rounds; in each round every
 * recorder runs one segment, starting with a different one each round.
 */
export async function runInterleaved(recorders: Segmented[], plan: BenchPlan): Promise<void> {
  for (const r of recorders) await r.warmup(plan.warmup);
  for (let round = 0; round < plan.rounds; round++) {
    for (let k = 0; k < recorders.length; k++) {
      await (recorders[(round + k) % recorders.length] as Segmented).segment(plan.perRound);
    }
  }
}

/** Inputs one recorder consumes: probe + warm-up + all rounds. */
export function inputsNeeded(plan: BenchPlan, probes = 1): number {
  return probes + plan.warmup + plan.rounds * plan.perRound;
}
