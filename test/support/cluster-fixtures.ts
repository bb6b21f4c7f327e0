// Shared setup for the cluster-mode integration tests (cluster-operator.test.ts,
// cluster-faults.test.ts): a real control plane (test/support/kube.ts), the
// CRDs, the namespaces, the Helm chart's RBAC with a ServiceAccount kubeconfig,
// a real SimpleSAMLphp IdP (test/support/simplesamlphp.ts) and the manifests
// and login helper the tests share.
//
// Typical use:
//
//   const fx = await startClusterFixture();          // control plane, CRDs, RBAC, IdP
//   await applyOk(fx.cp, ...baselineManifests(fx));   // Secrets, connector, binding
//   const op = await startFixtureOperator(fx);         // runs as the chart's ServiceAccount
//   const { acs } = await samlLogin(new BrowserClient(), { fx, baseURL: op.baseURL, connector: CONNECTOR });
//   ...
//   await op.stop(); await fx.stop();
//
// Layout (the names are exported below):
// - `sso-system`: the operator's own namespace (session-key Secret, Lease), the
//   chart's ServiceAccount `sso-operator`.
// - `team-a`: the watched namespace. The Secret `idp-signing` holds the IdP's
//   signing certificate; the SsoConnector `ssp` (HTTP-Redirect, EmailAddress
//   NameID) reads it; the UserBinding `alice` binds alice@example.com to it.
//   The Secret `unrelated` is referenced by nothing (its data must never be
//   held by the operator).
// - `team-b`: not watched. Holds a Secret `idp-signing` the operator must not
//   be able to read (the chart's RBAC grants nothing there).
//
// The operator's public port is chosen up front (`fx.operatorPort`), so the SP
// entity IDs and ACS URLs are known, and registered with SimpleSAMLphp, before
// the operator starts. Its publicURL is `http://127.0.0.1:<operatorPort>`.
//
// Everything is applied as manifests, by server-side apply over plain HTTPS
// with the admin certificate (kubeRequest), the way `kubectl apply
// --server-side` does. Plain JSON is sent, not client-node's typed models, so
// nothing of the CRDs (CEL rules, defaults, list types) is lost on the way in;
// installCrds() checks that every CEL rule was stored.
//
// Two apiserver facts the helpers absorb: a resource served by a CRD
// established a moment ago may answer 429 while its watch cache initialises
// (applyObject retries after the advertised delay), and a create of a custom
// resource right after its CRD became Established can be held by the apiserver
// for up to 2 s (nothing to do; see kube-smoke.test.ts).

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { BrowserClient, findFormWithField, parseForms, type BrowserResponse, type ParsedForm } from './browser-client.ts';
import { startTestClusterOperator, type TestClusterOperator, type TestClusterOperatorOptions } from './cluster-operator.ts';
import { helm } from './helm.ts';
import { kubeRequest, pinnedVersions, serviceAccountToken, startControlPlane, waitForCrdEstablished, type ControlPlane, type KubeResponse } from './kube.ts';
import { waitFor } from './operator.ts';
import { makeTestKeyPair, pemBody, startSimpleSamlPhp, type SimpleSamlPhp, type SpRegistration, type TestKeyPair } from './simplesamlphp.ts';
import { reservePort } from './system-deps.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(ROOT, 'charts', 'sso-operator');

export const GROUP_VERSION = 'sso.operator.dev/v1alpha1';
export const CRD_FILES = ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml'] as const;

/** The operator's own namespace, the watched one, and one it must not read. */
export const NS = { operator: 'sso-system', teamA: 'team-a', teamB: 'team-b' } as const;
/** The chart's release name; its ServiceAccount, Lease and RBAC objects carry this name. */
export const RELEASE = 'sso-operator';
export const SERVICE_ACCOUNT = 'sso-operator';
export const LEASE = 'sso-operator';
export const SESSION_KEYS_SECRET = 'sso-operator-session-keys';

/** The baseline objects in team-a (and team-b). */
export const CONNECTOR = 'ssp';
export const CONNECTOR_REFERENCE = 'ssp-main';
export const IDP_SECRET = 'idp-signing';
export const IDP_SECRET_KEY = 'tls.crt';
export const UNRELATED_SECRET = 'unrelated';
export const BINDING = 'alice';

