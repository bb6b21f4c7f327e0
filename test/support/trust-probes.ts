// What a user sees of a trust change, probed over HTTP: an IdP-initiated
// sign-in posted to the ACS, forward-auth with a session cookie, and how long
// a change takes to show in them. Shared by the trust-change tests of both modes.

import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import { buildSignedResponse } from '../../src/demo-idp/saml-idp.ts';

export interface SignInProbe {
  /** Where to send the request (the bound address). */
  baseURL: string;
  /** The public URL the operator was configured with (audience, destination). */
  publicURL: string;
  namespace: string;
  connector: string;
  issuer: string;
}

/** An IdP-initiated sign-in of `user` with a response signed by `key`: the HTTP status, and the session cookie on success. */
export async function signIn(p: SignInProbe, key: SigningIdentity, user = 'alice@example.com'): Promise<{ status: number; cookie?: string }> {
  const path = `/saml/${p.namespace}/${p.connector}`;
  const samlResponse = buildSignedResponse({
    signingKeyPem: key.keyPem,
    signingCertPem: key.certPem,
    issuer: p.issuer,
    audience: `${p.publicURL}${path}/metadata`,
    destination: `${p.publicURL}${path}/acs`,
    recipient: `${p.publicURL}${path}/acs`,
    nameID: user,
    nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  });
  const res = await fetch(`${p.baseURL}${path}/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: samlResponse }), redirect: 'manual' });
  await res.arrayBuffer();
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sso_session='))?.split(';')[0];
  return { status: res.status, ...(cookie ? { cookie } : {}) };
}

/** The status /auth/verify answers for a session cookie. */
export async function verify(baseURL: string, cookie: string): Promise<number> {
  const res = await fetch(`${baseURL}/auth/verify`, { headers: { cookie } });
  await res.arrayBuffer();
  return res.status;
}

/** Polls `check` every 10 ms until it holds; the ms since `t0` (when the change was sent). Fails after 15 s. */
/** How long the check that first saw each change in effect took itself (part of every delay measured). */
export const probeMs: number[] = [];

export async function takesEffect(what: string, t0: number, check: () => Promise<boolean>): Promise<number> {
  for (;;) {
    const started = performance.now();
    if (await check()) {
      const end = performance.now();
      probeMs.push(end - started);
      return end - t0;
    }
    if (performance.now() - t0 > 15_000) throw new Error(`${what}: not in effect 15 s after the change`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const summary = (ms: readonly number[]): string => `${ms.map((m) => m.toFixed(0)).join(', ')} ms (max ${Math.max(...ms).toFixed(0)})`;
