// Turns an OIDC SsoConnector, its client Secret and what discovery knows of
// its issuer into a ConnectorRuntime and the conditions of its status. Pure,
// like compileConnector: the discovery state is read, never waited for.
//
// Conditions, in the Pinniped manner (a condition that depends on a failed
// one is Unknown):
// - ClientCredentialsValid: the client Secret and its key exist (SecretNotFound,
//   SecretKeyNotFound);
// - OIDCDiscoverySucceeded: True with the provider's metadata; Unknown while
//   the first fetch runs; False with DiscoveryFailed or IssuerNotAllowed. A
//   failure after a good fetch keeps the last good copy in use (the message
//   says since when), so sign-ins go on while the provider's discovery is down;
// - ReferenceUnique, as for SAML;
// - Ready: the first of these that fails gives the reason.

import type { SsoConnector } from '../api/index.ts';
import { parseDuration } from '../api/index.ts';
import type { DiscoveryState } from '../oidc/discovery.ts';
import { createRemoteJWKSet, customFetch } from 'jose';
import { boundedFetch } from '../oidc/bounded-fetch.ts';
import { buildClient, buildOAuth2Client, privateKeyJWT, type ClientCredentials, type OAuth2ConnectorConfig, type OidcConnectorConfig } from '../oidc/relying-party.ts';
import { issuerAllowed } from '../oidc/discovery.ts';
import { oauth2Endpoints } from '../oidc/oauth2-presets.ts';
import { loadSpSigningKey } from '../saml/sign.ts';
import type { ConditionInput } from './conditions.ts';
import { clientSecretCondition, cond, readyCondition, runtimeBase } from './compile-common.ts';
import type { CompileOutput, SecretLookup } from './compile-connector.ts';

export function oidcURLs(publicURL: string, namespace: string, name: string) {
  const base = `${publicURL.replace(/\/+$/, '')}/oidc/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  return { loginURL: `${base}/login`, callbackURL: `${base}/callback`, logoutCallbackURL: `${base}/logged-out` };
}


export function compileOidc(input: {
  connector: SsoConnector;
  secret: SecretLookup;
  publicURL: string;
  discovery: (issuer: string) => DiscoveryState;
  referenceCondition: ConditionInput;
  sessionTtlSeconds: number;
  now: Date;
}): CompileOutput {
  const { connector } = input;
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  const spec = connector.spec;
  const oidc = spec.oidc!;
  const key = `${namespace}/${name}`;
  const urls = oidcURLs(input.publicURL, namespace, name);
  const conditions: ConditionInput[] = [];

  // The client's credentials: a client secret, or a private key for private_key_jwt.
  let credentials: ClientCredentials | undefined;
  const secretNames: string[] = [];
  if (oidc.clientSecretRef) {
    secretNames.push(oidc.clientSecretRef.name);
    const got = clientSecretCondition(input.secret, namespace, oidc.clientSecretRef);
    conditions.push(got.condition);
    if (got.value !== undefined) credentials = { clientSecret: got.value };
  } else {
    const ref = oidc.privateKeyJWTSecretRef!;
    secretNames.push(ref.name);
    const keyPem = input.secret(namespace, ref.name, 'tls.key');
    const certPem = input.secret(namespace, ref.name, 'tls.crt');
    const missing = 'missing' in keyPem ? keyPem : 'missing' in certPem ? certPem : undefined;
    if (missing && 'missing' in missing) {
      conditions.push(cond('ClientCredentialsValid', 'False', missing.missing, missing.missing === 'SecretNotFound' ? `Secret ${namespace}/${ref.name} not found` : `Secret ${namespace}/${ref.name} has no key ${'missing' in keyPem ? 'tls.key' : 'tls.crt'}`));
    } else {
      // The same rules as the SAML SP signing key: strong enough, key and certificate match, not expired.
      const loaded = loadSpSigningKey((keyPem as { value: string }).value, (certPem as { value: string }).value, input.now);
      if (!loaded.ok) conditions.push(cond('ClientCredentialsValid', 'False', 'ClientKeyInvalid', `Secret ${namespace}/${ref.name}: ${loaded.message}`));
      else {
        const jwt = privateKeyJWT(loaded.signing.key);
        if ('problem' in jwt) conditions.push(cond('ClientCredentialsValid', 'False', 'ClientKeyInvalid', `Secret ${namespace}/${ref.name}: ${jwt.problem}`));
        else {
          credentials = { privateKey: jwt };
          conditions.push(cond('ClientCredentialsValid', 'True', 'ClientKeyLoaded', `private_key_jwt with ${jwt.alg} key ${jwt.kid} (certificate ${loaded.signing.fingerprint}) from Secret ${namespace}/${ref.name}`));
        }
      }
    }
  }
  const secretOK = credentials !== undefined;

  const state = input.discovery(oidc.issuer);
  const provider = state.status === 'ok' ? state.provider : state.status === 'failed' ? state.lastGood : undefined;
  conditions.push(
    state.status === 'ok'
      ? cond('OIDCDiscoverySucceeded', 'True', 'Discovered', `discovered ${oidc.issuer} at ${new Date(state.provider.fetchedAt).toISOString()}`)
      : state.status === 'pending'
        ? cond('OIDCDiscoverySucceeded', 'Unknown', 'DiscoveryPending', `fetching ${oidc.issuer}/.well-known/openid-configuration`)
        : cond(
            'OIDCDiscoverySucceeded',
            'False',
            state.reason,
            state.message + (state.lastGood ? `; signing in with the copy fetched at ${new Date(state.lastGood.fetchedAt).toISOString()}` : ''),
          ),
  );
  conditions.push(input.referenceCondition);

  // Serving needs credentials and some copy of the provider's metadata (the last good one will do).
  const blocking =
    conditions.find((c) => c.type === 'ClientCredentialsValid' && c.status !== 'True') ??
    (provider ? undefined : conditions.find((c) => c.type === 'OIDCDiscoverySucceeded')) ??
    conditions.find((c) => c.type === 'ReferenceUnique' && c.status !== 'True');
  const ready = blocking === undefined;
  conditions.unshift(readyCondition(blocking, spec.enabled !== false, urls.loginURL));

  let config: OidcConnectorConfig | undefined;
  if (ready && secretOK && provider) {
    const clockSkewSeconds = parseDuration(oidc.clockSkew ?? '60s');
    config = {
      key,
      issuer: oidc.issuer,
      clientID: oidc.clientID,
      callbackURL: urls.callbackURL,
      logoutCallbackURL: urls.logoutCallbackURL,
      scopes: oidc.scopes ?? ['openid', 'email', 'profile'],
      usernameClaim: oidc.claims?.username ?? 'email',
      idTokenAlg: oidc.idTokenSigningAlgorithm ?? 'RS256',
      ...(oidc.claims?.groups ? { groupsClaim: oidc.claims.groups } : {}),
      authorizeParameters: Object.fromEntries((oidc.authorizeParameters ?? []).map((p) => [p.name, p.value])),
      clockSkewSeconds,
      logoutKeys: createRemoteJWKSet(new URL(provider.metadata.jwks_uri!), {
        timeoutDuration: 10_000,
        cooldownDuration: 60_000,
        [customFetch]: boundedFetch as unknown as NonNullable<Parameters<typeof createRemoteJWKSet>[1]>[typeof customFetch],
      }),
      client: buildClient({ metadata: provider.metadata, clientID: oidc.clientID, credentials: credentials!, clockSkewSeconds, idTokenAlg: oidc.idTokenSigningAlgorithm ?? 'RS256' }),
    };
  }

  return {
    runtime: { ...runtimeBase(connector, { failing: blocking, protocol: 'OIDC', sessionTtlSeconds: input.sessionTtlSeconds, loginURL: urls.loginURL }), ...(config ? { oidc: config } : {}) },
    conditions,
    fields: {
      loginURL: urls.loginURL,
      callbackURL: urls.callbackURL,
      logoutCallbackURL: urls.logoutCallbackURL,
      issuer: oidc.issuer,
      ...(credentials?.privateKey ? { clientKeyID: credentials.privateKey.kid } : {}),
    },
    secretNames,
    trusted: [],
  };
}

export function oauth2URLs(publicURL: string, namespace: string, name: string) {
  const base = `${publicURL.replace(/\/+$/, '')}/oauth2/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  return { loginURL: `${base}/login`, callbackURL: `${base}/callback` };
}