/** SimpleSAMLphp users (exampleauth:UserPass). alice is bound to the connector; bob and carol are not. */
export const USERS = {
  alice: { password: 'alice-Pw-7q!Xk2#cluster', email: 'alice@example.com', groups: ['developers', 'ssp-users'] },
  bob: { password: 'bob-Pw-9z$Lm4%cluster', email: 'bob@example.com', groups: [] as string[] },
  carol: { password: 'carol-Pw-3v&Rt8*cluster', email: 'carol@example.com', groups: [] as string[] },
} as const;
export type UserName = keyof typeof USERS;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: any;
}

/** What the admin-cert helpers of kube.ts need. */
export type Api = Pick<ControlPlane, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------
// Applying manifests (server-side apply, resources found by discovery)

const discovery = new Map<string, { name: string; kind: string; namespaced: boolean }[]>();

/** The REST path of `kind` in `apiVersion`, found by discovery (retried while a fresh CRD's group appears). */
export async function resourcePath(cp: Api, apiVersion: string, kind: string, namespace: string | undefined, name?: string): Promise<string> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    let list = discovery.get(`${cp.server}${base}`);
    if (!list) {
      const r = await kubeRequest(cp, 'GET', base);
      if (r.status === 200) discovery.set(`${cp.server}${base}`, (list = r.body.resources));
    }
    const res = list?.find((x) => x.kind === kind && !x.name.includes('/'));
    if (res) {
      const ns = res.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
      return `${base}${ns}/${res.name}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
    }
    discovery.delete(`${cp.server}${base}`);
    if (Date.now() > deadline) throw new Error(`the apiserver serves no ${kind} in ${apiVersion}`);
    await sleep(200);
  }
}

/** Sends a request as admin, retrying 429 (a fresh CRD's watch cache) after the advertised delay. */
async function requestRetrying429(cp: Api, method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse> {
  let r = await kubeRequest(cp, method, path, body, contentType);
  for (let attempt = 1; r.status === 429 && attempt < 20; attempt++) {
    await sleep(1000 * Math.min(Number(r.body?.details?.retryAfterSeconds) || 1, 5));
    r = await kubeRequest(cp, method, path, body, contentType);
  }
  return r;
}

/**
 * Server-side apply of one object as admin (field manager `kubectl` unless
 * given). Never throws on an HTTP error: a refusal (422 with the CEL message)
 * is what some tests want to see.
 */
export async function applyObject(cp: Api, obj: K8sObject, fieldManager = 'kubectl'): Promise<KubeResponse> {
  const path = await resourcePath(cp, obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
  return requestRetrying429(cp, 'PATCH', `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`, obj, 'application/apply-patch+yaml');
}

/** Applies each object in order; throws (with the apiserver's answer) on the first refusal. Returns the stored objects. */
export async function applyOk(cp: Api, ...objs: K8sObject[]): Promise<K8sObject[]> {
  const out: K8sObject[] = [];
  for (const obj of objs) {
    const r = await applyObject(cp, obj);
    if (r.status !== 200 && r.status !== 201) {
      throw new Error(`apply ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: HTTP ${r.status} ${r.text.slice(0, 600)}`);
    }
    out.push(r.body as K8sObject);
  }
  return out;
}

/** Parses a multi-document YAML text into objects (empty documents skipped). */
export function parseManifests(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** GET one object as admin; undefined when it does not exist (404). */
export async function getObject(cp: Api, apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<K8sObject | undefined> {
  const r = await requestRetrying429(cp, 'GET', await resourcePath(cp, apiVersion, kind, namespace, name));
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${kind} ${namespace ?? ''}/${name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.body as K8sObject;
}

/** A merge patch of one object as admin (e.g. a label or a spec field). Returns the patched object. */
export async function mergePatch(cp: Api, apiVersion: string, kind: string, namespace: string | undefined, name: string, patch: unknown): Promise<K8sObject> {
  const r = await requestRetrying429(cp, 'PATCH', await resourcePath(cp, apiVersion, kind, namespace, name), patch, 'application/merge-patch+json');
  if (r.status !== 200) throw new Error(`merge patch ${kind} ${namespace ?? ''}/${name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.body as K8sObject;
}

export async function deleteObject(cp: Api, apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<void> {
  const r = await requestRetrying429(cp, 'DELETE', await resourcePath(cp, apiVersion, kind, namespace, name));
  if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new Error(`DELETE ${kind} ${namespace ?? ''}/${name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
}

export interface KubeEvent {
  metadata: { name: string; namespace: string };
  reason: string;
  type: string;
  note?: string;
  action?: string;
  reportingController?: string;
  reportingInstance?: string;
  regarding?: { apiVersion?: string; kind?: string; namespace?: string; name?: string; uid?: string };
  series?: { count: number };
}

/** events.k8s.io/v1 Events of a namespace, optionally only those regarding `kind/name`. */
export async function listEvents(cp: Api, namespace: string, regarding?: { kind: string; name: string }): Promise<KubeEvent[]> {
  const r = await requestRetrying429(cp, 'GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  if (r.status !== 200) throw new Error(`list Events in ${namespace}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  const items = (r.body.items ?? []) as KubeEvent[];
  return regarding ? items.filter((e) => e.regarding?.kind === regarding.kind && e.regarding?.name === regarding.name) : items;
}

// ---------------------------------------------------------------------------------
// CRDs and namespaces

/** Counts `x-kubernetes-validations` rules anywhere in a schema. */
export function countCelRules(o: unknown): number {
  if (!o || typeof o !== 'object') return 0;
  return Object.entries(o).reduce(
    (n, [k, v]) => n + (k === 'x-kubernetes-validations' && Array.isArray(v) ? v.length : 0) + countCelRules(v),
    0,
  );
}

export interface InstalledCrd {
  name: string;
  /** CEL rules in the file and in what the apiserver stored (equal, or installCrds throws). */
  celRules: number;
}

/** Applies crds/*.yaml, waits until each is Established and checks every CEL rule was stored. */
export async function installCrds(cp: Api): Promise<InstalledCrd[]> {
  const crds: K8sObject[] = [];
  for (const f of CRD_FILES) crds.push(...parseManifests(await readFile(join(ROOT, 'crds', f), 'utf8')));
  await applyOk(cp, ...crds);
  const out: InstalledCrd[] = [];
  if (countCelRules(crds) === 0) throw new Error('crds/ holds no CEL rule at all: wrong files?');
  for (const crd of crds) {
    await waitForCrdEstablished(cp, crd.metadata.name);
    const stored = await getObject(cp, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, crd.metadata.name);
    const want = countCelRules(crd.spec);
    const got = countCelRules(stored?.spec);
    if (got !== want) throw new Error(`${crd.metadata.name}: ${want} CEL rules in the file, ${got} stored`);
    out.push({ name: crd.metadata.name, celRules: got });
  }
  return out;
}

export async function createNamespaces(cp: Api, names: readonly string[]): Promise<void> {
  await applyOk(cp, ...names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })));
}

