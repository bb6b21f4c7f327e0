import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, decodeJwt } from 'jose';
import { generateKeySet, rotate, type SessionKeySet } from '../../../src/session/keys.ts';
import { SESSION_AUDIENCE, SessionTokens } from '../../../src/session/tokens.ts';

const ISS = 'https://sso.example.com';
const T0 = new Date('2030-01-01T00:00:00Z');
const claims = { sub: 'alice@example.com', email: 'alice@example.com', groups: ['dev', 'ops'], connector: 'team-a/okta' };

function setup(): { tokens: SessionTokens; keys: { set: SessionKeySet } } {
  const keys = { set: generateKeySet() };
  return { tokens: new SessionTokens(() => keys.set, ISS), keys };
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('issue then verify round-trips the claims', async () => {
  const { tokens, keys } = setup();
  const issued = await tokens.issue(claims, 3600, T0);
  assert.equal(issued.exp, T0.getTime() / 1000 + 3600);
  const header = decodeProtectedHeader(issued.token);
  assert.equal(header.alg, 'EdDSA');
  assert.equal(header.kid, keys.set.current.kid);
  const payload = decodeJwt(issued.token);
  assert.equal(payload.iss, ISS);
  assert.equal(payload.aud, SESSION_AUDIENCE);
  assert.equal(payload.jti, issued.jti);
  assert.equal(payload.iat, T0.getTime() / 1000);
  const r = await tokens.verify(issued.token, new Date(T0.getTime() + 1000));
  assert.ok(r.ok);
  assert.equal(r.claims.sub, claims.sub);
  assert.equal(r.claims.email, claims.email);
  assert.deepEqual(r.claims.groups, claims.groups);
  assert.equal(r.claims.connector, claims.connector);
  assert.equal(r.claims.jti, issued.jti);
});

test("issue signs the same claims, in the same bytes, that jose's SignJWT writes from them", async () => {
  const { tokens, keys } = setup();
  const sha = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');
  const base = { groups: claims.groups, connector: claims.connector, email: claims.email };
  // Each input, and the claims other than the registered ones that its token must carry, in order.
  const cases: { input: Parameters<SessionTokens['issue']>[0]; expected: Record<string, unknown> }[] = [
    { input: claims, expected: base },
    { input: { sub: 'bob', groups: [], connector: 'ns/c' }, expected: { groups: [], connector: 'ns/c' } },
    {
      input: { ...claims, sub: 'ü \u2028 "quoted" <tag> \ud800', idpGroups: ['a', 'b'], viaGroup: 'a' },
      expected: { ...base, idp_groups: ['a', 'b'], via_group: 'a' },
    },
    {
      input: { ...claims, saml: { nameID: 'n', nameIDFormat: 'urn:f', nameQualifier: 'q', spNameQualifier: 'sq', sessionIndex: '_i' } },
      expected: { ...base, saml_nameid: 'n', saml_nameid_format: 'urn:f', saml_nameid_nq: 'q', saml_nameid_spnq: 'sq', saml_session_index: '_i' },
    },
    {
      input: { ...claims, saml: { nameID: 'x'.repeat(5000), sessionIndex: 'y'.repeat(5000) }, oidc: { sub: 's', sid: 'sid' } },
      expected: { ...base, saml_nameid_sha256: sha('x'.repeat(5000)), saml_session_index_sha256: sha('y'.repeat(5000)), oidc_sub_sha256: sha('s'), oidc_sid_sha256: sha('sid') },
    },
  ];
  for (const { input, expected } of cases) {
    const issued = await tokens.issue(input, 3600, T0);
    // Ed25519 is deterministic: jose, given the same header and claims in the same order, writes the same token.
    const jose = await new SignJWT(expected)
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.set.current.kid, typ: 'JWT' })
      .setSubject(input.sub)
      .setIssuer(ISS)
      .setAudience(SESSION_AUDIENCE)
      .setIssuedAt(T0.getTime() / 1000)
      .setExpirationTime(T0.getTime() / 1000 + 3600)
      .setJti(issued.jti)
      .sign(keys.set.current.privateKey);
    assert.equal(issued.token, jose, JSON.stringify(decodeJwt(issued.token)));
    const verified = await tokens.verify(issued.token, new Date(T0.getTime() + 1000));
    assert.ok(verified.ok, JSON.stringify(verified));
  }
  // What jose refused to sign, issue refuses too.
  await assert.rejects(tokens.issue({ ...claims, sub: 7 as unknown as string }, 3600, T0), TypeError);
  await assert.rejects(tokens.issue(claims, 3600, new Date(Number.NaN)), RangeError);
});

