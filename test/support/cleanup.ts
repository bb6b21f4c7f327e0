// Per-test cleanup: what a test registers with onCleanup() runs after that
// test, whether it passed or failed, last registered first (as Go's
// t.Cleanup). Jest refuses hooks inside a test, so this is the one place that
// replaces node:test's t.after. jest-setup.ts runs the cleanups after each test.

type Cleanup = () => unknown;

const pending: Cleanup[] = [];

/** Runs `fn` after the current test. */
export function onCleanup(fn: Cleanup): void {
  pending.push(fn);
}

/** Runs every registered cleanup, the last first; each runs even if an earlier one failed, and the failures are thrown together. */
export async function runCleanups(): Promise<void> {
  const errors: unknown[] = [];
  for (let fn = pending.pop(); fn !== undefined; fn = pending.pop()) {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`);
}
