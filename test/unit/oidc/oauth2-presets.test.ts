// OAuth2 provider presets: the endpoints each fills in, and each provider's
// user-info answer, in the format its documentation gives, read at the
// preset's identity field through the real callback path (a local server
// plays the provider's token and user-info endpoints).

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { identityAt, oauth2Endpoints, OAUTH2_PRESETS, type OAuth2Provider } from '../../../src/oidc/oauth2-presets.ts';
import { buildOAuth2Client, completeOAuth2Callback, type OAuth2ConnectorConfig } from '../../../src/oidc/relying-party.ts';

const STATE_KEY = new Uint8Array(32).fill(3);

/** User-info answers as each provider documents them (trimmed to what matters). */
const DOCUMENTED: Record<Exclude<OAuth2Provider, 'Generic'>, { answer: unknown; user: string }> = {
  // GET https://api.github.com/user: https://docs.github.com/en/rest/users/users#get-the-authenticated-user
  GitHub: { answer: { login: 'octocat', id: 1, email: null, name: 'monalisa octocat' }, user: 'octocat' },
  // GET /services/oauth2/userinfo: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_userinfo_endpoint.htm
  Salesforce: { answer: { sub: 'https://login.salesforce.com/id/00D/005', user_id: '005', organization_id: '00D', email: 'admin@example.com', email_verified: true }, user: 'admin@example.com' },
  // GET /oauth/v1/access-tokens/{token}: https://developers.hubspot.com/docs/api/oauth/tokens
  HubSpot: { answer: { token: '…', user: 'test@hubspot.com', hub_domain: 'demo.hubapi.com', scopes: ['oauth'], hub_id: 62515, app_id: 456, expires_in: 21588, user_id: 123, token_type: 'access' }, user: 'test@hubspot.com' },
  // GET /oauth/user/info: https://www.zoho.com/accounts/protocol/oauth/use-access-token.html
  Zoho: { answer: { First_Name: 'Ada', Email: 'ada@example.com', Last_Name: 'Lovelace', Display_Name: 'ada', ZUID: 123 }, user: 'ada@example.com' },
  // GET /api/v2/users/me.json: https://developer.zendesk.com/api-reference/ticketing/users/users/#show-the-currently-authenticated-user
  Zendesk: { answer: { user: { id: 35436, name: 'Johnny Agent', email: 'johnny@example.com', role: 'agent' } }, user: 'johnny@example.com' },
};

