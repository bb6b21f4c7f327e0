// OAuth 2 providers without OpenID Connect, as data: one row per provider
// (the "authentication method" an admin picks), never code per provider. A
// row gives the endpoints (with {host} or {subdomain} where the admin's
// tenant goes), the default scopes, where the user's identity is in the
// user-info answer, and which fields the admin still has to give. Sources:
// each provider's OAuth documentation, as linked.

export const OAUTH2_PROVIDERS = ['Generic', 'GitHub', 'Salesforce', 'HubSpot', 'Zoho', 'Zendesk'] as const;
export type OAuth2Provider = (typeof OAUTH2_PROVIDERS)[number];

export interface OAuth2Preset {
  authorizationURL?: string;
  tokenURL?: string;
  /** `{accessToken}` in it: the token goes in the path (HubSpot), not in an Authorization header. */
  userinfoURL?: string;
  identityField?: string;
  /** RFC 7009 token revocation endpoint, when the provider has one that speaks it. */
  revocationURL?: string;
  scopes: readonly string[];
  /** Fields the admin gives besides clientID and clientSecretRef. */
  requires: readonly ('host' | 'subdomain' | 'authorizationURL' | 'tokenURL' | 'userinfoURL' | 'identityField')[];
  /** Default for {host}, when the provider has a usual one. */
  defaultHost?: string;
  docs: string;
}

export const OAUTH2_PRESETS: Readonly<Record<OAuth2Provider, OAuth2Preset>> = {
  Generic: {
    scopes: [],
    requires: ['authorizationURL', 'tokenURL', 'userinfoURL', 'identityField'],
    docs: 'RFC 6749',
  },
  GitHub: {
    authorizationURL: 'https://github.com/login/oauth/authorize',
    tokenURL: 'https://github.com/login/oauth/access_token',
    userinfoURL: 'https://api.github.com/user',
    // The email of a GitHub account may be private (null); the login is always there.
    identityField: 'login',
    scopes: ['read:user', 'user:email'],
    requires: [],
    docs: 'https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps',
  },
  Salesforce: {
    // login.salesforce.com, test.salesforce.com, or the org's My Domain host.
    authorizationURL: 'https://{host}/services/oauth2/authorize',
    tokenURL: 'https://{host}/services/oauth2/token',
    userinfoURL: 'https://{host}/services/oauth2/userinfo',
    revocationURL: 'https://{host}/services/oauth2/revoke',
    identityField: 'email',
    // Not openid: this is the OAuth 2 connector (for OpenID Connect use protocol OIDC with issuer https://login.salesforce.com).
    scopes: ['id', 'email', 'profile'],
    requires: [],
    defaultHost: 'login.salesforce.com',
    docs: 'https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm',
  },
  HubSpot: {
    authorizationURL: 'https://app.hubspot.com/oauth/authorize',
    tokenURL: 'https://api.hubapi.com/oauth/v1/token',
    // The access-token information endpoint names the user who granted the token.
    userinfoURL: 'https://api.hubapi.com/oauth/v1/access-tokens/{accessToken}',
    identityField: 'user',
    scopes: ['oauth'],
    requires: [],
    docs: 'https://developers.hubspot.com/docs/api/oauth-quickstart-guide',
  },
  Zoho: {
    // The data centre's accounts host: accounts.zoho.com, .eu, .in, .com.au, .jp, .ca, .com.cn.
    authorizationURL: 'https://{host}/oauth/v2/auth',
    tokenURL: 'https://{host}/oauth/v2/token',
    userinfoURL: 'https://{host}/oauth/user/info',
    identityField: 'Email',
    scopes: ['AaaServer.profile.Read'],
    requires: [],
    defaultHost: 'accounts.zoho.com',
    docs: 'https://www.zoho.com/accounts/protocol/oauth/web-server-applications.html',
  },
  Zendesk: {
    authorizationURL: 'https://{subdomain}.zendesk.com/oauth/authorizations/new',
    tokenURL: 'https://{subdomain}.zendesk.com/oauth/tokens',
    userinfoURL: 'https://{subdomain}.zendesk.com/api/v2/users/me.json',
    identityField: 'user.email',
    scopes: ['read'],
    requires: ['subdomain'],
    docs: 'https://developer.zendesk.com/documentation/ticketing/working-with-oauth/using-oauth-authentication-with-your-application/',
  },
};

export interface OAuth2Endpoints {
  authorizationURL: string;
  tokenURL: string;
  userinfoURL: string;
  revocationURL?: string;
  identityField: string;
  scopes: readonly string[];
}

/**
 * The endpoints of a connector: what the admin gave, else the preset's, with
 * {host} and {subdomain} filled in. A problem names the first missing field.
 */
export function oauth2Endpoints(spec: {
  provider?: OAuth2Provider;
  host?: string;
  subdomain?: string;
  authorizationURL?: string;
  tokenURL?: string;
  userinfoURL?: string;
  revocationURL?: string;
  identityField?: string;
  scopes?: readonly string[];
}): OAuth2Endpoints | { problem: string } {
  const preset = OAUTH2_PRESETS[spec.provider ?? 'Generic'];
  const host = spec.host ?? preset.defaultHost;
  const fill = (template: string | undefined): string | undefined => {
    if (template === undefined) return undefined;
    if (template.includes('{host}') && host === undefined) return undefined;
    if (template.includes('{subdomain}') && spec.subdomain === undefined) return undefined;
    return template.replaceAll('{host}', host ?? '').replaceAll('{subdomain}', spec.subdomain ?? '');
  };
  const out = {
    authorizationURL: spec.authorizationURL ?? fill(preset.authorizationURL),
    tokenURL: spec.tokenURL ?? fill(preset.tokenURL),
    userinfoURL: spec.userinfoURL ?? fill(preset.userinfoURL),
    identityField: spec.identityField ?? preset.identityField,
    scopes: spec.scopes ?? preset.scopes,
  };
  const revocationURL = spec.revocationURL ?? fill(preset.revocationURL);
  for (const field of ['authorizationURL', 'tokenURL', 'userinfoURL', 'identityField'] as const) {
    if (out[field] === undefined) return { problem: `provider ${spec.provider ?? 'Generic'} needs ${preset.requires.includes('subdomain') ? 'subdomain' : field}` };
  }
  return { ...(out as OAuth2Endpoints), ...(revocationURL !== undefined ? { revocationURL } : {}) };
}

/** The value at a dotted path (`user.email`) of a JSON answer, if it is a non-empty string. */
export function identityAt(answer: unknown, path: string): string | undefined {
  let v: unknown = answer;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === 'string' && v.length > 0 && v.length <= 1024 ? v : undefined;
}
