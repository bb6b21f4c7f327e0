// The demo IdP's sign-in routes end to end on a real loopback listener:
// AuthnRequests of both bindings and IdP-initiated logins answered with
// samlify-built Responses that our ACS (validateResponse) accepts, the
// assertion encrypted exactly when the SP's metadata publishes an encryption
// key, and that metadata read only from this server, over loopback, briefly
// cached, bounded in size and time. The public URL names a host that does
// not resolve: everything the demo IdP fetches must come from its own socket.

import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import formbody from '@fastify/formbody';
import fastify, { type FastifyInstance } from 'fastify';
import { onCleanup } from '../../support/cleanup.ts';
import { captureLogs } from '../../support/log-capture.ts';
import { createDemoIdp } from '../../../src/demo-idp/app.ts';
import { generateSigningIdentity } from '../../../src/demo-idp/keys.ts';
import { SpMetadataLookup, readSpMetadata, spMetadataPath } from '../../../src/demo-idp/sp-metadata.ts';
import { buildAuthnRequest, newRequestId } from '../../../src/saml/authn-request.ts';
import { parseCertificates } from '../../../src/saml/certificates.ts';
import { buildSpMetadata } from '../../../src/saml/metadata.ts';
import { loadSpSigningKey, type SpSigningKey } from '../../../src/saml/sign.ts';
import type { SamlConnectorConfig } from '../../../src/saml/types.ts';
import { validateResponse } from '../../../src/saml/validate-response.ts';
import { createLogger } from '../../../src/operator.ts';
import { assertAccepted, decode, input, makeConfig } from '../../support/saml-fixtures.ts';

const PUBLIC = 'https://sso.example.test';
const USERS = `
- username: demo
  password: demo
  email: demo@example.com
  attributes:
    displayName: [Demo User]
    groups: [a, b]
    department: Engineering
`;

async function spKey(commonName: string): Promise<SpSigningKey> {
  const id = await generateSigningIdentity({ commonName });
  const loaded = loadSpSigningKey(id.keyPem, id.certPem);
  assert.ok(loaded.ok);
  return loaded.signing;
}

/** The demo IdP beside a stand-in for the SP metadata routes (serving our real SP metadata), listening on loopback. */
async function setup() {
  const logs = captureLogs();
  const logger = createLogger('info', logs.stream);
  const demo = await createDemoIdp({ publicURL: PUBLIC, logger, users: () => USERS });
  const certificates = parseCertificates(demo.identity.certPem, 'demo');
  const connector = (name: string, o: Partial<SamlConnectorConfig> = {}): SamlConnectorConfig =>
    makeConfig(certificates, {
      key: `default/${name}`,
      spEntityID: `${PUBLIC}/saml/default/${name}/metadata`,
      acsURL: `${PUBLIC}/saml/default/${name}/acs`,
      idp: { entityID: demo.entityID, ssoURL: `${PUBLIC}/demo-idp/sso` },
      idpInitiated: { enabled: true },
      ...o,
    });
  const [signing, encryption, nextEncryption] = await Promise.all([spKey('sp-signing'), spKey('sp-enc'), spKey('sp-enc-next')]);
  const connectors = new Map<string, SamlConnectorConfig>([
    // Only a signing key in its metadata: samlify would take it for an encryption key too.
    ['default/demo', connector('demo', { spSigning: signing })],
    ['default/demo-encrypted', connector('demo-encrypted', { encryption: { mode: 'Required', keys: [encryption, nextEncryption], allowLegacy: false } })],
  ]);
  const fetched: string[] = [];
  const app = fastify();
  await app.register(formbody);
  await app.register(demo.plugin);
  app.get<{ Params: { ns: string; name: string } }>('/saml/:ns/:name/metadata', async (req, reply) => {
    fetched.push(req.url);
    const cfg = connectors.get(`${req.params.ns}/${req.params.name}`);
    if (!cfg) return reply.code(404).send('no such connector');
    return reply.header('content-type', 'application/samlmetadata+xml').send(buildSpMetadata(cfg));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onCleanup(() => app.close());
  return { app, demo, logs, connectors, fetched, encryption };
}

function field(html: string, name: string): string | undefined {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/** Submits the IdP form of `page` as demo/demo; returns the auto-POST to the ACS. */
async function submit(app: FastifyInstance, page: string) {
  const ticket = field(page, 'ticket');
  assert.ok(ticket, page);
  const res = await app.inject({
    method: 'POST',
    url: '/demo-idp/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ticket, username: 'demo', password: 'demo' }).toString(),
  });
  assert.equal(res.statusCode, 200, res.body);
  const action = /<form method="post" action="([^"]+)"/.exec(res.body)?.[1];
  const samlResponse = field(res.body, 'SAMLResponse');
  assert.ok(action && samlResponse, res.body);
  return { action, samlResponse, relayState: field(res.body, 'RelayState') };
}

/** SP-initiated: the AuthnRequest of `cfg` by `binding`, then the form. */
async function spInitiated(app: FastifyInstance, cfg: SamlConnectorConfig, binding: 'HTTPRedirect' | 'HTTPPost') {
  const requestId = newRequestId();
  const out = buildAuthnRequest({ ...cfg, idp: { ...cfg.idp, ssoBinding: binding } }, { requestId, relayState: 'state-1', now: new Date() });
  const res =
    out.binding === 'HTTPRedirect'
      ? await app.inject({ method: 'GET', url: out.url.slice(PUBLIC.length) })
      : await app.inject({ method: 'POST', url: '/demo-idp/sso', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(out.fields).toString() });
  assert.equal(res.statusCode, 200, res.body);
  return { requestId, ...(await submit(app, res.body)) };
}

function sentLines(logs: ReturnType<typeof captureLogs>) {
  return logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('demo IdP: SAML Response sent'));
}

