// The decision trail of one validation (a login response, or a logout
// message): every check appends one entry; a failing check throws a
// Rejection that the validator turns into its result. Entries carry short
// facts only, never raw XML, keys or signatures.
import type { LogoutReason, SamlReason, TrailEntry } from './types.ts';

type Reason = SamlReason | LogoutReason;

/**
 * Not an Error on purpose: it never leaves the validator, and an Error would
 * capture a stack trace at every refusal (about 6% of refusing a malformed
 * post, where junk floods are measured).
 */
export class Rejection<R extends Reason = SamlReason> {
  readonly reason: R;
  readonly status: 400 | 401 | 413;
  readonly message: string;
  constructor(reason: R, message: string) {
    this.message = message;
    this.reason = reason;
    this.status = statusFor(reason);
  }
}

/** 413 too large, 400 malformed, 401 any other failed validation. */
export function statusFor(reason: Reason): 400 | 401 | 413 {
  if (reason === 'ResponseTooLarge' || reason === 'LogoutMessageTooLarge') return 413;
  if (reason === 'MalformedResponse' || reason === 'MalformedLogoutMessage' || reason === 'DoctypeForbidden') return 400;
  return 401;
}

export class Trail<R extends Reason = SamlReason> {
  readonly entries: TrailEntry[] = [];

  pass(check: string, detail?: string): void {
    this.entries.push(detail === undefined ? { check, ok: true } : { check, ok: true, detail });
  }

  /** Records the failed check and throws. */
  fail(check: string, reason: R, message: string): never {
    throw this.reject(check, reason, message);
  }

  /**
   * Records the failed check and returns the Rejection for the caller to
   * return. For the first checks, which refuse most junk: V8 moves a function
   * to optimised code only once it has returned often enough, so a function
   * that ends in a throw at every call of a junk flood runs in the
   * interpreter (measured: the decoding stage was about 14% of refusing an
   * unsigned post, interpreted, issue 10 target 3).
   */
  reject(check: string, reason: R, message: string): Rejection<R> {
    this.entries.push({ check, ok: false, detail: `${reason}: ${message}` });
    return new Rejection<R>(reason, message);
  }
}