// ---------------------------------------------------------------------------------
// The chart's RBAC and a ServiceAccount kubeconfig

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/**
 * `helm template` of charts/sso-operator into `namespace` with the given
 * watched namespaces, reduced to the identity and RBAC objects (ServiceAccount,
 * (Cluster)Role, (Cluster)RoleBinding): what an apiserver without a kubelet can use.
 */
export function renderChartRbac(opts: { namespace: string; namespaces: readonly string[]; release?: string }): K8sObject[] {
  const values = { publicURL: 'https://sso.example.com', namespaces: opts.namespaces };
  const args = ['template', opts.release ?? RELEASE, CHART, '--namespace', opts.namespace, '--kube-version', pinnedVersions().kubernetes, '-f', '-'];
  const res = helm(args, { input: JSON.stringify(values) });
  if (res.status !== 0) throw new Error(`helm ${args.join(' ')} failed (exit ${res.status}):\n${res.stderr}`);
  return parseManifests(res.stdout).filter((o) => RBAC_KINDS.has(o.kind));
}

/** Writes a kubeconfig that authenticates with `token` only (no client certificate); mode 0600. */
export async function writeTokenKubeconfig(cp: Pick<ControlPlane, 'server' | 'caPem'>, token: string, path: string, namespace = NS.operator): Promise<void> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') } }],
    users: [{ name: 'service-account', user: { token } }],
    contexts: [{ name: 'service-account', context: { cluster: 'test', user: 'service-account', namespace } }],
    'current-context': 'service-account',
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}

