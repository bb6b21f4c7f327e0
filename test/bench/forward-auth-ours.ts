// Our side of the forward-auth benchmark: the operator in standalone mode as
// a process of its own (`node src/cli.ts run --manifests ...`, pinned to a
// core by the caller), one SAML connector and one Active binding, and session
// cookies as a sign-in issues them: signed with the operator's own key file,
// carrying a SAML NameID and SessionIndex (so the revocation keys of single
// logout are looked up, as for every real SAML session).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseKeySetJSON } from '../../src/session/keys.ts';
import { SessionTokens, type SessionClaimsInput } from '../../src/session/tokens.ts';
import { startLocalOperator } from './local-operator.ts';

const CONNECTOR = 'default/demo';
const USER = 'alice@example.com';

export interface OursServer {
  port: number;
  pid: number;
  /** Cookie header values: a valid session, one logged out (revoked), one past its exp. */
  cookies: { valid: string; revoked: string; expired: string };
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The core to pin the operator to (taskset), if any. */
  cpu?: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Another checkout's src/cli.ts (before/after comparisons). */
  cli?: string;
}

export async function startOurs(opts: StartOptions): Promise<OursServer> {
  // The benchmarks' standalone operator (local-operator.ts): connector default/demo, an Active binding for alice.
  const op = await startLocalOperator({ ...(opts.cpu !== undefined ? { cpu: opts.cpu } : {}), ...(opts.nodeArgs ? { nodeOptions: opts.nodeArgs } : {}), ...(opts.cli ? { cli: opts.cli } : {}) });
  const publicURL = op.baseURL;
  try {
    const keys = parseKeySetJSON(await readFile(join(op.stateDir, 'session-keys.json'), 'utf8'));
    const tokens = new SessionTokens(() => keys, publicURL);
    const claims = (index: string): SessionClaimsInput => ({
      sub: USER,
      email: USER,
      groups: ['devs', 'admins'],
      connector: CONNECTOR,
      saml: { nameID: USER, nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: index },
    });
    const cookie = (token: string) => `sso_session=${token}`;
    const valid = cookie((await tokens.issue(claims('_bench-valid'), 3600)).token);
    const revoked = cookie((await tokens.issue(claims('_bench-revoked'), 3600)).token);
    const expired = cookie((await tokens.issue(claims('_bench-expired'), 3600, new Date(Date.now() - 2 * 3600 * 1000))).token);
    // Revoked the way a user does it: /auth/logout with the cookie.
    const out = await fetch(`${publicURL}/auth/logout`, { method: 'POST', headers: { cookie: revoked }, redirect: 'manual' });
    if (out.status !== 303) throw new Error(`logout answered ${out.status}`);
    for (const [what, c, want] of [['valid', valid, 200], ['revoked', revoked, 401], ['expired', expired, 401]] as const) {
      const res = await fetch(`${publicURL}/auth/verify`, { headers: { cookie: c } });
      if (res.status !== want) throw new Error(`probe: ${what} session answered ${res.status}, expected ${want}`);
    }
    return { port: op.port, pid: op.pid, cookies: { valid, revoked, expired }, stop: op.stop };
  } catch (err) {
    await op.stop();
    throw err;
  }
}