test('jti is random per token', async () => {
  const { tokens } = setup();
  const a = await tokens.issue(claims, 60, T0);
  const b = await tokens.issue(claims, 60, T0);
  assert.notEqual(a.jti, b.jti);
});

test('email is optional', async () => {
  const { tokens } = setup();
  const { token } = await tokens.issue({ sub: 'u1', groups: [], connector: 'ns/c' }, 60, T0);
  const r = await tokens.verify(token, T0);
  assert.ok(r.ok);
  assert.equal(r.claims.email, undefined);
});

test('missing, expired, and 5 s clock tolerance', async () => {
  const { tokens } = setup();
  assert.deepEqual(await tokens.verify(undefined), { ok: false, reason: 'SessionMissing' });
  assert.deepEqual(await tokens.verify(''), { ok: false, reason: 'SessionMissing' });
  const { token } = await tokens.issue(claims, 60, T0);
  assert.ok((await tokens.verify(token, new Date(T0.getTime() + 64_000))).ok);
  assert.deepEqual(await tokens.verify(token, new Date(T0.getTime() + 66_000)), { ok: false, reason: 'SessionExpired' });
  // Issued in the future beyond the tolerance.
  assert.deepEqual(await tokens.verify(token, new Date(T0.getTime() - 60_000)), { ok: false, reason: 'SessionInvalid' });
});

test('garbage and tampered tokens are invalid', async () => {
  const { tokens } = setup();
  const { token } = await tokens.issue(claims, 60, T0);
  const [h, p, s] = token.split('.') as [string, string, string];
  const forgedPayload = b64({ ...decodeJwt(token), groups: ['admin'] });
  for (const bad of ['x', 'a.b.c', `${h}.${forgedPayload}.${s}`, `${h}.${p}.${s.slice(0, -4)}AAAA`, 'x'.repeat(10000)]) {
    assert.deepEqual(await tokens.verify(bad, T0), { ok: false, reason: 'SessionInvalid' }, bad.slice(0, 40));
  }
});

test('alg none is refused', async () => {
  const { tokens, keys } = setup();
  const payload = { sub: 'mallory', groups: [], connector: 'ns/c', iss: ISS, aud: SESSION_AUDIENCE, iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 + 60, jti: 'x' };
  const none = `${b64({ alg: 'none', kid: keys.set.current.kid })}.${b64(payload)}.`;
  assert.deepEqual(await tokens.verify(none, T0), { ok: false, reason: 'SessionInvalid' });
});

test('HS256 keyed with the public key (alg confusion) is refused', async () => {
  const { tokens, keys } = setup();
  const payload = { sub: 'mallory', groups: [], connector: 'ns/c', iss: ISS, aud: SESSION_AUDIENCE, iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 + 60, jti: 'x' };
  const signingInput = `${b64({ alg: 'HS256', kid: keys.set.current.kid })}.${b64(payload)}`;
  for (const secret of [JSON.stringify(keys.set.current.publicJwk), keys.set.current.publicJwk.x]) {
    const sig = createHmac('sha256', secret).update(signingInput).digest('base64url');
    assert.deepEqual(await tokens.verify(`${signingInput}.${sig}`, T0), { ok: false, reason: 'SessionInvalid' });
  }
});

test('a token signed by an unknown key, or with an embedded jwk, is refused', async () => {
  const { tokens, keys } = setup();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const mk = (header: Record<string, unknown>) =>
    new SignJWT({ groups: [], connector: 'ns/c' })
      .setProtectedHeader({ alg: 'EdDSA', ...header })
      .setSubject('mallory').setIssuer(ISS).setAudience(SESSION_AUDIENCE).setIssuedAt(T0).setExpirationTime(T0.getTime() / 1000 + 60).setJti('j')
      .sign(privateKey);
  assert.deepEqual(await tokens.verify(await mk({ kid: 'unknown' }), T0), { ok: false, reason: 'SessionInvalid' });
  assert.deepEqual(await tokens.verify(await mk({ kid: keys.set.current.kid }), T0), { ok: false, reason: 'SessionInvalid' });
  assert.deepEqual(await tokens.verify(await mk({ jwk: publicKey.export({ format: 'jwk' }) }), T0), { ok: false, reason: 'SessionInvalid' });
});

test('iss and aud are checked', async () => {
  const { keys } = setup();
  const other = new SessionTokens(() => keys.set, 'https://other.example.com');
  const mine = new SessionTokens(() => keys.set, ISS);
  const { token } = await other.issue(claims, 60, T0);
  assert.deepEqual(await mine.verify(token, T0), { ok: false, reason: 'SessionInvalid' });
  const wrongAud = await new SignJWT({ groups: [], connector: 'ns/c' })
    .setProtectedHeader({ alg: 'EdDSA', kid: keys.set.current.kid })
    .setSubject('a').setIssuer(ISS).setAudience('something-else').setIssuedAt(T0).setExpirationTime(T0.getTime() / 1000 + 60).setJti('j')
    .sign(keys.set.current.privateKey);
  assert.deepEqual(await mine.verify(wrongAud, T0), { ok: false, reason: 'SessionInvalid' });
});

