// Fills sso_informer_staleness_seconds at scrape time. The gauge is created
// in metrics.ts before any store exists, so the store attaches prom-client's
// per-metric `collect` hook (called by Gauge#get on every scrape) afterwards.

import type { Gauge } from 'prom-client';

type Collectable = { collect?: (() => void) | undefined };

/** `read` gives seconds of staleness per resource; returns a detach function. */
export function attachStaleness(gauge: Gauge<'resource'>, read: () => Iterable<[string, number]>): () => void {
  const target = gauge as unknown as Collectable;
  const collect = (): void => {
    for (const [resource, seconds] of read()) gauge.set({ resource }, seconds);
  };
  target.collect = collect;
  return () => {
    // Another store may have attached since (tests share one Metrics); leave that one alone.
    if (target.collect !== collect) return;
    target.collect = undefined;
    gauge.reset();
  };
}
