// The decision trail of one validation: every check appends one entry; a
// failing check throws a Rejection that validateResponse turns into the
// result. Entries carry short facts only, never raw XML, keys or signatures.
import type { SamlReason, TrailEntry } from './types.ts';

export class Rejection extends Error {
  readonly reason: SamlReason;
  readonly status: 400 | 401 | 413;
  constructor(reason: SamlReason, message: string) {
    super(message);
    this.reason = reason;
    this.status = statusFor(reason);
  }
}

/** 413 too large, 400 malformed, 401 any other failed validation. */
export function statusFor(reason: SamlReason): 400 | 401 | 413 {
  if (reason === 'ResponseTooLarge') return 413;
  if (reason === 'MalformedResponse' || reason === 'DoctypeForbidden') return 400;
  return 401;
}

export class Trail {
  readonly entries: TrailEntry[] = [];

  pass(check: string, detail?: string): void {
    this.entries.push(detail === undefined ? { check, ok: true } : { check, ok: true, detail });
  }

  /** Records the failed check and throws. */
  fail(check: string, reason: SamlReason, message: string): never {
    this.entries.push({ check, ok: false, detail: `${reason}: ${message}` });
    throw new Rejection(reason, message);
  }
}