// ---------------------------------------------------------------------------------
// Manifests

/** An Opaque Secret holding every PEM in one value (the operator accepts several certificates per PEM). */
export function idpSecretManifest(namespace: string, name: string, pems: readonly string[], key = IDP_SECRET_KEY): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    stringData: { [key]: pems.map((p) => p.trim()).join('\n') + '\n' },
  };
}

export interface ConnectorManifestOptions {
  namespace?: string;
  name?: string;
  /** Where the certificate comes from: a Secret (default IDP_SECRET / IDP_SECRET_KEY) or inline PEMs. */
  secretName?: string;
  secretKey?: string;
  pem?: string;
  reference?: string;
  displayName?: string;
  fingerprints?: string[];
}

/** An SsoConnector for the fixture's SimpleSAMLphp: HTTP-Redirect, EmailAddress NameID. */
export function connectorManifest(idp: Pick<SimpleSamlPhp, 'entityID' | 'ssoURL'>, o: ConnectorManifestOptions = {}): K8sObject {
  const name = o.name ?? CONNECTOR;
  return {
    apiVersion: GROUP_VERSION,
    kind: 'SsoConnector',
    metadata: { name, namespace: o.namespace ?? NS.teamA },
    spec: {
      displayName: o.displayName ?? `SimpleSAMLphp (${name})`,
      ...(o.reference !== undefined ? { reference: o.reference } : {}),
      protocol: 'SAML2',
      saml: {
        idp: {
          entityID: idp.entityID,
          ssoURL: idp.ssoURL,
          ssoBinding: 'HTTPRedirect',
          certificates: [
            o.pem !== undefined
              ? { pem: o.pem }
              : { secretRef: { name: o.secretName ?? IDP_SECRET, key: o.secretKey ?? IDP_SECRET_KEY } },
          ],
          ...(o.fingerprints ? { fingerprints: o.fingerprints } : {}),
        },
        sp: { nameIDPolicy: { format: 'EmailAddress' } },
      },
    },
  };
}

export function bindingManifest(o: { namespace?: string; name?: string; user: string; connectors: string[]; groups?: string[] }): K8sObject {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'UserBinding',
    metadata: { name: o.name ?? BINDING, namespace: o.namespace ?? NS.teamA },
    spec: { user: o.user, connectors: o.connectors, ...(o.groups ? { groups: o.groups } : {}) },
  };
}

/**
 * The baseline: in team-a the IdP Secret (current IdP certificate), an
 * unreferenced Secret, the connector `ssp` (reference `ssp-main`) and alice's
 * binding; in team-b a Secret of the same name the operator must not read.
 */
export function baselineManifests(fx: Pick<ClusterFixture, 'idp'>): K8sObject[] {
  const cert = fx.idp.certPem;
  return [
    idpSecretManifest(NS.teamA, IDP_SECRET, [cert]),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: UNRELATED_SECRET, namespace: NS.teamA }, type: 'Opaque', stringData: { password: 'never-read-by-the-operator' } },
    idpSecretManifest(NS.teamB, IDP_SECRET, [cert]),
    connectorManifest(fx.idp, { reference: CONNECTOR_REFERENCE }),
    bindingManifest({ user: USERS.alice.email, connectors: [CONNECTOR], groups: [...USERS.alice.groups] }),
  ];
}

// ---------------------------------------------------------------------------------
// Certificates

