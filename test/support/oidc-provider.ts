// A real OpenID Provider for tests: `oidc-provider` (npm, a certified OP) on a
// loopback port, in the test process, with its own development login and
// consent forms. One client is registered for the connector under test.
// Accounts are whatever the test puts into `accounts` (the login form takes
// any login name; the password field is ignored by the development forms).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ClientMetadata } from 'oidc-provider';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { BrowserClient, type BrowserResponse } from './browser-client.ts';

export interface TestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  groups?: string[];
}

export interface TestOpenIdProvider {
  issuer: string;
  clientID: string;
  /** The client secret the provider accepts now. */
  readonly clientSecret: string;
  /** Rotates the client secret at the provider: from now on only `secret` is accepted. */
  setClientSecret(secret: string): void;
  accounts: Map<string, TestAccount>;
  provider: Provider;
  /** Publishes `keys` (private JWKs) as the signing keys, the first one signing. */
  setKeys(keys: JWK[]): void;
  /** The private signing keys in use (to sign tokens the provider would, in negative tests). */
  readonly keys: JWK[];
  stop(): Promise<void>;
}

export async function signingJwk(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

export async function startOpenIdProvider(opts: {
  redirectURIs: string[];
  postLogoutRedirectURIs?: string[];
  /** Where the provider POSTs back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0). */
  backchannelLogoutURI?: string;
  clientID?: string;
  clientSecret?: string;
  /** The client authenticates with private_key_jwt using one of these public keys (instead of a client secret). */
  clientJwks?: JWK[];
  /** How the client sends its secret (default client_secret_basic). */
  clientSecretMethod?: 'client_secret_basic' | 'client_secret_post';
  keys?: JWK[];
  /** Access token lifetime in seconds (oidc-provider's default is an hour). */
  accessTokenTTL?: number;
  /** Issue a refresh token with every code exchange (as providers do for offline access), rotated at each use. */
  refreshTokens?: boolean;
}): Promise<TestOpenIdProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientID = opts.clientID ?? 'sso-operator-test';
  let clientSecret = opts.clientSecret ?? 'a-client-secret-of-enough-length-0123456789';
  const accounts = new Map<string, TestAccount>();
  let keys = opts.keys ?? [await signingJwk('k1')];
  const client = (): ClientMetadata => ({
    client_id: clientID,
    client_secret: clientSecret,
    redirect_uris: opts.redirectURIs,
    post_logout_redirect_uris: opts.postLogoutRedirectURIs ?? [],
    ...(opts.backchannelLogoutURI ? { backchannel_logout_uri: opts.backchannelLogoutURI, backchannel_logout_session_required: true } : {}),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...(opts.clientJwks
      ? { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: opts.clientJwks } }
      : { token_endpoint_auth_method: opts.clientSecretMethod ?? 'client_secret_basic' }),
  });
  const build = () =>
    new Provider(issuer, {
      clients: [client()],
      jwks: { keys },
      pkce: { required: () => true },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: true }, revocation: { enabled: true } },
      ...(opts.accessTokenTTL !== undefined ? { ttl: { AccessToken: opts.accessTokenTTL } } : {}),
      // Rotation: a refresh token works once; a second use is taken as theft and ends the grant.
      ...(opts.refreshTokens ? { issueRefreshToken: async () => true, rotateRefreshToken: () => true } : {}),
      findAccount: (_ctx, sub) => {
        const a = accounts.get(sub);
        if (!a) return undefined;
        return { accountId: sub, claims: () => ({ ...a }) };
      },
      cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    });
  let provider = build();
  // Quiet: the development interactions warn on every start.
  provider.on('server_error', () => undefined);
  server.on('request', (req, res) => provider.callback()(req, res));
  return {
    issuer,
    clientID,
    get clientSecret() {
      return clientSecret;
    },
    setClientSecret(secret) {
      clientSecret = secret;
      provider = build();
    },
    accounts,
    get provider() {
      return provider;
    },
    get keys() {
      return keys;
    },
    setKeys(next) {
      keys = next;
      provider = build();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Signs in at the provider as a browser would: follows the login redirect,
 * submits the development login form with `login`, then the consent form, and
 * stops at the redirect back to the operator (not followed), which it returns.
 */
export async function loginAtProvider(browser: BrowserClient, loginURL: string, login: string): Promise<{ callback: string; provider: BrowserResponse }> {
  const start = await browser.get(loginURL, { followRedirects: false });
  if (start.status !== 302) throw new Error(`login start answered ${start.status}: ${start.body.slice(0, 300)}`);
  let page = await browser.get(new URL(start.headers.get('location')!, loginURL).href);
  for (let step = 0; step < 4; step++) {
    if (!/<form/i.test(page.body)) break;
    const isLogin = /name="login"/.test(page.body);
    const next = await browser.submitForm(page, isLogin ? { login, password: 'any' } : {}, { followRedirects: false });
    let res = next;
    // Follow the provider's own redirects, stop at the one that leaves it.
    while ([302, 303].includes(res.status)) {
      const location = new URL(res.headers.get('location')!, res.url).href;
      if (!location.startsWith(new URL(page.url).origin)) return { callback: location, provider: res };
      res = await browser.get(location, { followRedirects: false });
    }
    page = res;
  }
  throw new Error(`the provider did not send the browser back; last page ${page.url} (${page.status}): ${page.body.slice(0, 500)}`);
}
