import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { admit, API_GROUP, API_VERSION, type AdmissionError, type SsoConnector, type Secret, type UserBinding } from '../../../src/api/index.ts';
import { validConnector, type Manifest } from './rule-cases.ts';

function errorsOf(doc: unknown): AdmissionError[] {
  const r = admit(doc);
  assert.equal(r.ok, false, 'expected the document to be rejected');
  return r.ok ? [] : r.errors;
}

function accepted<T>(doc: unknown): T {
  const r = admit(doc);
  assert.ok(r.ok, `expected acceptance, got ${JSON.stringify(!r.ok && r.errors)}`);
  return r.object as T;
}

test('constants', () => {
  assert.equal(API_GROUP, 'sso.operator.dev');
  assert.equal(API_VERSION, 'v1alpha1');
});

test('defaults are applied to a new object; the input is not modified', () => {
  const input = validConnector();
  delete input.metadata.namespace;
  const before = structuredClone(input);
  const c = accepted<SsoConnector>(input);
  assert.deepEqual(input, before);
  assert.equal(c.metadata.namespace, 'default');
  assert.equal(c.spec.enabled, true);
  assert.equal(c.spec.stage, 'Production');
  assert.equal(c.spec.session?.ttl, '8h');
  const saml = c.spec.saml!;
  // No default in the object: HTTPRedirect unless the IdP metadata names the binding of the endpoint it fills.
  assert.equal(saml.idp.ssoBinding, undefined);
  assert.equal(saml.clockSkew, '60s');
  assert.deepEqual(saml.security, { requireSignedAssertions: true, allowSHA1: false, allowLegacyEncryption: false, maxResponseBytes: 262144 });
  assert.equal(saml.encryption, 'None');
  assert.deepEqual(saml.sp, { acsParameterStyle: 'RelayState', forceAuthn: false, isPassive: false, signAuthnRequests: false });
  assert.deepEqual(saml.idpInitiated, { enabled: false });
});