test('malformed claims are invalid', async () => {
  const { tokens, keys } = setup();
  const sign = (extra: Record<string, unknown>) =>
    new SignJWT({ groups: [], connector: 'ns/c', ...extra })
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.set.current.kid })
      .setSubject('a').setIssuer(ISS).setAudience(SESSION_AUDIENCE).setIssuedAt(T0).setExpirationTime(T0.getTime() / 1000 + 60).setJti('j')
      .sign(keys.set.current.privateKey);
  assert.deepEqual(await tokens.verify(await sign({ groups: 'admin' }), T0), { ok: false, reason: 'SessionInvalid' });
  assert.deepEqual(await tokens.verify(await sign({ groups: [1] }), T0), { ok: false, reason: 'SessionInvalid' });
  assert.deepEqual(await tokens.verify(await sign({ connector: 42 }), T0), { ok: false, reason: 'SessionInvalid' });
  assert.deepEqual(await tokens.verify(await sign({ email: ['x'] }), T0), { ok: false, reason: 'SessionInvalid' });
});

test('rotation: previous key still verifies, a dropped key no longer does', async () => {
  const { tokens, keys } = setup();
  const old = await tokens.issue(claims, 600, T0);
  keys.set = rotate(keys.set);
  assert.ok((await tokens.verify(old.token, T0)).ok);
  const fresh = await tokens.issue(claims, 600, T0);
  assert.equal(decodeProtectedHeader(fresh.token).kid, keys.set.current.kid);
  keys.set = rotate(keys.set);
  assert.deepEqual(await tokens.verify(old.token, T0), { ok: false, reason: 'SessionInvalid' });
  assert.ok((await tokens.verify(fresh.token, T0)).ok);
});

test('jwks publishes current and previous public keys without private members', async () => {
  const { tokens, keys } = setup();
  assert.equal(tokens.jwks().keys.length, 1);
  keys.set = rotate(keys.set);
  const jwks = tokens.jwks();
  assert.deepEqual(jwks.keys.map((k) => k.kid), [keys.set.current.kid, keys.set.previous!.kid]);
  for (const k of jwks.keys) {
    assert.equal(k.use, 'sig');
    assert.equal(k.alg, 'EdDSA');
    assert.equal(k.kty, 'OKP');
    assert.equal('d' in k, false);
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  }
  assert.doesNotMatch(JSON.stringify(jwks), /"d"/);
});

test('issue refuses a non-positive ttl', async () => {
  const { tokens } = setup();
  await assert.rejects(tokens.issue(claims, 0, T0), RangeError);
  await assert.rejects(tokens.issue(claims, 1.5, T0), RangeError);
});

test('the SAML subject (NameID, Format, SessionIndex) round-trips; oversized values travel hashed', async () => {
  const { tokens } = setup();
  const saml = { nameID: 'alice@example.com', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: '_s1' };
  const { token } = await tokens.issue({ ...claims, saml }, 60, T0);
  const payload = decodeJwt(token);
  assert.equal(payload.saml_nameid, saml.nameID);
  assert.equal(payload.saml_session_index, '_s1');
  const r = await tokens.verify(token, T0);
  assert.ok(r.ok);
  assert.deepEqual(r.claims.saml, saml);
  // Without it, no claim at all.
  const plain = await tokens.verify((await tokens.issue(claims, 60, T0)).token, T0);
  assert.ok(plain.ok);
  assert.equal(plain.claims.saml, undefined);
  // Values too long for a cookie travel as their SHA-256 (the revocation keys are derived from it).
  const long = 'x'.repeat(513);
  const sha = (v: string) => createHash('sha256').update(v).digest('hex');
  const hashed = await tokens.verify((await tokens.issue({ ...claims, saml: { nameID: long, sessionIndex: long } }, 60, T0)).token, T0);
  assert.ok(hashed.ok);
  assert.deepEqual(hashed.claims.saml, { nameIDSha256: sha(long), sessionIndexSha256: sha(long) });
  const mixed = await tokens.verify((await tokens.issue({ ...claims, saml: { nameID: 'n', sessionIndex: long } }, 60, T0)).token, T0);
  assert.ok(mixed.ok);
  assert.deepEqual(mixed.claims.saml, { nameID: 'n', sessionIndexSha256: sha(long) });
});
