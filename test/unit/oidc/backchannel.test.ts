// Back-channel logout tokens: one test per check of verifyLogoutToken, with
// its reason code. The keys are a local JWK set (the route's remote one is
// exercised against the real provider in test/interop/oidc-provider.test.ts).

import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { LOGOUT_EVENT, verifyLogoutToken } from '../../../src/oidc/backchannel.ts';
import { logoutTokenKeys, oidcSessionKeys } from '../../../src/session/revocation.ts';
import { createHash } from 'node:crypto';

const ISSUER = 'https://op.example.com';
const CLIENT = 'app';

describe('verifyLogoutToken', () => {
  let key: CryptoKey;
  let other: CryptoKey;
  let keys: JWTVerifyGetKey;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: CLIENT, iat: now(), exp: now() + 120, jti: `j-${Math.random()}`, sub: 'user-1', sid: 'sid-1', events: { [LOGOUT_EVENT]: {} }, ...over });
  const sign = (payload: Record<string, unknown>, o: { alg?: string; kid?: string; key?: CryptoKey | Uint8Array; typ?: string } = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: o.alg ?? 'RS256', kid: o.kid ?? 'k1', typ: o.typ ?? 'logout+jwt' }).sign(o.key ?? key);
  const check = () => ({ issuer: ISSUER, clientID: CLIENT, alg: 'RS256', keys, clockSkewSeconds: 60 });
  async function refused(token: unknown, reason: string) {
    const r = await verifyLogoutToken(token, check());
    assert.equal(r.ok, false, `${reason}: accepted`);
    if (!r.ok) assert.equal(r.reason, reason, r.detail);
  }

  beforeAll(async () => {
    ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
    ({ privateKey: other } = await generateKeyPair('RS256', { extractable: true }));
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(key)), d: undefined, p: undefined, q: undefined, dp: undefined, dq: undefined, qi: undefined, kid: 'k1', alg: 'RS256' }] });
  });

  it('accepts a good token and names the sub and sid to end', async () => {
    const r = await verifyLogoutToken(await sign(claims()), check());
    assert.equal(r.ok, true, JSON.stringify(r));
    if (r.ok) assert.deepEqual([r.sub, r.sid], ['user-1', 'sid-1']);
  });
  it('no token: LogoutTokenMissing', () => refused(undefined, 'LogoutTokenMissing'));
  it('over 8 KiB: LogoutTokenInvalid', () => refused('x'.repeat(9000), 'LogoutTokenInvalid'));
  it('not a JWS: LogoutTokenInvalid', () => refused('garbage', 'LogoutTokenInvalid'));
  it('alg none: AlgorithmNotAllowed', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    await refused(`${b64({ alg: 'none' })}.${b64(claims())}.`, 'AlgorithmNotAllowed');
  });
  it('HS256 with a guessable secret: AlgorithmNotAllowed', async () => refused(await sign(claims(), { alg: 'HS256', key: new TextEncoder().encode('client-secret-0123456789abcdef0123') }), 'AlgorithmNotAllowed'));
  it('signed by another key: SignatureInvalid', async () => refused(await sign(claims(), { key: other }), 'SignatureInvalid'));
  it('a kid the provider does not have: KeyNotFound', async () => refused(await sign(claims(), { kid: 'nope' }), 'KeyNotFound'));
  it('another issuer: IssuerMismatch', async () => refused(await sign(claims({ iss: 'https://evil.example.com' })), 'IssuerMismatch'));
  it('for another client: AudienceMismatch', async () => refused(await sign(claims({ aud: 'other' })), 'AudienceMismatch'));
  it('expired: LogoutTokenExpired', async () => refused(await sign(claims({ iat: now() - 900, exp: now() - 600 })), 'LogoutTokenExpired'));
  it('no events claim, or not the logout event: LogoutTokenInvalid', async () => {
    const { events: _e, ...rest } = claims();
    await refused(await sign(rest), 'LogoutTokenInvalid');
    await refused(await sign(claims({ events: { 'http://example.com/other': {} } })), 'LogoutTokenInvalid');
  });
  it('an ID token (with a nonce) is not a logout token: LogoutTokenInvalid', async () => refused(await sign(claims({ nonce: 'n' })), 'LogoutTokenInvalid'));
  it('neither sub nor sid: LogoutTokenInvalid', async () => refused(await sign(claims({ sub: undefined, sid: undefined })), 'LogoutTokenInvalid'));
  it('no jti: LogoutTokenInvalid', async () => refused(await sign(claims({ jti: undefined })), 'LogoutTokenInvalid'));
  it('iat in the future: LogoutTokenInvalid', async () => refused(await sign(claims({ iat: now() + 3600, exp: now() + 7200 })), 'LogoutTokenInvalid'));
  it('a typ other than logout+jwt: LogoutTokenInvalid', async () => refused(await sign(claims(), { typ: 'at+jwt' }), 'LogoutTokenInvalid'));

  it('revocation keys: a sid ends that provider session, a sub alone every session of the user, and sessions carry both', () => {
    const h = (v: string) => createHash('sha256').update(v).digest('hex');
    const session = oidcSessionKeys('ns/app', { subSha256: h('user-1'), sidSha256: h('sid-1') });
    assert.ok(logoutTokenKeys('ns/app', { sub: 'user-1', sid: 'sid-1' }).every((k) => session.includes(k)));
    assert.ok(logoutTokenKeys('ns/app', { sub: 'user-1' }).every((k) => session.includes(k)));
    assert.ok(!logoutTokenKeys('ns/app', { sid: 'sid-2' }).some((k) => session.includes(k)), 'another provider session');
    assert.ok(!logoutTokenKeys('ns/other', { sub: 'user-1' }).some((k) => session.includes(k)), 'another connector');
  });
});
