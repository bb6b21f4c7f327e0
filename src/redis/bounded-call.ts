// Shared by the Redis-backed replay cache and revocation list: every command
// is bounded in time, and any failure becomes the caller's "unavailable"
// error. A client that queues commands while it reconnects must not hold a
// login or a forward-auth request open: the caller answers 503 at once.

import { createHash } from 'node:crypto';

export const DEFAULT_REDIS_TIMEOUT_MS = 2000;

/** Checks a timeout option; returns it or the default. */
export function redisTimeout(ms: number | undefined): number {
  const value = ms ?? DEFAULT_REDIS_TIMEOUT_MS;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`timeoutMs must be a positive number, got ${value}`);
  return value;
}

/** `prefix` + SHA-256 of the value: bounded key size, no attacker-chosen key content. */
export function hashedKey(prefix: string, value: string): string {
  return prefix + createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Races `call` against `timeoutMs`; a timeout or a failed call rejects with
 * `unavailable(message, cause)`, an error of the caller's own type.
 */
export async function boundedRedisCall<T>(
  call: Promise<T>,
  timeoutMs: number,
  command: string,
  unavailable: (message: string, cause?: unknown) => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut: Error | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject((timedOut = unavailable(`Redis did not answer ${command} within ${timeoutMs} ms`))), timeoutMs);
  });
  try {
    return await Promise.race([call, timeout]);
  } catch (err) {
    if (err === timedOut) throw err;
    throw unavailable(`Redis ${command} failed: ${(err as Error).message}`, err);
  } finally {
    clearTimeout(timer);
  }
}