test('explicit values win over defaults; nested defaults fill the rest', () => {
  const m = validConnector();
  m.spec.enabled = false;
  m.spec.saml.security = { allowSHA1: true };
  m.spec.saml.sp = { authnContext: { classRefs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'] } };
  const c = accepted<SsoConnector>(m);
  assert.equal(c.spec.enabled, false);
  assert.equal(c.spec.saml!.security!.allowSHA1, true);
  assert.equal(c.spec.saml!.security!.requireSignedAssertions, true);
  assert.equal(c.spec.saml!.sp!.authnContext!.comparison, 'exact');
});

test('unknown field rejected with its path', () => {
  const m = validConnector();
  m.spec.saml.idp.ssoUrl = 'https://x.example/';
  const errs = errorsOf(m);
  const e = errs.find((x) => x.reason === 'UnknownField');
  assert.ok(e, JSON.stringify(errs));
  assert.equal(e.path, '$.spec.saml.idp.ssoUrl');
  assert.match(e.message, /unknown field "ssoUrl".*did you mean "ssoURL"/);
});

test('unknown top-level field rejected; status passes through unchecked', () => {
  assert.deepEqual(errorsOf({ ...validConnector(), extra: 1 }).map((e) => e.path), ['$.extra']);
  const c = accepted<SsoConnector>({ ...validConnector(), status: { observedGeneration: 3, anything: true } });
  assert.deepEqual(c.status, { observedGeneration: 3, anything: true });
});

test('bad enum value names the allowed values', () => {
  const m = validConnector();
  m.spec.saml.idp.ssoBinding = 'SOAP';
  const [e, ...rest] = errorsOf(m);
  assert.equal(rest.length, 0);
  assert.equal(e!.path, '$.spec.saml.idp.ssoBinding');
  assert.equal(e!.reason, 'SchemaViolation');
  assert.match(e!.message, /"HTTPRedirect", "HTTPPost".*got "SOAP"/);
});

test('OIDC and OAuth2 need exactly their own block; other protocols are refused', () => {
  const other = validConnector();
  other.spec.protocol = 'WS-Fed';
  assert.deepEqual(errorsOf(other).map((e) => e.path), ['$.spec.protocol']);
  const oauth2 = validConnector();
  oauth2.spec.protocol = 'OAuth2';
  assert.deepEqual(errorsOf(oauth2).map((e) => `${e.path} ${e.message}`).sort(), ['$.spec.oauth2 oauth2 is required when protocol is OAuth2', '$.spec.saml saml is allowed only when protocol is SAML2']);
  const samlBlock = validConnector();
  samlBlock.spec.protocol = 'OIDC';
  assert.deepEqual(errorsOf(samlBlock).map((e) => `${e.path} ${e.message}`).sort(), ['$.spec.oidc oidc is required when protocol is OIDC', '$.spec.saml saml is allowed only when protocol is SAML2']);
});

function oauth2Connector(oauth2: Record<string, unknown>) {
  const m = validConnector() as Record<string, any>;
  delete m.spec.saml;
  m.spec.protocol = 'OAuth2';
  m.spec.oauth2 = { clientID: 'app', clientSecretRef: { name: 'c', key: 'secret' }, ...oauth2 };
  return m;
}

test('OAuth2: a preset needs only what it says (Zendesk a subdomain); Generic needs every endpoint and the identity field; endpoints https', () => {
  accepted(oauth2Connector({ provider: 'GitHub' }));
  accepted(oauth2Connector({ provider: 'Salesforce', host: 'acme.my.salesforce.com' }));
  accepted(oauth2Connector({ provider: 'Zendesk', subdomain: 'acme' }));
  assert.match(errorsOf(oauth2Connector({ provider: 'Zendesk' }))[0]!.message, /Zendesk needs subdomain/);
  assert.match(errorsOf(oauth2Connector({}))[0]!.message, /Generic needs authorizationURL, tokenURL, userinfoURL and identityField/);
  const generic = { provider: 'Generic', authorizationURL: 'https://op.example.com/a', tokenURL: 'https://op.example.com/t', userinfoURL: 'https://op.example.com/u', identityField: 'user.email' };
  const c = accepted<SsoConnector>(oauth2Connector(generic));
  assert.equal(c.spec.oauth2?.identityField, 'user.email');
  assert.deepEqual(errorsOf(oauth2Connector({ ...generic, tokenURL: 'http://op.example.com/t' })).map((e) => e.path), ['$.spec.oauth2.tokenURL']);
  assert.deepEqual(errorsOf(oauth2Connector({ provider: 'Myspace' })).map((e) => e.path), ['$.spec.oauth2.provider']);
  assert.deepEqual(errorsOf(oauth2Connector({ ...generic, identityField: 'user..email' })).map((e) => e.path), ['$.spec.oauth2.identityField']);
  assert.deepEqual(errorsOf(oauth2Connector({ provider: 'Salesforce', host: 'https://evil' })).map((e) => e.path), ['$.spec.oauth2.host']);
});

test('session.passAccessToken: accepted for OAuth2 and OIDC, refused by name for SAML2 (a SAML IdP issues no access token); revocationURL https', () => {
  const oauth2 = oauth2Connector({ provider: 'GitHub' });
  oauth2.spec.session = { passAccessToken: true };
  assert.equal(accepted<SsoConnector>(oauth2).spec.session?.passAccessToken, true);
  assert.equal(accepted<SsoConnector>(validConnector()).spec.session?.passAccessToken, false, 'off by default');
  const saml = validConnector() as Record<string, any>;
  saml.spec.session = { passAccessToken: true };
  assert.deepEqual(errorsOf(saml).map((e) => `${e.path} ${e.message}`), ['$.spec.session.passAccessToken session.passAccessToken needs protocol OIDC or OAuth2: a SAML IdP issues no access token']);
  saml.spec.session = { passAccessToken: false };
  accepted(saml);
  assert.deepEqual(errorsOf(oauth2Connector({ provider: 'GitHub', revocationURL: 'http://op.example.com/revoke' })).map((e) => e.path), ['$.spec.oauth2.revocationURL']);
});

function oidcConnector(oidc: Record<string, unknown> = {}) {
  const m = validConnector() as Record<string, any>;
  delete m.spec.saml;
  m.spec.protocol = 'OIDC';
  m.spec.oidc = { issuer: 'https://op.example.com', clientID: 'app', clientSecretRef: { name: 'op-client', key: 'secret' }, ...oidc };
  return m;
}

test('an OIDC connector gets its defaults: scopes, the email claim, 60 s of clock skew', () => {
  const c = accepted<SsoConnector>(oidcConnector());
  assert.deepEqual(c.spec.oidc?.scopes, ['openid', 'email', 'profile']);
  assert.equal(c.spec.oidc?.claims?.username, 'email');
  assert.equal(c.spec.oidc?.clockSkew, '60s');
});

test('OIDC: the issuer is https (http only on a loopback host), scopes include openid, authorize parameters are from the list', () => {
  for (const issuer of ['https://op.example.com', 'http://127.0.0.1:4000', 'http://localhost:4000/tenant', 'http://[::1]:9000']) accepted(oidcConnector({ issuer }));
  for (const issuer of ['http://op.example.com', 'http://127.0.0.1.evil.example', 'ftp://op.example.com']) {
    assert.deepEqual(errorsOf(oidcConnector({ issuer })).map((e) => e.path), ['$.spec.oidc.issuer'], issuer);
  }
  assert.match(errorsOf(oidcConnector({ scopes: ['email'] }))[0]!.message, /must include openid/);
  accepted(oidcConnector({ authorizeParameters: [{ name: 'prompt', value: 'login' }, { name: 'hd', value: 'example.com' }] }));
  for (const name of ['state', 'redirect_uri', 'nonce', 'code_challenge', 'client_id']) {
    assert.deepEqual(errorsOf(oidcConnector({ authorizeParameters: [{ name, value: 'x' }] })).map((e) => e.path), ['$.spec.oidc.authorizeParameters[0].name'], name);
  }
  assert.match(errorsOf(oidcConnector({ clientSecretRef: undefined }))[0]!.message, /exactly one of clientSecretRef or privateKeyJWTSecretRef/);
  assert.match(errorsOf(oidcConnector({ privateKeyJWTSecretRef: { name: 'op-key' } }))[0]!.message, /exactly one of clientSecretRef or privateKeyJWTSecretRef/);
  accepted(oidcConnector({ clientSecretRef: undefined, privateKeyJWTSecretRef: { name: 'op-key' } }));
  assert.match(errorsOf(oidcConnector({ issuer: 'https://op.example.com/.well-known/openid-configuration' }))[0]!.message, /not its discovery document/);
  assert.match(errorsOf(oidcConnector({ clockSkew: '10m' }))[0]!.message, /at most 5m/);
  accepted(oidcConnector({ clockSkew: '5m', idTokenSigningAlgorithm: 'ES256' }));
  assert.deepEqual(errorsOf(oidcConnector({ idTokenSigningAlgorithm: 'HS256' })).map((e) => e.path), ['$.spec.oidc.idTokenSigningAlgorithm']);
});

test('reference and accountID patterns', () => {
  const ok = validConnector();
  ok.spec.reference = 'Legacy_ref.1+x@corp-2';
  ok.spec.saml.accountID = 'acct-42';
  accepted(ok);
  for (const bad of ['has space', 'slash/no', 'semi;colon', '']) {
    const m = validConnector();
    m.spec.reference = bad;
    const errs = errorsOf(m);
    assert.equal(errs.length, 1, `${bad}: ${JSON.stringify(errs)}`);
    assert.equal(errs[0]!.path, '$.spec.reference');
  }
});

test('missing required field and wrong type', () => {
  const m = validConnector();
  delete m.spec.saml.idp.entityID;
  m.spec.saml.security = { maxResponseBytes: '10' };
  const errs = errorsOf(m);
  assert.deepEqual(
    errs.map((e) => [e.path, e.reason]),
    [
      ['$.spec.saml.security.maxResponseBytes', 'SchemaViolation'],
      // entityID, ssoURL and certificates are required unless metadata fills them.
      ['$.spec.saml.idp', 'RuleViolation'],
    ],
  );
  assert.match(errs[1]!.message, /give entityID, ssoURL and certificates, or metadata to fill them/);
});

test('saml.idp.metadata: exactly one source; refreshInterval for a url only and at least 5s; url https; it makes entityID, ssoURL and certificates optional', () => {
  const withMetadata = (metadata: Record<string, unknown>) => {
    const m = validConnector() as Record<string, any>;
    m.spec.saml.idp = { metadata };
    return m;
  };
  const c = accepted<SsoConnector>(withMetadata({ url: 'https://idp.example.test/metadata', refreshInterval: '15m' }));
  assert.equal(c.spec.saml?.idp.metadata?.url, 'https://idp.example.test/metadata');
  accepted(withMetadata({ configMapRef: { name: 'idp-metadata', key: 'metadata.xml' } }));
  accepted(withMetadata({ secretRef: { name: 'idp-metadata', key: 'metadata.xml' }, signingCertificates: [{ pem: 'x' }] }));
  const reasons = (metadata: Record<string, unknown>) => errorsOf(withMetadata(metadata)).map((e) => e.message).join(' | ');
  assert.match(reasons({ url: 'https://a/x', configMapRef: { name: 'a', key: 'b' } }), /exactly one of url, configMapRef or secretRef/);
  assert.match(reasons({}), /exactly one of url, configMapRef or secretRef/);
  assert.match(reasons({ configMapRef: { name: 'a', key: 'b' }, refreshInterval: '1h' }), /refreshInterval applies to url only/);
  assert.match(reasons({ url: 'https://a/x', refreshInterval: '1s' }), /at least 5s/);
  assert.match(reasons({ url: 'http://idp.example.test/metadata' }), /must be an https:\/\/ URL/);
});

test('maxResponseBytes bounds and URL checks', () => {
  const m = validConnector();
  m.spec.saml.security = { maxResponseBytes: 100 };
  m.spec.saml.idp.ssoURL = 'ftp://idp.example/sso';
  m.spec.saml.idp.sloURL = 'not a url';
  const errs = errorsOf(m);
  assert.deepEqual(errs.map((e) => e.path).sort(), ['$.spec.saml.idp.sloURL', '$.spec.saml.idp.ssoURL', '$.spec.saml.security.maxResponseBytes']);
});

test('certificate entry needs exactly one of secretRef and pem; at least one entry', () => {
  const both = validConnector();
  both.spec.saml.idp.certificates = [{ pem: 'x', secretRef: { name: 'a', key: 'b' } }];
  assert.deepEqual(errorsOf(both), [
    { path: '$.spec.saml.idp.certificates[0]', reason: 'RuleViolation', message: 'exactly one of secretRef or pem must be set' },
  ]);
  const neither = validConnector();
  neither.spec.saml.idp.certificates = [{}];
  assert.equal(errorsOf(neither)[0]!.path, '$.spec.saml.idp.certificates[0]');
  const none = validConnector();
  none.spec.saml.idp.certificates = [];
  assert.deepEqual(errorsOf(none).map((e) => e.path), ['$.spec.saml.idp.certificates']);
});

test('fingerprints: accepted spellings, rejected junk, duplicates', () => {
  const m = validConnector();
  m.spec.saml.idp.fingerprints = ['sha256:' + 'ab'.repeat(32), 'SHA256:' + Array(32).fill('CD').join(':')];
  accepted(m);
  m.spec.saml.idp.fingerprints = ['sha1:' + 'ab'.repeat(20), 'sha256:' + 'ab'.repeat(31)];
  assert.deepEqual(errorsOf(m).map((e) => e.path), ['$.spec.saml.idp.fingerprints[0]', '$.spec.saml.idp.fingerprints[1]']);
  m.spec.saml.idp.fingerprints = ['sha256:' + 'ab'.repeat(32), 'sha256:' + 'ab'.repeat(32)];
  assert.deepEqual(errorsOf(m).map((e) => [e.path, e.reason]), [['$.spec.saml.idp.fingerprints[1]', 'DuplicateValue']]);
});

test('duration fields', () => {
  const m = validConnector();
  m.spec.saml.clockSkew = '5 minutes';
  m.spec.session = { ttl: '1d' };
  assert.deepEqual(errorsOf(m).map((e) => e.path).sort(), ['$.spec.saml.clockSkew', '$.spec.session.ttl']);
});

test('metadata name and namespace', () => {
  for (const [meta, path] of [
    [{ name: 'Okta' }, '$.metadata.name'],
    [{ name: 'a'.repeat(254) }, '$.metadata.name'],
    [{ name: 'okta', namespace: 'team.a' }, '$.metadata.namespace'],
    [{ name: 'okta', namespace: 'n'.repeat(64) }, '$.metadata.namespace'],
    [{}, '$.metadata.name'],
  ] as const) {
    const m = validConnector();
    m.metadata = { ...meta };
    assert.deepEqual(errorsOf(m).map((e) => e.path), [path], JSON.stringify(meta));
  }
  const ok = validConnector();
  ok.metadata = { name: 'okta.prod-1', namespace: 'team-a', labels: { a: 'b' }, uid: 'x', managedFields: [] };
  accepted(ok);
});

test('dispatch on apiVersion and kind', () => {
  assert.equal(errorsOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })[0]!.reason, 'UnsupportedKind');
  assert.equal(errorsOf({ apiVersion: 'v1', metadata: { name: 'x' } })[0]!.reason, 'UnsupportedKind');
  const wrongVersion = errorsOf({ ...validConnector(), apiVersion: 'sso.operator.dev/v1' });
  assert.deepEqual(wrongVersion.map((e) => [e.path, e.reason]), [['$.apiVersion', 'UnsupportedKind']]);
  assert.equal(errorsOf({ apiVersion: 'sso.operator.dev/v1alpha1', kind: 'Secret', metadata: { name: 'x' } })[0]!.reason, 'UnsupportedKind');
  assert.equal(errorsOf('just a string')[0]!.path, '$');
  assert.equal(errorsOf([validConnector()])[0]!.path, '$');
});

