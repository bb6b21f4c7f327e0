// `sso-operator check`: the examples pass; every file of
// test/fixtures/broken-manifests (one rule each) is caught, exactly, with its
// reason and location; json and yaml output parse; Secret values never show;
// --fetch reports what a discovery document or metadata url gives.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { demoIdpMetadata } from '../../../src/demo-idp/app.ts';
import { generateSigningIdentity } from '../../../src/demo-idp/keys.ts';
import { REPO, runCli } from '../../support/cli.ts';

jest.setTimeout(60_000);

const BROKEN = join(REPO, 'test/fixtures/broken-manifests');

/** Every file of the fixture and what check must report for it: [severity, reason, JSON path]. */
const EXPECTED: Record<string, [string, string, string][]> = {
  'valid.yaml': [],
  // parsing and schema (store/parse-manifests.ts, api/admission.ts)
  'yaml-syntax.yaml': [['error', 'YAMLSyntaxError', '$']],
  'not-json-value.yaml': [['error', 'InvalidValue', '$.spec.displayName']],
  'unsupported-kind.yaml': [['error', 'UnsupportedKind', '$.kind']],
  'unknown-field.yaml': [['error', 'UnknownField', '$.spec.displayname']],
  'wrong-type.yaml': [['error', 'SchemaViolation', '$.spec.enabled']],
  'bad-enum.yaml': [['error', 'SchemaViolation', '$.spec.protocol']],
  'bad-name.yaml': [['error', 'SchemaViolation', '$.metadata.name']],
  'missing-field.yaml': [['error', 'MissingField', '$.spec.user']],
  'duplicate-set-value.yaml': [['error', 'DuplicateValue', '$.spec.connectors[1]']],
  'secret-bad-base64.yaml': [['error', 'SchemaViolation', '$.data.password']],
  // every CEL rule of src/api/connector.ts
  'cel-certificate-both.yaml': [['error', 'RuleViolation', '$.spec.saml.idp.certificates[0]']],
  'cel-insecure-url.yaml': [['error', 'RuleViolation', '$.spec.oidc.issuer']],
  'cel-metadata-sources.yaml': [['error', 'RuleViolation', '$.spec.saml.idp.metadata']],
  'cel-refresh-without-url.yaml': [['error', 'RuleViolation', '$.spec.saml.idp.metadata.refreshInterval']],
  'cel-refresh-too-short.yaml': [['error', 'RuleViolation', '$.spec.saml.idp.metadata.refreshInterval']],
  'cel-idp-incomplete.yaml': [['error', 'RuleViolation', '$.spec.saml.idp']],
  'cel-force-authn-passive.yaml': [['error', 'RuleViolation', '$.spec.saml.sp.isPassive']],
  'cel-sign-without-key.yaml': [['error', 'RuleViolation', '$.spec.saml.sp.signingKeySecretRef']],
  'cel-next-signing-key-alone.yaml': [['error', 'RuleViolation', '$.spec.saml.sp.signingKeySecretRef']],
  'cel-next-encryption-key-alone.yaml': [['error', 'RuleViolation', '$.spec.saml.sp.encryptionKeySecretRef']],
  'cel-redirect-absolute.yaml': [['error', 'RuleViolation', '$.spec.saml.idpInitiated.redirectPath']],
  'cel-redirect-backslash.yaml': [['error', 'RuleViolation', '$.spec.saml.idpInitiated.redirectPath']],
  'cel-redirect-space.yaml': [['error', 'RuleViolation', '$.spec.saml.idpInitiated.redirectPath']],
  'cel-idp-initiated-without-path.yaml': [['error', 'RuleViolation', '$.spec.saml.idpInitiated.redirectPath']],
  'cel-encryption-without-key.yaml': [['error', 'RuleViolation', '$.spec.saml.sp.encryptionKeySecretRef']],
  'cel-issuer-well-known.yaml': [['error', 'RuleViolation', '$.spec.oidc.issuer']],
  'cel-scopes-without-openid.yaml': [['error', 'RuleViolation', '$.spec.oidc.scopes']],
  'cel-clock-skew.yaml': [['error', 'RuleViolation', '$.spec.oidc.clockSkew']],
  'cel-oidc-two-credentials.yaml': [['error', 'RuleViolation', '$.spec.oidc']],
  'cel-oauth2-generic-incomplete.yaml': [['error', 'RuleViolation', '$.spec.oauth2']],
  'cel-zendesk-subdomain.yaml': [['error', 'RuleViolation', '$.spec.oauth2']],
  'cel-saml-required.yaml': [['error', 'RuleViolation', '$.spec.saml']],
  'cel-saml-forbidden.yaml': [['error', 'RuleViolation', '$.spec.saml']],
  'cel-oidc-required.yaml': [['error', 'RuleViolation', '$.spec.oidc']],
  'cel-oidc-forbidden.yaml': [['error', 'RuleViolation', '$.spec.oidc']],
  'cel-oauth2-required.yaml': [['error', 'RuleViolation', '$.spec.oauth2']],
  'cel-oauth2-forbidden.yaml': [['error', 'RuleViolation', '$.spec.oauth2']],
  'cel-pass-access-token-saml.yaml': [['error', 'RuleViolation', '$.spec.session.passAccessToken']],
  'cel-session-ttl.yaml': [['error', 'RuleViolation', '$.spec.session.ttl']],
  // the compile step (controller/compile-connector.ts), no network
  'missing-secret.yaml': [['warning', 'SecretNotFound', '$.spec.saml.idp.certificates[0].secretRef']],
  'secret-key-missing.yaml': [['error', 'SecretKeyNotFound', '$.spec.oidc.clientSecretRef']],
  'invalid-certificate.yaml': [['error', 'CertificateInvalid', '$.spec.saml.idp.certificates[0].pem']],
  'expired-certificate.yaml': [['error', 'CertificateExpired', '$.spec.saml.idp.certificates']],
  'fingerprint-mismatch.yaml': [['error', 'FingerprintMismatch', '$.spec.saml.idp.fingerprints']],
  'signing-key-invalid.yaml': [['error', 'SigningKeyInvalid', '$.spec.saml.sp.signingKeySecretRef']],
  'encryption-key-invalid.yaml': [['error', 'EncryptionKeyInvalid', '$.spec.saml.sp.encryptionKeySecretRef']],
  'client-key-invalid.yaml': [['error', 'ClientKeyInvalid', '$.spec.oidc.privateKeyJWTSecretRef']],
  'client-secret-empty.yaml': [['error', 'ClientSecretEmpty', '$.spec.oauth2.clientSecretRef']],
  'metadata-doctype.yaml': [['error', 'DoctypeForbidden', '$.spec.saml.idp.metadata.configMapRef']],
  'metadata-invalid.yaml': [['error', 'MetadataInvalid', '$.spec.saml.idp.metadata.configMapRef']],
  'metadata-configmap-missing.yaml': [['warning', 'ConfigMapNotFound', '$.spec.saml.idp.metadata.configMapRef']],
  'metadata-signing-certificate-invalid.yaml': [['error', 'MetadataSigningCertificateInvalid', '$.spec.saml.idp.metadata.signingCertificates']],
  'redirect-path-encoded.yaml': [['error', 'RedirectPathInvalid', '$.spec.saml.idpInitiated.redirectPath']],
  // across objects
  'reference-conflict.yaml': [['error', 'ReferenceConflict', '$.spec.reference']],
  'duplicate-object.yaml': [['error', 'DuplicateObject', '$']],
  'binding-unknown-connector.yaml': [['warning', 'ConnectorNotFound', '$.spec.connectors[1]']],
};