/**
 * An OAuth2 connector: a provider preset or Generic endpoints, its client
 * secret. Conditions: ClientCredentialsValid, EndpointsValid (every endpoint
 * known and https, http only on loopback), ReferenceUnique, Ready.
 */
export function compileOAuth2(input: { connector: SsoConnector; secret: SecretLookup; publicURL: string; referenceCondition: ConditionInput; sessionTtlSeconds: number }): CompileOutput {
  const { connector } = input;
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  const spec = connector.spec;
  const o = spec.oauth2!;
  const key = `${namespace}/${name}`;
  const urls = oauth2URLs(input.publicURL, namespace, name);
  const conditions: ConditionInput[] = [];
  const secret = clientSecretCondition(input.secret, namespace, o.clientSecretRef);
  conditions.push(secret.condition);
  const endpoints = oauth2Endpoints(o);
  const insecure = 'problem' in endpoints ? undefined : [endpoints.authorizationURL, endpoints.tokenURL, endpoints.userinfoURL, endpoints.revocationURL].find((u) => u !== undefined && !issuerAllowed(u));
  conditions.push(
    'problem' in endpoints
      ? cond('EndpointsValid', 'False', 'EndpointsIncomplete', endpoints.problem)
      : insecure
        ? cond('EndpointsValid', 'False', 'EndpointNotAllowed', `${insecure} is not https (http only on a loopback host)`)
        : cond('EndpointsValid', 'True', 'EndpointsKnown', `provider ${o.provider ?? 'Generic'}: ${endpoints.authorizationURL}`),
  );
  conditions.push(input.referenceCondition);
  const blocking = conditions.find((c) => c.status !== 'True');
  conditions.unshift(readyCondition(blocking, spec.enabled !== false, urls.loginURL));
  let config: OAuth2ConnectorConfig | undefined;
  if (blocking === undefined && !('problem' in endpoints) && secret.value !== undefined) {
    config = {
      key,
      provider: o.provider ?? 'Generic',
      clientID: o.clientID,
      callbackURL: urls.callbackURL,
      scopes: endpoints.scopes,
      userinfoURL: endpoints.userinfoURL,
      identityField: endpoints.identityField,
      client: buildOAuth2Client({
        authorizationURL: endpoints.authorizationURL,
        tokenURL: endpoints.tokenURL,
        ...(endpoints.revocationURL !== undefined ? { revocationURL: endpoints.revocationURL } : {}),
        clientID: o.clientID,
        clientSecret: secret.value,
      }),
    };
  }
  return {
    runtime: { ...runtimeBase(connector, { failing: blocking, protocol: 'OAuth2', sessionTtlSeconds: input.sessionTtlSeconds, loginURL: urls.loginURL }), ...(config ? { oauth2: config } : {}) },
    conditions,
    fields: { loginURL: urls.loginURL, callbackURL: urls.callbackURL },
    secretNames: [o.clientSecretRef.name],
    trusted: [],
  };
}
