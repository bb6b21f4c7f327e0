// The login-state cookie value as the release before the __Host- rename wrote
// it (format v1: HMAC over "sso_state.v1." + payload, no cookie name bound),
// for the tests of the one-release transition.

import { createHmac } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import type { PendingLogin } from '../../src/session/state-cookie.ts';

export function legacyStateValue(entries: readonly PendingLogin[], key: Uint8Array): string {
  const json = JSON.stringify(entries.map((e) => ({ sid: e.sid, rid: e.rid, c: e.c, rd: e.rd, exp: e.exp, ...(e.k ? { k: e.k } : {}) })));
  const payload = deflateRawSync(Buffer.from(json, 'utf8'), { level: 9 }).toString('base64url');
  return `v1.${payload}.${createHmac('sha256', key).update(`sso_state.v1.${payload}`).digest('base64url')}`;
}