interface Problem {
  file: string;
  documentIndex: number;
  path: string;
  severity: string;
  reason: string;
  message: string;
  object?: { kind: string; namespace?: string; name?: string };
}

describe('sso-operator check', () => {
  it('finds no problem in examples/: exit 0, the demo IdP Secrets it names are warnings (they may exist where it runs)', async () => {
    const r = await runCli(['check', 'examples']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'checked 5 files, 7 objects: 0 problems, 2 warnings');
    assert.match(lines[0]!, /^examples\/connector\.yaml \(document 0\) \$\.spec\.saml\.idp\.certificates\[0\]\.secretRef: warning SecretNotFound: Secret default\/demo-idp-signing /);
    assert.match(lines[1]!, /^examples\/oidc-connector\.yaml \(document 0\) \$\.spec\.oidc\.clientSecretRef: warning SecretNotFound: Secret default\/demo-op-client /);
  });

  it('with --demo-idp (what run --demo-idp provides), examples/ has nothing at all to report', async () => {
    const r = await runCli(['check', '--demo-idp', 'examples']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, 'checked 5 files, 7 objects: 0 problems\n');
  });

  it('--strict makes the warnings count: exit 1', async () => {
    const r = await runCli(['check', '--strict', 'examples']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /0 problems, 2 warnings/);
  });

  it('finds every rule of the broken-manifests fixture, exactly: one finding per file, with its reason and path; exit 1', async () => {
    const files = Array.from(await readdir(BROKEN)).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, Object.keys(EXPECTED).sort(), 'every fixture file has its expectation here');
    const r = await runCli(['check', '-o', 'json', '.'], { cwd: BROKEN });
    assert.equal(r.code, 1);
    const problems = JSON.parse(r.stdout) as Problem[];
    const got = problems.map((p) => `${p.file} ${p.severity} ${p.reason} ${p.path}`).sort();
    const want = Object.entries(EXPECTED)
      .flatMap(([file, list]) => list.map(([severity, reason, path]) => `${file} ${severity} ${reason} ${path}`))
      .sort();
    assert.deepEqual(got, want);
    // The set of (file, reason) pairs, as the task states it.
    assert.deepEqual(
      new Set(problems.map((p) => `${p.file}|${p.reason}`)),
      new Set(Object.entries(EXPECTED).flatMap(([file, list]) => list.map(([, reason]) => `${file}|${reason}`))),
    );
    // Each file's first line says what it is for.
    for (const [file, list] of Object.entries(EXPECTED)) {
      const head = (await readFile(join(BROKEN, file), 'utf8')).split('\n')[0]!;
      for (const [, reason] of list) assert.ok(head.includes(reason), `${file}: ${head}`);
    }
    const byFile = new Map(problems.map((p) => [p.file, p]));
    assert.equal(byFile.get('reference-conflict.yaml')?.object?.name, 'reference-conflict-b', 'the later connector (by name, offline) loses the reference');
    assert.equal(byFile.get('duplicate-object.yaml')?.documentIndex, 1);
    assert.equal(byFile.get('metadata-doctype.yaml')?.documentIndex, 1, 'the connector reading the ConfigMap is blamed');
    for (const p of problems) assert.ok(p.message.length > 0 && p.documentIndex >= 0, JSON.stringify(p));
  });

  it('prints one line per problem and the summary in the default output; never a Secret value', async () => {
    const r = await runCli(['check', 'test/fixtures/broken-manifests']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'checked 57 files, 33 objects: 53 problems, 3 warnings');
    assert.ok(lines.includes('test/fixtures/broken-manifests/cel-session-ttl.yaml (document 0) $.spec.session.ttl: error RuleViolation: ttl must be a positive duration (SsoConnector broken/cel-session-ttl)'));
    // Every Secret value of the fixture (stringData and decoded data), absent from every output format.
    const values: string[] = [];
    for (const f of Object.keys(EXPECTED)) {
      for (const doc of parseAllDocuments(await readFile(join(BROKEN, f), 'utf8'))) {
        const o = doc.toJS() as { kind?: string; data?: Record<string, string>; stringData?: Record<string, string> } | null;
        if (o?.kind !== 'Secret') continue;
        values.push(...Object.values(o.stringData ?? {}), ...Object.values(o.data ?? {}));
      }
    }
    assert.ok(values.includes('hunter2 must never be printed!'));
    const json = await runCli(['check', '-o', 'json', 'test/fixtures/broken-manifests']);
    const yaml = await runCli(['check', '--output', 'yaml', 'test/fixtures/broken-manifests']);
    // (A certificate is public; a Secret holding one is not the point here.)
    for (const v of values.filter((x) => x.length >= 8 && !x.includes('CERTIFICATE'))) {
      for (const out of [r.stdout, json.stdout, yaml.stdout]) assert.ok(!out.includes(v), `a Secret value was printed: ${v}`);
    }
  });

  it('json and yaml output are the same list of problems', async () => {
    const json = await runCli(['check', '-o', 'json', 'test/fixtures/broken-manifests']);
    const yaml = await runCli(['check', '-o', 'yaml', 'test/fixtures/broken-manifests']);
    assert.equal(json.code, 1);
    assert.equal(yaml.code, 1);
    const list = JSON.parse(json.stdout) as Problem[];
    assert.ok(Array.isArray(list) && list.length === 56);
    assert.deepEqual(parseYaml(yaml.stdout), list);
    const clean = await runCli(['check', '-o', 'json', '--demo-idp', 'examples']);
    assert.equal(clean.code, 0);
    assert.deepEqual(JSON.parse(clean.stdout), []);
    assert.deepEqual(parseYaml((await runCli(['check', '-o', 'yaml', '--demo-idp', 'examples'])).stdout), []);
  });

  it('takes files and folders together, reads a file once, and names a path that does not exist', async () => {
    const r = await runCli(['check', '-o', 'json', 'examples/connector.yaml', 'examples', 'no/such/dir']);
    assert.equal(r.code, 1);
    const problems = JSON.parse(r.stdout) as Problem[];
    assert.deepEqual(
      problems.map((p) => [p.file, p.reason]),
      [
        ['examples/connector.yaml', 'SecretNotFound'],
        ['examples/oidc-connector.yaml', 'SecretNotFound'],
        ['no/such/dir', 'FileNotFound'],
      ],
    );
  });

  it('a referenced Secret whose own manifest is refused is reported once, as refused (not also as missing)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sso-check-refused-'));
    try {
      await writeFile(
        join(dir, 'gh.yaml'),
        `apiVersion: v1
kind: Secret
metadata: {name: bad, namespace: x}
data: {client-secret: "not base64!"}
---
apiVersion: sso.operator.dev/v1alpha1
kind: SsoConnector
metadata: {name: gh, namespace: x}
spec:
  protocol: OAuth2
  oauth2: {provider: GitHub, clientID: c, clientSecretRef: {name: bad, key: client-secret}}
`,
      );
      const r = await runCli(['check', '-o', 'json', dir]);
      assert.equal(r.code, 1);
      assert.deepEqual((JSON.parse(r.stdout) as Problem[]).map((p) => [p.documentIndex, p.reason, p.object?.name]), [[0, 'SchemaViolation', 'bad']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a duplicate across two folders names the first definition', async () => {
    const r = await runCli(['check', '-o', 'json', 'examples', 'test/fixtures/broken-manifests/../../../examples/bindings.yaml']);
    // The same file by another path is read once: no duplicate.
    assert.equal((JSON.parse(r.stdout) as Problem[]).filter((p) => p.reason === 'DuplicateObject').length, 0);
    const dir = await mkdtemp(join(tmpdir(), 'sso-check-dup-'));
    try {
      await writeFile(join(dir, 'again.yaml'), await readFile(join(REPO, 'examples/bindings.yaml'), 'utf8'));
      const dup = await runCli(['check', '-o', 'json', 'examples', dir]);
      const found = (JSON.parse(dup.stdout) as Problem[]).filter((p) => p.reason === 'DuplicateObject');
      assert.deepEqual(found.map((p) => [p.documentIndex, p.object?.name]), [[0, 'demo-user'], [1, 'pending-user']]);
      assert.match(found[0]!.message, /already defined in examples\/bindings\.yaml \(document 0\)/);
      assert.equal(dup.code, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sso-operator check --fetch', () => {
  let server: Server;
  let base: string;
  let closedPort: number;
  let dir: string;

  beforeAll(async () => {
    const idp = await generateSigningIdentity({ commonName: 'fetch test IdP', days: 365, algorithm: 'EC' });
    server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/good-op/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: `${base}/good-op`, authorization_endpoint: `${base}/good-op/auth`, token_endpoint: `${base}/good-op/token`, jwks_uri: `${base}/good-op/jwks` }));
      } else if (url === '/metadata/good') {
        res.end(demoIdpMetadata(`${base}/idp`, `${base}/idp`, idp.certPem));
      } else if (url === '/metadata/doctype') {
        res.end('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&e;"/>');
      } else {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    dir = await mkdtemp(join(tmpdir(), 'sso-check-fetch-'));
    const oidc = (name: string, issuer: string) => `apiVersion: sso.operator.dev/v1alpha1
kind: SsoConnector
metadata: {name: ${name}, namespace: fetch}
spec:
  protocol: OIDC
  oidc: {issuer: "${issuer}", clientID: c, clientSecretRef: {name: client, key: secret}}
---
`;
    const saml = (name: string, url: string) => `apiVersion: sso.operator.dev/v1alpha1
kind: SsoConnector
metadata: {name: ${name}, namespace: fetch}
spec:
  protocol: SAML2
  saml: {idp: {metadata: {url: "${url}"}}}
---
`;
    await writeFile(
      join(dir, 'connectors.yaml'),
      `apiVersion: v1
kind: Secret
metadata: {name: client, namespace: fetch}
stringData: {secret: fetch-test-client-secret}
---
${oidc('good-op', `${base}/good-op`)}${oidc('missing-op', `${base}/missing-op`)}${saml('good-md', `${base}/metadata/good`)}${saml('doctype-md', `${base}/metadata/doctype`)}${saml('down-md', `http://127.0.0.1:${closedPort}/metadata`)}`,
    );
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('offline, nothing is fetched and nothing is reported', async () => {
    const r = await runCli(['check', dir]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /checked 1 file, 6 objects: 0 problems\n$/);
  });

  it('with --fetch, a failed discovery, a metadata document with a DOCTYPE and a metadata url that is down are errors', async () => {
    const r = await runCli(['check', '--fetch', '-o', 'json', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const problems = (JSON.parse(r.stdout) as Problem[]).map((p) => [p.object?.name, p.reason, p.path]).sort();
    assert.deepEqual(problems, [
      ['doctype-md', 'DoctypeForbidden', '$.spec.saml.idp.metadata.url'],
      ['down-md', 'MetadataFetchFailed', '$.spec.saml.idp.metadata.url'],
      ['missing-op', 'DiscoveryFailed', '$.spec.oidc.issuer'],
    ]);
  });
});
