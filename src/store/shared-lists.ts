// One frozen copy of each list of strings that many objects repeat.
//
// 100,000 UserBindings name a few hundred distinct combinations of
// connectors and a few dozen of groups; each parsed binding brought its own
// arrays (~56 bytes each), and the binding index made one more of its
// connector keys. Lists are held weakly: one no object uses any more is
// collected, and its entry goes with it, so churn never grows the pool.

const lists = new Map<string, WeakRef<readonly string[]>>();
const collected = new FinalizationRegistry<string>((key) => {
  // Only if the entry still names a collected list (the same key may have a new one by now).
  if (lists.get(key)?.deref() === undefined) lists.delete(key);
});

/** The shared, frozen list equal to `values` (element by element). */
export function sharedList(values: readonly string[]): readonly string[] {
  const key = JSON.stringify(values);
  const held = lists.get(key)?.deref();
  if (held !== undefined) return held;
  const list = Object.freeze([...values]);
  lists.set(key, new WeakRef(list));
  collected.register(list, key);
  return list;
}

/** Distinct lists held (tests). */
export function sharedListCount(): number {
  return lists.size;
}