/** `sha256:` + 64 lowercase hex digits, as the operator writes fingerprints. */
export function fingerprintOf(pem: string): string {
  return 'sha256:' + new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** The certificate's notAfter as the operator writes it (ISO 8601, milliseconds, Z). */
export function notAfterOf(pem: string): string {
  return new Date(new X509Certificate(pem).validTo).toISOString();
}

// ---------------------------------------------------------------------------------
// SimpleSAMLphp and logins

/** The operator's SP URLs of a connector, for a given publicURL. */
export function spURLs(baseURL: string, namespace: string, name: string) {
  const base = `${baseURL}/saml/${namespace}/${name}`;
  return { entityID: `${base}/metadata`, acsURL: `${base}/acs`, loginURL: `${base}/login`, metadataURL: `${base}/metadata` };
}

/** SimpleSAMLphp registrations (email NameID) for connectors served at `baseURL`. */
export function spRegistrations(baseURL: string, connectors: readonly { namespace: string; name: string }[]): SpRegistration[] {
  return connectors.map((c) => {
    const u = spURLs(baseURL, c.namespace, c.name);
    return { entityID: u.entityID, acsURL: u.acsURL, nameIDFormat: 'email', nameIDAttribute: 'email' };
  });
}

/**
 * Switches SimpleSAMLphp's signing key and waits until its metadata publishes
 * the new certificate (its SSO endpoint reads the same file); rewrites it if a
 * stale compiled copy keeps serving the old one. Resolves with the ms it took.
 */
export async function switchIdpKey(idp: SimpleSamlPhp, pair: TestKeyPair): Promise<number> {
  const t0 = performance.now();
  for (let attempt = 1; attempt <= 3; attempt++) {
    await idp.setSigningKey(pair.keyPem, pair.certPem);
    try {
      await waitFor(async () => (await (await fetch(idp.metadataURL)).text()).includes(pemBody(pair.certPem)), 2600, 50);
      return Math.round(performance.now() - t0);
    } catch {
      // stale: write again
    }
  }
  throw new Error('SimpleSAMLphp kept publishing the previous signing certificate');
}

/** Reason code of the operator's error page (`Reason: <code>X</code>`), or undefined. */
export function errorReason(res: Pick<BrowserResponse, 'body'>): string | undefined {
  return /Reason: <code>([^<]*)<\/code>/.exec(res.body)?.[1];
}

export function setCookieNames(res: BrowserResponse): string[] {
  return res.headers.getSetCookie().map((c) => c.slice(0, c.indexOf('=')));
}

export interface SamlLoginOptions {
  idp: Pick<SimpleSamlPhp, 'ssoURL'>;
  /** The operator's publicURL (TestClusterOperator.baseURL). */
  baseURL: string;
  namespace?: string;
  connector?: string;
  rd?: string;
  user?: UserName;
}

export interface SamlLoginResult {
  /** The operator's answer to the SAMLResponse POST (not followed): 303 + sso_session, or an error page. */
  acs: BrowserResponse;
  /** The SAMLResponse form SimpleSAMLphp auto-submitted. */
  form: ParsedForm;
  /** Wall time of the whole login (all round trips). */
  ms: number;
}

/**
 * A whole SP-initiated login in `browser`: the operator's login URL (302 to
 * SimpleSAMLphp with the AuthnRequest), SimpleSAMLphp's login form when the
 * browser has no IdP session yet, its auto-submit form, and the POST to the
 * operator's ACS (not followed, so the 303 and its cookies can be checked).
 */
export async function samlLogin(browser: BrowserClient, o: SamlLoginOptions): Promise<SamlLoginResult> {
  const t0 = performance.now();
  const ns = o.namespace ?? NS.teamA;
  const name = o.connector ?? CONNECTOR;
  const user = o.user ?? 'alice';
  const urls = spURLs(o.baseURL, ns, name);
  let page = await browser.get(`${urls.loginURL}?rd=${encodeURIComponent(o.rd ?? '/')}`);
  // Redirect binding: the operator answered 302 to the IdP's SSO URL (which may redirect on to its login form).
  if (![...page.redirects, page.url].some((u) => u.startsWith(o.idp.ssoURL))) {
    throw new Error(`the login did not reach the IdP (status ${page.status} at ${page.url}, reason ${errorReason(page) ?? '-'}):\n${page.body.slice(0, 800)}`);
  }
  const loginForm = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
  if (loginForm) page = await browser.submit(loginForm, { username: user, password: USERS[user].password });
  const form = findFormWithField(page, 'SAMLResponse');
  if (!form) throw new Error(`no SAMLResponse form at ${page.url} (status ${page.status}):\n${page.body.slice(0, 2000)}`);
  if (form.action !== urls.acsURL) throw new Error(`SimpleSAMLphp posts to ${form.action}, not to the connector's ACS ${urls.acsURL}`);
  const acs = await browser.submit(form, {}, { followRedirects: false });
  return { acs, form, ms: Math.round(performance.now() - t0) };
}

/** Asserts a successful ACS answer: 303 to `rd` with a session cookie. */
export function assertLoggedIn(res: BrowserResponse, baseURL: string, rd: string): void {
  assert.equal(res.status, 303, `expected 303 from the ACS, got ${res.status} (reason ${errorReason(res) ?? '-'}):\n${res.body.slice(0, 800)}`);
  assert.equal(new URL(res.headers.get('location') ?? '', baseURL).href, new URL(rd, baseURL).href);
  assert.ok(setCookieNames(res).includes('sso_session'), 'a session cookie is set');
}

/** Asserts a refused ACS answer: the status, the reason on the page, and no session cookie. */
export function assertRefused(res: BrowserResponse, status: number, reason: string): void {
  assert.equal(res.status, status, `expected ${status} ${reason}, got ${res.status} (reason ${errorReason(res) ?? '-'}):\n${res.body.slice(0, 800)}`);
  assert.equal(errorReason(res), reason);
  assert.ok(!setCookieNames(res).includes('sso_session'), 'no session cookie on a refusal');
}

// ---------------------------------------------------------------------------------
// The whole fixture

export interface ClusterFixture {
  cp: ControlPlane;
  idp: SimpleSamlPhp;
  /** SimpleSAMLphp starts signing with `old`; `new` is for rotation tests. */
  keys: { old: TestKeyPair; new: TestKeyPair };
  crds: InstalledCrd[];
  /** The rendered chart objects that were applied (ServiceAccount, Roles, RoleBindings). */
  rbac: K8sObject[];
  /** The chart's ServiceAccount: a bound token and a kubeconfig using only that token. */
  sa: { namespace: string; name: string; token: string; kubeconfigPath: string };
  /** Writes a kubeconfig (in cp.dir) for the ServiceAccount that reaches the apiserver at `server` (a proxy); returns its path. */
  kubeconfigVia(server: string, file: string): Promise<string>;
  /** Public port reserved for the operator (its publicURL is `baseURL`); SPs are registered for it. */
  operatorPort: number;
  /** Stops holding operatorPort (startFixtureOperator does this right before the operator listens). */
  releaseOperatorPort(): Promise<void>;
  baseURL: string;
  /** Phase timings in ms (controlPlane, idp, crds, rbac, ...). */
  timings: Record<string, number>;
  /** Re-registers the SPs of these connectors with SimpleSAMLphp (replaces the registrations). */
  registerConnectors(connectors: readonly { namespace: string; name: string }[], baseURL?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterFixtureOptions {
  /** Namespaces the chart's RBAC (and, by default, the operator) covers. Default [team-a]. */
  watched?: readonly string[];
  /** Connectors registered with SimpleSAMLphp at start. Default [team-a/ssp]. */
  connectors?: readonly { namespace: string; name: string }[];
  /** More operator publicURLs (other replicas) for which the connectors are registered too. */
  extraBaseURLs?: readonly string[];
  /** Extra kube-apiserver flags, e.g. --watch-cache=false (watches then read etcd, so compacting it makes an old resourceVersion 410 Gone). */
  apiserverFlags?: string[];
}

/**
 * Starts everything a cluster-mode test needs except the operator: control
 * plane and SimpleSAMLphp (in parallel), the CRDs, the namespaces, the chart's
 * RBAC for `watched`, a token kubeconfig for its ServiceAccount, and the SP
 * registrations. The baseline manifests are NOT applied (see baselineManifests).
 */
export async function startClusterFixture(opts: ClusterFixtureOptions = {}): Promise<ClusterFixture> {
  const watched = opts.watched ?? [NS.teamA];
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - t);
    }
  };
  // Held until the operator starts: the control plane may take minutes to
  // build on a fresh machine, and any listen(0) meanwhile could take the port.
  const operatorPortHeld = await reservePort();
  const operatorPort = operatorPortHeld.port;
  const baseURL = `http://127.0.0.1:${operatorPort}`;
  const connectors = opts.connectors ?? [{ namespace: NS.teamA, name: CONNECTOR }];

  const idpStart = timed('idp', async () => {
    const [oldKey, newKey] = await Promise.all([makeTestKeyPair('cluster-idp-old'), makeTestKeyPair('cluster-idp-new')]);
    const idp = await startSimpleSamlPhp({
      users: Object.fromEntries(
        Object.entries(USERS).map(([name, u]) => [name, { password: u.password, attributes: { uid: [name], email: [u.email] } }]),
      ),
      serviceProviders: [baseURL, ...(opts.extraBaseURLs ?? [])].flatMap((url) => spRegistrations(url, connectors)),
      signing: oldKey,
    });
    return { idp, keys: { old: oldKey, new: newKey } };
  });
  const cpStart = timed('controlPlane', () => startControlPlane({ verbose: false, apiserverFlags: opts.apiserverFlags }));
  const [idpResult, cpResult] = await Promise.allSettled([idpStart, cpStart]);
  if (idpResult.status === 'rejected' || cpResult.status === 'rejected') {
    if (idpResult.status === 'fulfilled') await idpResult.value.idp.stop();
    if (cpResult.status === 'fulfilled') await cpResult.value.stop();
    throw idpResult.status === 'rejected' ? idpResult.reason : (cpResult as PromiseRejectedResult).reason;
  }
  const { idp, keys } = idpResult.value;
  const cp = cpResult.value;
  const stop = async () => {
    await operatorPortHeld.release();
    await idp.stop();
    await cp.stop();
  };
  try {
    const crds = await timed('crds', () => installCrds(cp));
    const rbac = await timed('rbac', async () => {
      await createNamespaces(cp, [NS.operator, NS.teamA, NS.teamB]);
      const objs = renderChartRbac({ namespace: NS.operator, namespaces: watched });
      await applyOk(cp, ...objs);
      return objs;
    });
    const token = await timed('token', () => serviceAccountToken(cp, NS.operator, SERVICE_ACCOUNT));
    const kubeconfigVia = async (server: string, file: string) => {
      const path = join(cp.dir, file);
      await writeTokenKubeconfig({ server, caPem: cp.caPem }, token, path);
      return path;
    };
    const sa = { namespace: NS.operator, name: SERVICE_ACCOUNT, token, kubeconfigPath: await kubeconfigVia(cp.server, 'sa-kubeconfig') };
    return {
      cp,
      idp,
      keys,
      crds,
      rbac,
      sa,
      kubeconfigVia,
      operatorPort,
      releaseOperatorPort: operatorPortHeld.release,
      baseURL,
      timings,
      registerConnectors: (list, url = baseURL) => idp.setServiceProviders(spRegistrations(url, list)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Starts the operator as the chart's ServiceAccount (fx.sa.kubeconfigPath),
 * own namespace sso-system, watching team-a, on the reserved port. Options
 * override any of that (a second replica passes its own `port` and `identity`).
 */
export async function startFixtureOperator(fx: ClusterFixture, o: Partial<TestClusterOperatorOptions> = {}): Promise<TestClusterOperator> {
  if ((o.port ?? fx.operatorPort) === fx.operatorPort) await fx.releaseOperatorPort();
  return startTestClusterOperator({
    kubeconfigPath: fx.sa.kubeconfigPath,
    namespace: NS.operator,
    namespaces: [NS.teamA],
    port: fx.operatorPort,
    logLevel: 'info',
    ...o,
  });
}

/**
 * Polls `check` until it returns a value other than undefined/false/null; resolves
 * with that value and the ms it took, or throws `what` after timeoutMs.
 */
export async function pollFor<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000, intervalMs = 20): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return { value, ms: Math.round(performance.now() - start) };
    if (performance.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Polls the apiserver until `check(object)` holds; returns the object. */
export async function waitForObject(
  cp: Api,
  ref: { apiVersion?: string; kind: string; namespace: string; name: string },
  check: (obj: K8sObject) => boolean,
  timeoutMs = 10_000,
): Promise<{ obj: K8sObject; ms: number }> {
  let last: K8sObject | undefined;
  try {
    const { value, ms } = await pollFor('object state', async () => {
      last = await getObject(cp, ref.apiVersion ?? GROUP_VERSION, ref.kind, ref.namespace, ref.name);
      return last !== undefined && check(last) ? last : undefined;
    }, timeoutMs, 25);
    return { obj: value, ms };
  } catch {
    throw new Error(`${ref.kind} ${ref.namespace}/${ref.name} did not reach the expected state within ${timeoutMs} ms; last seen:\n${JSON.stringify(last?.status ?? last, null, 1)?.slice(0, 3000)}`);
  }
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export function conditionOf(obj: K8sObject | undefined, type: string): Condition | undefined {
  return ((obj?.status?.conditions ?? []) as Condition[]).find((c) => c.type === type);
}

export { BrowserClient };