describe('demo IdP sign-in with samlify-built Responses', () => {
  test('SP-initiated by HTTP-Redirect and HTTP-POST: the Response answers the request and keeps RelayState; not encrypted for an SP that publishes only a signing key', async () => {
    const { app, connectors, logs } = await setup();
    const cfg = connectors.get('default/demo')!;
    for (const binding of ['HTTPRedirect', 'HTTPPost'] as const) {
      const r = await spInitiated(app, cfg, binding);
      assert.equal(r.action, cfg.acsURL);
      assert.equal(r.relayState, 'state-1');
      assert.doesNotMatch(decode(r.samlResponse), /EncryptedAssertion/);
      const a = assertAccepted(await validateResponse(cfg, input(r.samlResponse, { expectedInResponseTo: r.requestId })));
      assert.equal(a.nameID, 'demo@example.com');
      assert.equal(a.nameIDFormat, 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
      assert.equal(a.inResponseTo, r.requestId);
      assert.ok(a.sessionIndex);
      assert.deepEqual({ ...a.attributes }, { email: ['demo@example.com'], username: ['demo'], displayName: ['Demo User'], groups: ['a', 'b'], department: ['Engineering'] });
    }
    const sent = sentLines(logs);
    assert.equal(sent.length, 2);
    for (const l of sent) {
      assert.equal(l.encrypted, false);
      assert.equal(l.sp, cfg.spEntityID);
      assert.equal(l.idpInitiated, false);
    }
  });

  test('an SP whose metadata publishes encryption keys gets the assertion encrypted to the first (AES-256-GCM, RSA-OAEP); the log says so and holds no assertion', async () => {
    const { app, connectors, logs, encryption } = await setup();
    const cfg = connectors.get('default/demo-encrypted')!;
    const r = await spInitiated(app, cfg, 'HTTPRedirect');
    const xml = decode(r.samlResponse);
    assert.match(xml, /<saml:EncryptedAssertion/);
    assert.doesNotMatch(xml, /<saml:Assertion/);
    assert.match(xml, /xmlenc11#aes256-gcm/);
    assert.match(xml, /xmlenc#rsa-oaep-mgf1p/);
    const result = await validateResponse(cfg, input(r.samlResponse, { expectedInResponseTo: r.requestId }));
    assertAccepted(result);
    // Decrypted by the first key of the metadata, the current one.
    assert.match(result.trail.find((t) => t.check === 'decryption')?.detail ?? '', new RegExp(`aes256-gcm, rsa-oaep-mgf1p, key ${encryption.fingerprint}`));
    const [sent] = sentLines(logs);
    assert.equal(sent?.encrypted, true);
    assert.equal(sent?.msg, 'demo IdP: SAML Response sent, assertion encrypted to the SP');
    assert.doesNotMatch(logs.raw(), /Assertion|Demo User|SAMLResponse/, 'the log holds no assertion or response');
    assert.ok(!logs.raw().includes(r.samlResponse.slice(0, 40)));
  });

  test('IdP-initiated: signs in to the SP of the chosen entity ID, at the ACS of its metadata, with RelayState; encrypted when the SP asks', async () => {
    const { app, connectors, logs } = await setup();
    const home = await app.inject({ method: 'GET', url: '/demo-idp/' });
    assert.match(home.body, /action="\/demo-idp\/idp-initiated"/);
    for (const [key, encrypted] of [['default/demo', false], ['default/demo-encrypted', true]] as const) {
      const cfg = connectors.get(key)!;
      const page = await app.inject({ method: 'GET', url: `/demo-idp/idp-initiated?${new URLSearchParams({ sp: cfg.spEntityID, RelayState: '/app' })}` });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /IdP-initiated/);
      const r = await submit(app, page.body);
      assert.equal(r.action, cfg.acsURL);
      assert.equal(r.relayState, '/app');
      assert.equal(/EncryptedAssertion/.test(decode(r.samlResponse)), encrypted);
      const a = assertAccepted(await validateResponse(cfg, input(r.samlResponse, { expectedInResponseTo: null })));
      assert.equal(a.inResponseTo, undefined);
      assert.equal(a.nameID, 'demo@example.com');
    }
    assert.deepEqual(
      sentLines(logs).map((l) => [l.idpInitiated, l.encrypted]),
      [
        [true, false],
        [true, true],
      ],
    );
  });

  test('the SP metadata is read from this server over loopback (the public host does not resolve) and cached: once for several logins', async () => {
    const { app, connectors, fetched } = await setup();
    const cfg = connectors.get('default/demo-encrypted')!;
    for (let i = 0; i < 3; i++) {
      const r = await spInitiated(app, cfg, 'HTTPRedirect');
      assert.match(decode(r.samlResponse), /EncryptedAssertion/);
    }
    assert.deepEqual(fetched, ['/saml/default/demo-encrypted/metadata']);
  });

  test('never an arbitrary URL: an Issuer that is not an SP metadata URL of this operator is not fetched (plain response, a warning); IdP-initiated to one is refused', async () => {
    const { app, connectors, fetched, logs } = await setup();
    const cfg = connectors.get('default/demo-encrypted')!;
    for (const issuer of ['https://evil.example/saml/default/demo-encrypted/metadata', `${PUBLIC}/saml/default/demo-encrypted/metadata?x=1`, `${PUBLIC}/saml/default/../demo-encrypted/metadata`]) {
      const r = await spInitiated(app, { ...cfg, spEntityID: issuer }, 'HTTPRedirect');
      assert.equal(r.action, cfg.acsURL, 'the ACS of the request is still this operator');
      assert.doesNotMatch(decode(r.samlResponse), /EncryptedAssertion/);
    }
    assert.equal(fetched.length, 0, fetched.join(" "));
    const warnings = logs.lines.filter((l) => l.msg === 'demo IdP: SP metadata not read; the assertion is not encrypted');
    assert.equal(warnings.length, 3);
    for (const sp of ['https://evil.example/saml/default/demo/metadata', 'http://127.0.0.1:1/x', '']) {
      const res = await app.inject({ method: 'GET', url: `/demo-idp/idp-initiated?${new URLSearchParams({ sp })}` });
      assert.equal(res.statusCode, 400);
      assert.match(res.body, /Unknown service provider/);
    }
    // An SP of this operator that does not exist: its metadata answers 404, so there is no ACS to send to.
    const page = await app.inject({ method: 'GET', url: `/demo-idp/idp-initiated?sp=${encodeURIComponent(`${PUBLIC}/saml/default/missing/metadata`)}` });
    const ticket = field(page.body, 'ticket')!;
    const res = await app.inject({ method: 'POST', url: '/demo-idp/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ ticket, username: 'demo', password: 'demo' }).toString() });
    assert.equal(res.statusCode, 400);
    assert.match(res.body, /Unknown service provider/);
    assert.ok(fetched.includes('/saml/default/missing/metadata'));
  });
});

describe('SP metadata lookup', () => {
  test('spMetadataPath: only {publicURL}/saml/{ns}/{name}/metadata', () => {
    assert.equal(spMetadataPath(PUBLIC, `${PUBLIC}/saml/default/demo/metadata`), '/saml/default/demo/metadata');
    assert.equal(spMetadataPath('https://h.example/prefix', 'https://h.example/prefix/saml/ns-1/a.b/metadata'), '/saml/ns-1/a.b/metadata');
    for (const bad of [
      'https://sso.example.test.evil/saml/default/demo/metadata',
      'https://sso.example.test@evil/saml/default/demo/metadata',
      'http://sso.example.test/saml/default/demo/metadata',
      `${PUBLIC}/saml/default/demo/metadata/`,
      `${PUBLIC}/saml/default/demo/metadata?x`,
      `${PUBLIC}/saml/default/demo/metadata#x`,
      `${PUBLIC}/saml/default/demo/acs`,
      `${PUBLIC}/saml/Default/demo/metadata`,
      `${PUBLIC}/saml/../demo/metadata`,
      `${PUBLIC}/saml/default/x/y/metadata`,
      `${PUBLIC}/saml/default/%2e%2e/metadata`,
      `${PUBLIC}/demo-idp/metadata`,
    ]) {
      assert.equal(spMetadataPath(PUBLIC, bad), undefined, bad);
    }
  });

  test('readSpMetadata: the first use="encryption" certificate only, the POST ACS, the expected entityID, no DOCTYPE', async () => {
    const signing = await spKey('s');
    const [k1, k2] = await Promise.all([spKey('k1'), spKey('k2')]);
    const der = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    const base = makeConfig([], { spEntityID: `${PUBLIC}/saml/a/b/metadata`, acsURL: `${PUBLIC}/saml/a/b/acs` });
    const onlySigning = readSpMetadata(buildSpMetadata({ ...base, spSigning: signing }), base.spEntityID);
    assert.ok(onlySigning.ok);
    assert.equal(onlySigning.metadata.encryptionCertificate, undefined);
    assert.equal(onlySigning.metadata.acsURL, base.acsURL);
    const two = readSpMetadata(buildSpMetadata({ ...base, spSigning: signing, encryption: { mode: 'Optional', keys: [k1, k2], allowLegacy: false } }), base.spEntityID);
    assert.ok(two.ok);
    assert.equal(two.metadata.encryptionCertificate, der(k1.certPem));
    assert.equal(readSpMetadata(buildSpMetadata(base), 'https://other/metadata').ok, false);
    assert.equal(readSpMetadata(`<!DOCTYPE x [<!ENTITY a "b">]>${buildSpMetadata(base)}`, base.spEntityID).ok, false);
    assert.equal(readSpMetadata('<x', base.spEntityID).ok, false);
  });

  test('bounded: an answer over the size limit or too slow is refused; a failure is cached only briefly', async () => {
    const app = fastify();
    let slowHits = 0;
    // The slow route answers only when the test ends (so the server closes at once).
    const release: (() => void)[] = [];
    app.get('/saml/big/big/metadata', async (_req, reply) => reply.send('x'.repeat(300 * 1024)));
    app.get('/saml/slow/slow/metadata', async () => {
      slowHits++;
      await new Promise<void>((r) => release.push(r));
      return 'late';
    });
    app.get('/saml/moved/moved/metadata', async (_req, reply) => reply.code(302).header('location', 'http://127.0.0.1:1/').send());
    await app.listen({ host: '127.0.0.1', port: 0 });
    onCleanup(() => app.close());
    onCleanup(() => release.forEach((r) => r()));
    let now = 1_000_000;
    const addresses = () => app.addresses().filter((a) => typeof a !== 'string');
    const lookup = new SpMetadataLookup({ publicURL: PUBLIC, addresses, now: () => now });
    const big = await lookup.get(`${PUBLIC}/saml/big/big/metadata`);
    assert.ok(!big.ok && /over 262144 bytes/.test(big.message), JSON.stringify(big));
    const moved = await lookup.get(`${PUBLIC}/saml/moved/moved/metadata`);
    assert.ok(!moved.ok && /HTTP 302/.test(moved.message), 'redirects are not followed');
    const impatient = new SpMetadataLookup({ publicURL: PUBLIC, addresses, timeoutMs: 200, now: () => now });
    const slow = await impatient.get(`${PUBLIC}/saml/slow/slow/metadata`);
    assert.ok(!slow.ok && /no answer in time/.test(slow.message), JSON.stringify(slow));
    await impatient.get(`${PUBLIC}/saml/slow/slow/metadata`);
    assert.equal(slowHits, 1, 'a failure is cached for a moment');
    now += 6000;
    await impatient.get(`${PUBLIC}/saml/slow/slow/metadata`);
    assert.equal(slowHits, 2, 'and asked again after it');
    const off = new SpMetadataLookup({ publicURL: PUBLIC, addresses: () => [] });
    const notListening = await off.get(`${PUBLIC}/saml/a/b/metadata`);
    assert.ok(!notListening.ok && /not listening/.test(notListening.message));
  });
});
