// Correlation ids of the public listener: 16 hex digits (64 random bits) per
// request, as before, but cut from a pool of random bytes filled 512 ids at a
// time. One randomBytes(8) call per request was about 8% of the CPU time of a
// cached /auth/verify (the call into OpenSSL costs far more than 8 bytes).
// The ids stay unpredictable (CSPRNG) and distinct; they are no secret, only
// the key that ties an error page to its log line.

import { randomFillSync } from 'node:crypto';

const ID_BYTES = 8;
const pool = Buffer.alloc(ID_BYTES * 512);
let offset = pool.length;

export function newCorrelationId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