test('UserBinding: defaults, required fields, connector names, duplicates', () => {
  const b = accepted<UserBinding>({
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: { name: 'alice' },
    spec: { user: 'Alice@Example.com', connectors: ['okta'] },
  });
  assert.equal(b.spec.approval, 'Approved');
  assert.equal(b.metadata.namespace, 'default');
  const bad: Manifest = {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: { name: 'bob' },
    spec: { user: '', connectors: ['Okta', 'x', 'x'], approval: 'Maybe' },
  };
  assert.deepEqual(
    errorsOf(bad).map((e) => [e.path, e.reason]),
    [
      ['$.spec.user', 'SchemaViolation'],
      ['$.spec.connectors[0]', 'SchemaViolation'],
      ['$.spec.approval', 'SchemaViolation'],
      ['$.spec.connectors[2]', 'DuplicateValue'],
    ],
  );
  bad.spec = { user: 'bob' };
  assert.deepEqual(errorsOf(bad).map((e) => [e.path, e.reason]), [['$.spec.connectors', 'MissingField']]);
});

test('Secret: data must be base64 (value not echoed); stringData merged into data', () => {
  const errs = errorsOf({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { 'tls.crt': 'top secret!' } });
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.path, "$.data['tls.crt']");
  assert.doesNotMatch(errs[0]!.message, /top secret/);
  const input = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'YWJj\nZGVm' }, stringData: { b: 'héllo' } };
  const s = accepted<Secret>(input);
  assert.deepEqual(s.data, { a: 'YWJj\nZGVm', b: Buffer.from('héllo').toString('base64') });
  assert.equal(s.stringData, undefined);
  assert.deepEqual(input.stringData, { b: 'héllo' });
  assert.equal(errorsOf({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { 'bad/key': 'YQ==' } })[0]!.path, "$.data['bad/key']");
});

test('ConfigMap: plain data, base64 binaryData', () => {
  accepted({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { 'idp.xml': '<x/>' } });
  assert.equal(errorsOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { b: '***' } })[0]!.path, '$.binaryData.b');
  assert.equal(errorsOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, spec: {} })[0]!.reason, 'UnknownField');
});