describe('OAuth2 presets', () => {
  it('fill in the documented endpoints, with the host or subdomain given', () => {
    const github = oauth2Endpoints({ provider: 'GitHub' });
    assert.ok(!('problem' in github));
    assert.equal(github.tokenURL, 'https://github.com/login/oauth/access_token');
    const sf = oauth2Endpoints({ provider: 'Salesforce', host: 'acme.my.salesforce.com' });
    assert.equal(!('problem' in sf) && sf.authorizationURL, 'https://acme.my.salesforce.com/services/oauth2/authorize');
    assert.equal(!('problem' in sf) && sf.scopes.includes('openid'), false, 'the OAuth2 preset does not ask for an ID token');
    assert.equal(!('problem' in sf) && sf.revocationURL, 'https://acme.my.salesforce.com/services/oauth2/revoke', 'Salesforce revokes tokens as RFC 7009 does');
    assert.equal(!('problem' in github) && github.revocationURL, undefined, 'GitHub has no RFC 7009 endpoint');
    const sfDefault = oauth2Endpoints({ provider: 'Salesforce' });
    assert.equal(!('problem' in sfDefault) && sfDefault.userinfoURL, 'https://login.salesforce.com/services/oauth2/userinfo');
    const zoho = oauth2Endpoints({ provider: 'Zoho', host: 'accounts.zoho.eu' });
    assert.equal(!('problem' in zoho) && zoho.tokenURL, 'https://accounts.zoho.eu/oauth/v2/token');
    const zd = oauth2Endpoints({ provider: 'Zendesk', subdomain: 'acme' });
    assert.equal(!('problem' in zd) && zd.userinfoURL, 'https://acme.zendesk.com/api/v2/users/me.json');
    assert.match((oauth2Endpoints({ provider: 'Zendesk' }) as { problem: string }).problem, /needs subdomain/);
    assert.match((oauth2Endpoints({ provider: 'Generic', authorizationURL: 'https://a/x' }) as { problem: string }).problem, /needs tokenURL/);
    const hub = oauth2Endpoints({ provider: 'HubSpot' });
    assert.equal(!('problem' in hub) && hub.userinfoURL, 'https://api.hubapi.com/oauth/v1/access-tokens/{accessToken}');
    // Explicit endpoints win over the preset's.
    const over = oauth2Endpoints({ provider: 'GitHub', userinfoURL: 'https://ghe.example.com/api/v3/user' });
    assert.equal(!('problem' in over) && over.userinfoURL, 'https://ghe.example.com/api/v3/user');
  });

  it('identityAt reads a dotted path, strings only, never inherited properties', () => {
    assert.equal(identityAt({ user: { email: 'a@b.c' } }, 'user.email'), 'a@b.c');
    assert.equal(identityAt({ user: { email: 42 } }, 'user.email'), undefined);
    assert.equal(identityAt({ user: null }, 'user.email'), undefined);
    assert.equal(identityAt({}, 'constructor'), undefined);
    assert.equal(identityAt({ a: ['x'] }, 'a.0'), undefined);
  });

  describe("each provider's documented user-info answer, read through the callback", () => {
    let server: Server;
    let base: string;
    let current: { answer: unknown; tokenInPath: boolean } = { answer: {}, tokenInPath: false };
    const seen: { auth?: string; path: string }[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          const url = new URL(req.url ?? '/', base);
          if (url.pathname === '/token') return res.end(JSON.stringify({ access_token: 'the-access-token', token_type: 'bearer', scope: 'x' }));
          seen.push({ ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), path: url.pathname });
          return res.end(JSON.stringify(current.answer));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    for (const [provider, doc] of Object.entries(DOCUMENTED) as [Exclude<OAuth2Provider, 'Generic'>, (typeof DOCUMENTED)[keyof typeof DOCUMENTED]][]) {
      it(`${provider}: the user is ${doc.user}, at ${OAUTH2_PRESETS[provider].identityField}`, async () => {
        const preset = OAUTH2_PRESETS[provider];
        const tokenInPath = preset.userinfoURL!.includes('{accessToken}');
        current = { answer: doc.answer, tokenInPath };
        const config: OAuth2ConnectorConfig = {
          key: 'ns/app',
          provider,
          clientID: 'client',
          callbackURL: 'http://127.0.0.1:8080/oauth2/ns/app/callback',
          scopes: preset.scopes,
          // The preset's endpoints, moved to the local server; the token-in-path form kept.
          userinfoURL: tokenInPath ? `${base}/access-tokens/{accessToken}` : `${base}/userinfo`,
          identityField: preset.identityField!,
          client: buildOAuth2Client({ authorizationURL: `${base}/authorize`, tokenURL: `${base}/token`, clientID: 'client', clientSecret: 'secret' }),
        };
        const url = new URL(config.callbackURL);
        url.search = new URLSearchParams({ code: 'c', state: 's1' }).toString();
        const r = await completeOAuth2Callback(config, url, { sid: 's1', stateKey: STATE_KEY });
        assert.equal(r.ok, true, JSON.stringify(r));
        if (r.ok) assert.equal(r.user, doc.user);
        const last = seen[seen.length - 1]!;
        if (tokenInPath) assert.equal(last.path, '/access-tokens/the-access-token');
        else assert.equal(last.auth, 'Bearer the-access-token');
      });
    }

    it('an answer without the identity field: IdentityClaimMissing; the state of another login: StateMismatch', async () => {
      current = { answer: { login: null }, tokenInPath: false };
      const config: OAuth2ConnectorConfig = {
        key: 'ns/app', provider: 'GitHub', clientID: 'client', callbackURL: 'http://127.0.0.1:8080/oauth2/ns/app/callback', scopes: [],
        userinfoURL: `${base}/userinfo`, identityField: 'login',
        client: buildOAuth2Client({ authorizationURL: `${base}/authorize`, tokenURL: `${base}/token`, clientID: 'client', clientSecret: 'secret' }),
      };
      const url = new URL(`${config.callbackURL}?code=c&state=s1`);
      const r = await completeOAuth2Callback(config, url, { sid: 's1', stateKey: STATE_KEY });
      assert.equal(!r.ok && r.reason, 'IdentityClaimMissing');
      const wrongState = await completeOAuth2Callback(config, new URL(`${config.callbackURL}?code=c&state=other`), { sid: 's1', stateKey: STATE_KEY });
      assert.equal(!wrongState.ok && wrongState.reason, 'StateMismatch');
    });
  });
});
