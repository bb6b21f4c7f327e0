import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { ServerMetadata } from 'openid-client';
import { issuerAllowed, OidcDiscovery } from '../../../src/oidc/discovery.ts';

const ISSUER = 'https://op.example.com';
const good = (over: Partial<ServerMetadata> = {}): ServerMetadata => ({
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  jwks_uri: `${ISSUER}/jwks`,
  ...over,
});
const quiet = { info: () => undefined, warn: () => undefined };
const tick = () => new Promise((r) => setImmediate(r));

describe('OidcDiscovery', () => {
  it('answers pending without waiting, fetches in the background, then tells the controller', async () => {
    const changed: string[] = [];
    let calls = 0;
    const d = new OidcDiscovery({ logger: quiet, onChange: (i) => changed.push(i), fetchMetadata: async () => (calls++, good()) });
    assert.deepEqual(d.get(ISSUER), { status: 'pending' });
    await tick();
    assert.deepEqual(changed, [ISSUER]);
    const s = d.get(ISSUER);
    assert.equal(s.status, 'ok');
    assert.equal(s.status === 'ok' && s.provider.metadata.token_endpoint, `${ISSUER}/token`);
    d.get(ISSUER);
    assert.equal(calls, 1, 'a good copy is not fetched again on every get()');
    d.stop();
  });

  it('keeps the last good copy while the provider fails, says why, and retries with backoff', async () => {
    let fail = false;
    const changed: string[] = [];
    const d = new OidcDiscovery({ logger: quiet, onChange: (i) => changed.push(i), backoffMs: 20, refreshMs: 10, fetchMetadata: async () => {
      if (fail) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      return good();
    } });
    d.get(ISSUER);
    await tick();
    fail = true;
    await new Promise((r) => setTimeout(r, 30));
    const s = d.get(ISSUER);
    assert.equal(s.status, 'failed');
    if (s.status === 'failed') {
      assert.equal(s.reason, 'DiscoveryFailed');
      assert.match(s.message, /fetch failed \(ECONNREFUSED\)/);
      assert.equal(s.lastGood?.metadata.issuer, ISSUER, 'the last good copy is kept');
    }
    fail = false;
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(d.get(ISSUER).status, 'ok', 'recovered by a retry');
    assert.ok(changed.length >= 3);
    d.stop();
  });

  it('refuses a document naming an endpoint that is not https, and a non-https issuer without fetching', async () => {
    let calls = 0;
    const d = new OidcDiscovery({ logger: quiet, onChange: () => undefined, fetchMetadata: async () => (calls++, good({ token_endpoint: 'http://op.example.com/token' })) });
    d.get(ISSUER);
    await tick();
    const s = d.get(ISSUER);
    assert.equal(s.status === 'failed' && s.reason, 'DiscoveryFailed');
    assert.match(s.status === 'failed' ? s.message : '', /not https: http:\/\/op\.example\.com\/token/);
    d.get('http://op.example.com');
    await tick();
    const plain = d.get('http://op.example.com');
    assert.equal(plain.status === 'failed' && plain.reason, 'IssuerNotAllowed');
    assert.equal(calls, 1);
    d.stop();
  });

  it('refuses a document for another issuer, exactly compared', async () => {
    const d = new OidcDiscovery({ logger: quiet, onChange: () => undefined, fetchMetadata: async () => good({ issuer: `${ISSUER}/` }) });
    d.get(ISSUER);
    await tick();
    const s = d.get(ISSUER);
    assert.match(s.status === 'failed' ? s.message : '', /names issuer https:\/\/op\.example\.com\/, not https:\/\/op\.example\.com/);
    d.stop();
  });

  it('drops issuers no connector uses', async () => {
    let calls = 0;
    const d = new OidcDiscovery({ logger: quiet, onChange: () => undefined, fetchMetadata: async () => (calls++, good()) });
    d.get(ISSUER);
    await tick();
    d.retain(new Set());
    assert.deepEqual(d.get(ISSUER), { status: 'pending' }, 'forgotten: fetched again when asked');
    d.stop();
  });

  it('issuerAllowed: https, or http on a loopback host only', () => {
    for (const ok of ['https://a.example', 'http://127.0.0.1:1', 'http://localhost', 'http://[::1]:8/x']) assert.equal(issuerAllowed(ok), true, ok);
    for (const bad of ['http://a.example', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'ftp://a']) assert.equal(issuerAllowed(bad), false, bad);
  });
});
