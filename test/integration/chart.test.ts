// The Helm chart (charts/sso-operator) against helm built from its Go module
// (test/support/helm.ts) and the real kube-apiserver (test/support/kube.ts):
// lint, render, every rendered object applied and accepted, and the rendered RBAC
// exercised as the chart's ServiceAccount with a real bound token (TokenRequest),
// making the API calls the operator makes.
//
// The first run on a machine includes the cold helm build (about 2 minutes on
// 2 cores) and, when missing, the control-plane build (about 9 minutes).

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ensureHelm, helm } from '../support/helm.ts';
import {
  kubeRequest,
  pinnedVersions,
  requestAsToken,
  serviceAccountToken,
  startControlPlane,
  waitForCrdEstablished,
  type ControlPlane,
  type KubeResponse,
} from '../support/kube.ts';
import { ensureDebianPackages } from '../support/system-deps.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(ROOT, 'charts', 'sso-operator');
const PUBLIC_URL = 'https://sso.example.com';
const GROUP_VERSION = 'sso.operator.dev/v1alpha1';
const SESSION_KEYS = 'sso-operator-session-keys';
const LEASE = 'sso-operator';

// Two installs side by side: cluster-wide in sso-system, and one limited to team-a
// in sso-scoped. team-b is watched by neither of the namespaced install.
const CLUSTER_WIDE = { release: 'sso-operator', namespace: 'sso-system' } as const;
const SCOPED = { release: 'sso-operator', namespace: 'sso-scoped', watched: ['team-a'] } as const;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: any;
}

// ---------------------------------------------------------------------------------
// Rendering

function helmOk(args: string[], input?: string): string {
  const res = helm(args, input === undefined ? {} : { input });
  assert.equal(res.status, 0, `helm ${args.join(' ')} failed (exit ${res.status}):\n${res.stderr}`);
  return res.stdout;
}

function parseObjects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `helm template` with values given as JSON on stdin (`-f -`). */
function render(release: string, namespace: string, values: Record<string, unknown>, extra: string[] = []): K8sObject[] {
  const out = helmOk(
    ['template', release, CHART, '--namespace', namespace, '--kube-version', pinnedVersions().kubernetes, '-f', '-', ...extra],
    JSON.stringify(values),
  );
  return parseObjects(out);
}

const find = (objs: K8sObject[], kind: string, name?: string, namespace?: string): K8sObject[] =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && (namespace === undefined || o.metadata.namespace === namespace));

function one(objs: K8sObject[], kind: string, name?: string, namespace?: string): K8sObject {
  const found = find(objs, kind, name, namespace);
  assert.equal(found.length, 1, `expected one ${kind} ${namespace ?? ''}/${name ?? '*'}, found ${found.length}`);
  return found[0]!;
}

// ---------------------------------------------------------------------------------
// Applying to the apiserver (server-side apply, resources found by discovery)

type Api = Pick<ControlPlane, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>;

const discovery = new Map<string, { name: string; kind: string; namespaced: boolean }[]>();

async function resourceFor(cp: Api, apiVersion: string, kind: string): Promise<{ base: string; plural: string; namespaced: boolean }> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  // A group served by a CRD established a moment ago can take a moment to appear.
  const deadline = Date.now() + 15_000;
  for (;;) {
    let list = discovery.get(base);
    if (!list) {
      const r = await kubeRequest(cp, 'GET', base);
      if (r.status === 200) discovery.set(base, (list = r.body.resources));
    }
    const res = list?.find((x) => x.kind === kind && !x.name.includes('/'));
    if (res) return { base, plural: res.name, namespaced: res.namespaced };
    discovery.delete(base);
    if (Date.now() > deadline) throw new Error(`the apiserver serves no ${kind} in ${apiVersion}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function apply(cp: Api, obj: K8sObject): Promise<KubeResponse> {
  const { base, plural, namespaced } = await resourceFor(cp, obj.apiVersion, obj.kind);
  const ns = namespaced ? `/namespaces/${obj.metadata.namespace}` : '';
  return kubeRequest(
    cp,
    'PATCH',
    `${base}${ns}/${plural}/${obj.metadata.name}?fieldManager=chart-test&force=true`,
    obj,
    'application/apply-patch+yaml',
  );
}

async function createNamespace(cp: Api, name: string): Promise<void> {
  const r = await apply(cp, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  assert.ok(r.status === 200 || r.status === 201, `namespace ${name}: ${r.status} ${r.text}`);
}

/** A minimal CRD: what a cluster with prometheus-operator serves, without its schema. */
function monitoringCrd(plural: string, kind: string): K8sObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com',
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------
// Requests as the ServiceAccount (a bearer token, no client certificate)

interface Call {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  contentType?: string;
  expect: 'allowed' | 'forbidden';
}

/** Runs every call as the token; fails once, listing every call that did not get what it expected. */
async function expectCalls(cp: Api, token: string, calls: Call[]): Promise<void> {
  const wrong: string[] = [];
  for (const c of calls) {
    let r = await requestAsToken(cp, token, c.method, c.path, c.body, c.contentType);
    // A resource served by a CRD established a moment ago answers 429 while its watch
    // cache initialises; clients retry after the advertised delay, as client-go does.
    for (let attempt = 1; r.status === 429 && attempt < 20; attempt++) {
      await new Promise((res) => setTimeout(res, 1000 * Math.min(Number(r.body?.details?.retryAfterSeconds) || 1, 5)));
      r = await requestAsToken(cp, token, c.method, c.path, c.body, c.contentType);
    }
    const ok = c.expect === 'forbidden' ? r.status === 403 : r.status >= 200 && r.status < 300;
    if (!ok) wrong.push(`${c.what}: expected ${c.expect}, got ${r.status} (${c.method} ${c.path}) ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(wrong, [], `RBAC mismatches:\n${wrong.join('\n')}`);
}

const SSA = 'application/apply-patch+yaml';
const MERGE = 'application/merge-patch+json';
const api = (ns: string, plural: string, name = '') => `/apis/${GROUP_VERSION}/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
const core = (ns: string, plural: string, name = '') => `/api/v1/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
const leases = (ns: string, name = '') => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases${name ? `/${name}` : ''}`;
const nowRfc3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The calls the operator makes in a namespace it watches (informers, status, Events). */
function watchedNamespaceCalls(ns: string): Call[] {
  const eventName = `demo.${Date.now().toString(16)}`;
  return [
    { what: 'list SsoConnectors', method: 'GET', path: api(ns, 'ssoconnectors'), expect: 'allowed' },
    { what: 'watch SsoConnectors', method: 'GET', path: `${api(ns, 'ssoconnectors')}?watch=1&timeoutSeconds=1`, expect: 'allowed' },
    { what: 'get an SsoConnector', method: 'GET', path: api(ns, 'ssoconnectors', 'demo'), expect: 'allowed' },
    { what: 'list UserBindings', method: 'GET', path: api(ns, 'userbindings'), expect: 'allowed' },
    { what: 'watch UserBindings', method: 'GET', path: `${api(ns, 'userbindings')}?watch=1&timeoutSeconds=1`, expect: 'allowed' },
    {
      what: 'apply SsoConnector status (server-side apply)',
      method: 'PATCH',
      path: `${api(ns, 'ssoconnectors', 'demo')}/status?fieldManager=sso-operator&force=true`,
      contentType: SSA,
      body: {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: 'demo', namespace: ns },
        status: {
          observedGeneration: 1,
          conditions: [{ type: 'Ready', status: 'False', reason: 'SecretNotFound', message: 'chart test', lastTransitionTime: nowRfc3339() }],
        },
      },
      expect: 'allowed',
    },
    {
      what: 'change an SsoConnector spec (merge patch)',
      method: 'PATCH',
      path: api(ns, 'ssoconnectors', 'demo'),
      contentType: MERGE,
      body: { spec: { displayName: 'changed by the operator' } },
      expect: 'forbidden',
    },
    {
      what: 'change an SsoConnector spec (server-side apply)',
      method: 'PATCH',
      path: `${api(ns, 'ssoconnectors', 'demo')}?fieldManager=sso-operator&force=true`,
      contentType: SSA,
      body: { apiVersion: GROUP_VERSION, kind: 'SsoConnector', metadata: { name: 'demo', namespace: ns }, spec: { displayName: 'x' } },
      expect: 'forbidden',
    },
    { what: 'create an SsoConnector', method: 'POST', path: api(ns, 'ssoconnectors'), body: { apiVersion: GROUP_VERSION, kind: 'SsoConnector', metadata: { name: 'other' } }, expect: 'forbidden' },
    { what: 'delete an SsoConnector', method: 'DELETE', path: api(ns, 'ssoconnectors', 'demo'), expect: 'forbidden' },
    { what: 'delete a UserBinding', method: 'DELETE', path: api(ns, 'userbindings', 'alice'), expect: 'forbidden' },
    // Access requests: create a Pending binding, and nothing more (a binding from Git is never changed).
    {
      what: 'create a UserBinding (an access request)',
      method: 'POST',
      path: api(ns, 'userbindings'),
      body: { apiVersion: GROUP_VERSION, kind: 'UserBinding', metadata: { generateName: 'access-demo-' }, spec: { user: 'newcomer@example.com', connectors: ['demo'], approval: 'Pending' } },
      expect: 'allowed',
    },
    {
      what: 'change a UserBinding spec (merge patch)',
      method: 'PATCH',
      path: api(ns, 'userbindings', 'alice'),
      contentType: MERGE,
      body: { spec: { approval: 'Approved' } },
      expect: 'forbidden',
    },
    { what: 'list Secrets', method: 'GET', path: core(ns, 'secrets'), expect: 'allowed' },
    { what: 'watch Secrets', method: 'GET', path: `${core(ns, 'secrets')}?watch=1&timeoutSeconds=1`, expect: 'allowed' },
    { what: 'get a Secret', method: 'GET', path: core(ns, 'secrets', 'idp-signing'), expect: 'allowed' },
    { what: 'list ConfigMaps', method: 'GET', path: core(ns, 'configmaps'), expect: 'allowed' },
    { what: 'watch ConfigMaps', method: 'GET', path: `${core(ns, 'configmaps')}?watch=1&timeoutSeconds=1`, expect: 'allowed' },
    {
      what: 'create a Secret in a watched namespace',
      method: 'POST',
      path: core(ns, 'secrets'),
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: SESSION_KEYS }, stringData: { a: 'b' } },
      expect: 'forbidden',
    },
    { what: 'update a Secret in a watched namespace', method: 'PATCH', path: core(ns, 'secrets', 'idp-signing'), contentType: MERGE, body: { metadata: { labels: { x: 'y' } } }, expect: 'forbidden' },
    { what: 'delete a Secret', method: 'DELETE', path: core(ns, 'secrets', 'idp-signing'), expect: 'forbidden' },
    { what: 'delete all Secrets', method: 'DELETE', path: core(ns, 'secrets'), expect: 'forbidden' },
    { what: 'delete a ConfigMap', method: 'DELETE', path: core(ns, 'configmaps', 'idp-metadata'), expect: 'forbidden' },
    {
      what: 'create an Event',
      method: 'POST',
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName, namespace: ns },
        eventTime: new Date().toISOString().replace('Z', '000Z'),
        reportingController: 'sso.operator.dev/sso-operator',
        reportingInstance: 'sso-operator-0',
        action: 'Reconcile',
        reason: 'SecretNotFound',
        type: 'Warning',
        note: 'chart test',
        regarding: { apiVersion: GROUP_VERSION, kind: 'SsoConnector', namespace: ns, name: 'demo' },
      },
      expect: 'allowed',
    },
    {
      what: 'patch an Event (series)',
      method: 'PATCH',
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events/${eventName}`,
      contentType: MERGE,
      body: { series: { count: 2, lastObservedTime: new Date().toISOString().replace('Z', '000Z') } },
      expect: 'allowed',
    },
    { what: 'delete an Event', method: 'DELETE', path: `/apis/events.k8s.io/v1/namespaces/${ns}/events/${eventName}`, expect: 'forbidden' },
  ];
}

/** The calls for the operator's own state (session keys, Lease) in its own namespace. */
function ownNamespaceCalls(ns: string): Call[] {
  const keys = core(ns, 'secrets', SESSION_KEYS);
  return [
    {
      what: 'create the session-key Secret',
      method: 'POST',
      path: core(ns, 'secrets'),
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: SESSION_KEYS, namespace: ns }, type: 'Opaque', stringData: { 'keys.json': '{}' } },
      expect: 'allowed',
    },
    { what: 'get the session-key Secret', method: 'GET', path: keys, expect: 'allowed' },
    { what: 'patch the session-key Secret', method: 'PATCH', path: keys, contentType: MERGE, body: { metadata: { annotations: { 'sso.operator.dev/rotated-at': nowRfc3339() } } }, expect: 'allowed' },
    {
      what: 'watch the session-key Secret by name',
      method: 'GET',
      path: `${core(ns, 'secrets')}?watch=1&timeoutSeconds=1&fieldSelector=${encodeURIComponent(`metadata.name=${SESSION_KEYS}`)}`,
      expect: 'allowed',
    },
    { what: 'delete the session-key Secret', method: 'DELETE', path: keys, expect: 'forbidden' },
    { what: 'get another Secret in its own namespace by name', method: 'GET', path: core(ns, 'secrets', 'someone-elses'), expect: 'forbidden' },
    { what: 'patch another Secret in its own namespace', method: 'PATCH', path: core(ns, 'secrets', 'someone-elses'), contentType: MERGE, body: { data: {} }, expect: 'forbidden' },
    {
      what: 'create the Lease',
      method: 'POST',
      path: leases(ns),
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: LEASE, namespace: ns },
        spec: { holderIdentity: 'sso-operator-0', leaseDurationSeconds: 15, renewTime: new Date().toISOString().replace('Z', '000Z') },
      },
      expect: 'allowed',
    },
    { what: 'get the Lease', method: 'GET', path: leases(ns, LEASE), expect: 'allowed' },
    { what: 'renew the Lease', method: 'PATCH', path: leases(ns, LEASE), contentType: MERGE, body: { spec: { renewTime: new Date().toISOString().replace('Z', '000Z') } }, expect: 'allowed' },
    { what: 'get a Lease of another name', method: 'GET', path: leases(ns, 'kube-scheduler'), expect: 'forbidden' },
    { what: 'update a Lease of another name', method: 'PATCH', path: leases(ns, 'kube-scheduler'), contentType: MERGE, body: { spec: { holderIdentity: 'x' } }, expect: 'forbidden' },
    { what: 'list Leases', method: 'GET', path: leases(ns), expect: 'forbidden' },
    { what: 'delete the Lease', method: 'DELETE', path: leases(ns, LEASE), expect: 'forbidden' },
    { what: 'read a Lease in another namespace', method: 'GET', path: leases('kube-system', LEASE), expect: 'forbidden' },
    { what: 'create a Pod', method: 'POST', path: core(ns, 'pods'), body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }, expect: 'forbidden' },
    { what: 'create a RoleBinding', method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, body: {}, expect: 'forbidden' },
  ];
}

/** PUT needs the current object: get it as admin, then replace it as the ServiceAccount. */
async function expectReplaceAllowed(cp: Api, token: string, path: string): Promise<void> {
  const current = await kubeRequest(cp, 'GET', path);
  assert.equal(current.status, 200, `${path}: ${current.text}`);
  const obj = current.body;
  obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'chart-test': 'replaced' };
  const r = await requestAsToken(cp, token, 'PUT', path, obj);
  assert.equal(r.status, 200, `update ${path} as the ServiceAccount: ${r.status} ${r.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------
// Lua (the README's Argo CD health checks)

function luaLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    return `"${[...Buffer.from(v, 'utf8')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${b}`)).join('')}"`;
  }
  if (Array.isArray(v)) return `{${v.map(luaLiteral).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `[${luaLiteral(k)}] = ${luaLiteral(x)}`)
    .join(', ')}}`;
}

async function runHealthLua(script: string, obj: unknown): Promise<{ status: string; message: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sso-lua-'));
  try {
    const file = join(dir, 'health.lua');
    // Argo CD runs the script as a chunk with `obj` set; a function body is the same.
    await writeFile(file, `obj = ${luaLiteral(obj)}\nlocal hs = (function()\n${script}\nend)()\nio.write(hs.status, "\\n", hs.message or "")\n`);
    const res = spawnSync('lua5.1', [file], { encoding: 'utf8' });
    assert.equal(res.status, 0, `lua5.1 failed: ${res.stderr}`);
    const [status = '', message = ''] = res.stdout.split('\n');
    return { status, message };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------

describe('helm chart charts/sso-operator', () => {
  let cp: ControlPlane;
  const clusterWide = () =>
    render(CLUSTER_WIDE.release, CLUSTER_WIDE.namespace, { publicURL: PUBLIC_URL, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }, ['--include-crds']);
  const scoped = () =>
    render(SCOPED.release, SCOPED.namespace, {
      publicURL: PUBLIC_URL,
      namespaces: SCOPED.watched,
      redis: { url: 'rediss://:secret@redis.example.com:6380/0' },
      serviceMonitor: { enabled: true },
      prometheusRule: { enabled: true },
    });

  beforeAll(async () => {
    const t = Date.now();
    ensureHelm();
    console.log(`[chart] helm ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    cp = await startControlPlane();
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('passes helm lint --strict', () => {
    const out = helmOk(['lint', '--strict', CHART, '--set', `publicURL=${PUBLIC_URL}`]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('ships exactly the generated CRDs of crds/ (one source of truth)', async () => {
    const rootFiles = (await readdir(join(ROOT, 'crds'))).filter((f) => f.endsWith('.yaml')).sort();
    const chartFiles = (await readdir(join(CHART, 'crds'))).sort();
    assert.deepEqual(chartFiles, rootFiles, 'charts/sso-operator/crds/ must hold the same files as crds/');
    for (const f of rootFiles) {
      const [a, b] = await Promise.all([readFile(join(ROOT, 'crds', f)), readFile(join(CHART, 'crds', f))]);
      assert.ok(a.equals(b), `charts/sso-operator/crds/${f} differs from crds/${f}: copy it (npm run crds writes both)`);
    }
  });

  it('has appVersion and version equal to package.json version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const chart = parseYaml(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string; version: string; apiVersion: string };
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(chart.version, pkg.version);
  });

  it('refuses to render without publicURL, or with a plain-http one, and says why', () => {
    const none = helm(['template', 'x', CHART]);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /publicURL is required: the externally visible https URL of the operator/);
    const http = helm(['template', 'x', CHART, '--set', 'publicURL=http://sso.example.com']);
    assert.notEqual(http.status, 0);
    assert.match(http.stderr, /publicURL must be an https:\/\/ URL/);
    const typo = helm(['template', 'x', CHART, '--set', `publicUrl=${PUBLIC_URL}`]);
    assert.notEqual(typo.status, 0, 'an unknown value (typo) must fail the schema');
    assert.match(typo.stderr, /publicUrl/);
  });

  it('renders a hardened Deployment: non-root, read-only root, probes, requests, spread, downward API', () => {
    const objs = clusterWide();
    const dep = one(objs, 'Deployment', 'sso-operator', CLUSTER_WIDE.namespace);
    const pod = dep.spec.template.spec;
    assert.equal(dep.spec.replicas, 2);
    assert.equal(pod.serviceAccountName, 'sso-operator');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.ok(pod.terminationGracePeriodSeconds >= 15);
    assert.equal(pod.containers.length, 1);
    const c = pod.containers[0];
    assert.equal(c.image, 'sso-operator:0.1.0');
    assert.deepEqual(c.args, ['run']);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.runAsUser, 1000);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests set');
    const ports = Object.fromEntries((c.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { http: 8080, admin: 9090 });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'admin' });
    // /tmp is the only writable path.
    const tmpMount = (c.volumeMounts as { name: string; mountPath: string }[]).find((m) => m.mountPath === '/tmp');
    assert.ok(tmpMount, 'an emptyDir at /tmp');
    assert.ok((pod.volumes as { name: string; emptyDir?: object }[]).find((v) => v.name === tmpMount.name)?.emptyDir);
    const env = Object.fromEntries((c.env as { name: string; value?: string; valueFrom?: any }[]).map((e) => [e.name, e]));
    assert.equal(env.POD_NAMESPACE?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
    assert.equal(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.equal(env.SSO_PUBLIC_URL?.value, PUBLIC_URL);
    assert.equal(env.SSO_NAMESPACES, undefined, 'cluster-wide: no --namespaces');
    const keys = (pod.topologySpreadConstraints as { topologyKey: string }[]).map((t) => t.topologyKey);
    assert.ok(keys.includes('kubernetes.io/hostname'), 'spread across nodes');
    // Every namespaced object says where it goes, so `helm template | kubectl apply` lands right.
    for (const o of objs) {
      if (['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'].includes(o.kind)) continue;
      assert.equal(o.metadata.namespace, CLUSTER_WIDE.namespace, `${o.kind} ${o.metadata.name} has no namespace`);
    }
  });

  it('passes the flags the operator knows, as SSO_* variables', async () => {
    const config = await readFile(join(ROOT, 'src', 'config.ts'), 'utf8');
    const flags = new Set([...config.matchAll(/^\s+--([a-z][a-z-]+)\s/gm)].map((m) => `SSO_${m[1]!.replace(/-/g, '_').toUpperCase()}`));
    const objs = render('x', 'x', {
      publicURL: PUBLIC_URL,
      namespaces: ['team-a', 'team-b', 'team-a'],
      cookieDomain: 'example.com',
      allowedRedirectHosts: ['.example.com', 'app.example.org'],
      trustProxy: true,
      logLevel: 'debug',
      kubeQPS: 120,
      requestTimeoutSeconds: 300,
      rateLimit: { perAddress: 20, perConnector: 500 },
      redis: { existingSecret: 'redis', existingSecretKey: 'url' },
    });
    const c = one(objs, 'Deployment').spec.template.spec.containers[0];
    const env = Object.fromEntries((c.env as { name: string; value?: string; valueFrom?: any }[]).map((e) => [e.name, e]));
    for (const name of Object.keys(env).filter((n) => n.startsWith('SSO_'))) assert.ok(flags.has(name), `${name} is not a flag of src/config.ts`);
    assert.equal(env.SSO_NAMESPACES?.value, 'team-a,team-b');
    assert.equal(env.SSO_COOKIE_DOMAIN?.value, 'example.com');
    assert.equal(env.SSO_ALLOWED_REDIRECT_HOSTS?.value, '.example.com,app.example.org');
    assert.equal(env.SSO_TRUST_PROXY?.value, 'true');
    assert.equal(env.SSO_LOG_LEVEL?.value, 'debug');
    assert.equal(env.SSO_KUBE_QPS?.value, '120');
    assert.equal(env.SSO_REQUEST_TIMEOUT?.value, '300');
    assert.equal(env.SSO_RATE_LIMIT_PER_ADDRESS?.value, '20');
    assert.equal(env.SSO_RATE_LIMIT_PER_CONNECTOR?.value, '500');
    assert.deepEqual(env.SSO_REDIS_URL?.valueFrom, { secretKeyRef: { name: 'redis', key: 'url' } });
    assert.equal(find(objs, 'Secret').length, 0, 'an existing Secret is used as is');
  });

  it('leaves rate limits off by default and refuses a negative or unknown rate-limit value', () => {
    const c = one(clusterWide(), 'Deployment').spec.template.spec.containers[0];
    const names = (c.env as { name: string }[]).map((e) => e.name);
    assert.ok(!names.includes('SSO_RATE_LIMIT_PER_ADDRESS') && !names.includes('SSO_RATE_LIMIT_PER_CONNECTOR'), `rate limits are off by default: ${names.join(', ')}`);
    for (const rateLimit of [{ perAddress: -1 }, { perIP: 5 }]) {
      const res = helm(['template', 'x', CHART, '-f', '-'], { input: JSON.stringify({ publicURL: PUBLIC_URL, rateLimit }) });
      assert.notEqual(res.status, 0, `rateLimit ${JSON.stringify(rateLimit)} should be refused`);
      assert.match(res.stderr, /rateLimit/);
    }
  });

  it('grants cluster-wide reads through a ClusterRole when namespaces is empty', () => {
    const objs = clusterWide();
    const role = one(objs, 'ClusterRole', 'sso-operator');
    const binding = one(objs, 'ClusterRoleBinding', 'sso-operator');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'sso-operator', namespace: CLUSTER_WIDE.namespace }]);
    const verbs = new Set((role.rules as { verbs: string[] }[]).flatMap((r) => r.verbs));
    for (const v of ['delete', 'deletecollection', '*', 'escalate', 'bind', 'impersonate']) assert.ok(!verbs.has(v), `ClusterRole grants ${v}`);
    assert.deepEqual(
      find(objs, 'Role').map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
      [`${CLUSTER_WIDE.namespace}/sso-operator-state`],
    );
  });

  it('grants one Role per watched namespace and nothing cluster-wide when namespaces is set', () => {
    const objs = render('sso-operator', 'sso-scoped', { publicURL: PUBLIC_URL, namespaces: ['team-a', 'team-b', 'team-a'] });
    assert.equal(find(objs, 'ClusterRole').length, 0);
    assert.equal(find(objs, 'ClusterRoleBinding').length, 0);
    assert.deepEqual(
      find(objs, 'Role').map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort(),
      ['sso-scoped/sso-operator-state', 'team-a/sso-operator', 'team-b/sso-operator'],
    );
    assert.equal(find(objs, 'RoleBinding').length, 3);
  });

  it('renders the PodDisruptionBudget, Service, NetworkPolicy and monitoring objects', () => {
    const objs = clusterWide();
    const pdb = one(objs, 'PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, 1);
    const svc = one(objs, 'Service');
    assert.deepEqual((svc.spec.ports as { name: string }[]).map((p) => p.name), ['http', 'admin']);
    const np = one(objs, 'NetworkPolicy');
    const admin = (np.spec.ingress as { ports: { port: string }[]; from?: object[] }[]).find((r) => r.ports.some((p) => p.port === 'admin'));
    assert.deepEqual(admin?.from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
    ]);
    const sm = one(objs, 'ServiceMonitor');
    assert.equal(sm.spec.endpoints[0].port, 'admin');
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
    const alerts = (one(objs, 'PrometheusRule').spec.groups[0].rules as { alert: string }[]).map((r) => r.alert);
    assert.deepEqual(alerts, ['SsoIdPCertificateExpiringSoon', 'SsoLoginFailureRatioHigh', 'SsoAccessRequestsWaiting', 'SsoInformerStale', 'SsoStatusBehind']);
    // Users without access (or waiting, or denied) are not failed logins to page anyone about.
    const ratio = (one(objs, 'PrometheusRule').spec.groups[0].rules as { alert: string; expr: string }[]).find((r) => r.alert === 'SsoLoginFailureRatioHigh')!;
    assert.match(ratio.expr, /result="failure",reason!~"BindingNotActive\|AccessPending\|AccessDenied"/);
    // One replica: no budget (it would block every drain); monitoring objects only on request.
    const single = render('x', 'x', { publicURL: PUBLIC_URL, replicas: 1 });
    assert.equal(find(single, 'PodDisruptionBudget').length, 0);
    assert.equal(find(single, 'ServiceMonitor').length + find(single, 'PrometheusRule').length, 0);
  });

  it('alerts on metric names that src/metrics/metrics.ts defines', async () => {
    const metrics = await readFile(join(ROOT, 'src', 'metrics', 'metrics.ts'), 'utf8');
    const rules = one(clusterWide(), 'PrometheusRule').spec.groups[0].rules as { expr: string }[];
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\bsso_[a-z_]+/g)].map((m) => m[0])));
    const missing = [...used].filter((name) => !metrics.includes(`'${name}'`));
    assert.deepEqual(missing, []);
  });

  it('installs the CRDs on the real apiserver, where their CEL rules run', async () => {
    const crds = find(clusterWide(), 'CustomResourceDefinition');
    assert.deepEqual(crds.map((c) => c.metadata.name).sort(), ['ssoconnectors.sso.operator.dev', 'userbindings.sso.operator.dev']);
    for (const crd of crds) {
      const r = await apply(cp, crd);
      assert.ok(r.status === 200 || r.status === 201, `${crd.metadata.name}: ${r.status} ${r.text.slice(0, 500)}`);
    }
    for (const crd of crds) await waitForCrdEstablished(cp, crd.metadata.name);
    // Nothing dropped on the way in: every CEL rule of the file is stored.
    const countRules = (o: unknown): number =>
      o && typeof o === 'object'
        ? Object.entries(o).reduce((n, [k, v]) => n + (k === 'x-kubernetes-validations' && Array.isArray(v) ? v.length : 0) + countRules(v), 0)
        : 0;
    for (const crd of crds) {
      const stored = await kubeRequest(cp, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      assert.equal(countRules(stored.body.spec), countRules(crd.spec), `${crd.metadata.name}: CEL rules stored`);
    }
    assert.ok(countRules(crds[0]!.spec) > 0);

    await createNamespace(cp, 'team-a');
    const connector = parseYaml(await readFile(join(ROOT, 'examples', 'connector.yaml'), 'utf8')) as K8sObject;
    connector.metadata = { name: 'demo', namespace: 'team-a' };
    // A CRD established less than 2 s ago holds creates; apply retries meanwhile are not needed.
    const ok = await apply(cp, connector);
    assert.ok(ok.status === 200 || ok.status === 201, `valid connector: ${ok.status} ${ok.text.slice(0, 500)}`);
    const bad = structuredClone(connector);
    bad.metadata = { name: 'evil', namespace: 'team-a' };
    bad.spec.saml.idpInitiated.redirectPath = 'https://evil.example';
    const refused = await apply(cp, bad);
    assert.equal(refused.status, 422, refused.text.slice(0, 500));
    assert.match(refused.text, /must be a relative path starting with a single '\/'/);
  });

  it('applies every rendered object, cluster-wide and namespaced, and the apiserver accepts them', async () => {
    for (const crd of [monitoringCrd('servicemonitors', 'ServiceMonitor'), monitoringCrd('prometheusrules', 'PrometheusRule')]) {
      const r = await apply(cp, crd);
      assert.ok(r.status === 200 || r.status === 201, `${crd.metadata.name}: ${r.text}`);
      await waitForCrdEstablished(cp, crd.metadata.name);
    }
    for (const ns of [CLUSTER_WIDE.namespace, SCOPED.namespace, 'team-a', 'team-b']) await createNamespace(cp, ns);

    const applied: string[] = [];
    for (const objs of [clusterWide(), scoped()]) {
      // Objects are applied in the order Helm installs them: RBAC before the Deployment.
      for (const obj of objs) {
        const r = await apply(cp, obj);
        assert.ok(r.status === 200 || r.status === 201, `${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${r.status} ${r.text.slice(0, 500)}`);
        applied.push(obj.kind);
      }
    }
    for (const kind of ['Deployment', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule', 'Secret']) {
      assert.ok(applied.includes(kind), `no ${kind} was applied`);
    }
    // The stored Deployment kept what the apiserver could have dropped or defaulted away.
    const dep = await kubeRequest(cp, 'GET', `/apis/apps/v1/namespaces/${CLUSTER_WIDE.namespace}/deployments/sso-operator`);
    assert.equal(dep.status, 200);
    const c = dep.body.spec.template.spec.containers[0];
    assert.equal(c.lifecycle.preStop.sleep.seconds, 5);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(dep.body.spec.template.spec.topologySpreadConstraints[0].matchLabelKeys, ['pod-template-hash']);
  });

  it('helm install, upgrade and uninstall work against the real apiserver', () => {
    // A third, namespaced install made by helm itself (no --wait: no kubelet runs pods).
    const kube = ['--kubeconfig', cp.kubeconfigPath, '--namespace', 'sso-helm'];
    const install = helmOk([
      'install', 'sso', CHART, ...kube, '--create-namespace',
      '--set', `publicURL=${PUBLIC_URL}`, '--set', 'namespaces={team-a}',
      '--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true',
    ]);
    assert.match(install, /STATUS: deployed/);
    assert.match(install, /Watching: namespaces team-a/);
    assert.match(install, /WARNING: 2 replicas and no Redis/);
    const upgrade = helmOk(['upgrade', 'sso', CHART, ...kube, '--reuse-values', '--set', 'replicas=3', '--set', 'redis.url=redis://redis:6379']);
    assert.match(upgrade, /STATUS: deployed/);
    assert.doesNotMatch(upgrade, /WARNING/);
    const manifest = parseObjects(helmOk(['get', 'manifest', 'sso', ...kube]));
    assert.equal(one(manifest, 'Deployment', 'sso-sso-operator').spec.replicas, 3);
    assert.equal(one(manifest, 'Role', 'sso-sso-operator', 'team-a').metadata.namespace, 'team-a');
    assert.match(helmOk(['uninstall', 'sso', ...kube]), /uninstalled/);
    assert.equal(helm(['status', 'sso', ...kube]).status, 1);
  });

  describe('RBAC, as the chart ServiceAccount with a bound token', () => {
    beforeAll(async () => {
      // What the operator reads: a Secret and a ConfigMap in each team namespace.
      for (const ns of ['team-a', 'team-b']) {
        await apply(cp, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'idp-signing', namespace: ns }, stringData: { 'tls.crt': 'x' } });
        await apply(cp, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idp-metadata', namespace: ns }, data: { 'metadata.xml': '<x/>' } });
      }
      for (const ns of [CLUSTER_WIDE.namespace, SCOPED.namespace]) {
        await apply(cp, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'someone-elses', namespace: ns }, stringData: { a: 'b' } });
      }
    });

    it('authenticates as system:serviceaccount:<namespace>:sso-operator', async () => {
      const token = await serviceAccountToken(cp, CLUSTER_WIDE.namespace, 'sso-operator');
      const r = await requestAsToken(cp, token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.status.userInfo.username, `system:serviceaccount:${CLUSTER_WIDE.namespace}:sso-operator`);
      assert.ok(r.body.status.userInfo.groups.includes(`system:serviceaccounts:${CLUSTER_WIDE.namespace}`));
    });

    it('cluster-wide: does what the operator does, in every namespace, and nothing more', async () => {
      const ns = CLUSTER_WIDE.namespace;
      const token = await serviceAccountToken(cp, ns, 'sso-operator');
      await expectCalls(cp, token, [
        ...watchedNamespaceCalls('team-a'),
        { what: 'list SsoConnectors in all namespaces', method: 'GET', path: `/apis/${GROUP_VERSION}/ssoconnectors`, expect: 'allowed' },
        { what: 'watch Secrets in all namespaces', method: 'GET', path: '/api/v1/secrets?watch=1&timeoutSeconds=1', expect: 'allowed' },
        { what: 'get a Secret in team-b', method: 'GET', path: core('team-b', 'secrets', 'idp-signing'), expect: 'allowed' },
        ...ownNamespaceCalls(ns).filter((c) => !c.what.startsWith('get another Secret')),
        { what: 'list Namespaces', method: 'GET', path: '/api/v1/namespaces', expect: 'forbidden' },
        { what: 'delete a CRD', method: 'DELETE', path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ssoconnectors.sso.operator.dev', expect: 'forbidden' },
      ]);
      await expectReplaceAllowed(cp, token, core(ns, 'secrets', SESSION_KEYS));
      await expectReplaceAllowed(cp, token, leases(ns, LEASE));
    });

    it('namespaces [team-a]: works in team-a and its own namespace, cannot read team-b', async () => {
      const ns = SCOPED.namespace;
      const token = await serviceAccountToken(cp, ns, 'sso-operator');
      await expectCalls(cp, token, [
        ...watchedNamespaceCalls('team-a'),
        ...ownNamespaceCalls(ns),
        { what: 'get a Secret in an unlisted namespace', method: 'GET', path: core('team-b', 'secrets', 'idp-signing'), expect: 'forbidden' },
        { what: 'list Secrets in an unlisted namespace', method: 'GET', path: core('team-b', 'secrets'), expect: 'forbidden' },
        { what: 'list ConfigMaps in an unlisted namespace', method: 'GET', path: core('team-b', 'configmaps'), expect: 'forbidden' },
        { what: 'list SsoConnectors in an unlisted namespace', method: 'GET', path: api('team-b', 'ssoconnectors'), expect: 'forbidden' },
        { what: 'list Secrets in all namespaces', method: 'GET', path: '/api/v1/secrets', expect: 'forbidden' },
        { what: 'list SsoConnectors in all namespaces', method: 'GET', path: `/apis/${GROUP_VERSION}/ssoconnectors`, expect: 'forbidden' },
        { what: 'list Secrets in its own namespace', method: 'GET', path: core(ns, 'secrets'), expect: 'forbidden' },
        { what: 'read the cluster-wide install\'s session keys', method: 'GET', path: core(CLUSTER_WIDE.namespace, 'secrets', SESSION_KEYS), expect: 'forbidden' },
      ]);
      await expectReplaceAllowed(cp, token, core(ns, 'secrets', SESSION_KEYS));
      await expectReplaceAllowed(cp, token, leases(ns, LEASE));
    });
  });

  it('the README Argo CD health checks report both kinds as documented (Lua 5.1)', async () => {
    await ensureDebianPackages(['lua5.1']);
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('resource.customizations.health.'));
    assert.ok(block, 'README has the argocd-cm snippet');
    const cm = parseYaml(block) as { kind: string; data: Record<string, string> };
    assert.equal(cm.kind, 'ConfigMap');
    const connectorLua = cm.data['resource.customizations.health.sso.operator.dev_SsoConnector'];
    const bindingLua = cm.data['resource.customizations.health.sso.operator.dev_UserBinding'];
    assert.ok(connectorLua && bindingLua, 'one check per kind, keyed <group>_<kind>');

    const ready = (status: string, reason: string, message: string, observedGeneration = 2) => ({
      type: 'Ready', status, reason, message, observedGeneration, lastTransitionTime: '2026-01-01T00:00:00Z',
    });
    const obj = (status?: object) => ({ apiVersion: GROUP_VERSION, metadata: { name: 'x', namespace: 'ns', generation: 2 }, ...(status ? { status } : {}) });
    const cases: [string, string, object, string, RegExp?][] = [
      ['connector without status', connectorLua, obj(), 'Progressing'],
      ['connector with an older observedGeneration', connectorLua, obj({ observedGeneration: 1, conditions: [ready('True', 'Ready', 'ok')] }), 'Progressing'],
      ['connector without a Ready condition', connectorLua, obj({ observedGeneration: 2, conditions: [] }), 'Progressing'],
      ['connector with Ready=Unknown', connectorLua, obj({ observedGeneration: 2, conditions: [ready('Unknown', 'Pending', '')] }), 'Progressing'],
      ['connector with a stale Ready condition', connectorLua, obj({ observedGeneration: 2, conditions: [ready('True', 'Ready', 'ok', 1)] }), 'Progressing'],
      ['connector with Ready=True', connectorLua, obj({ observedGeneration: 2, conditions: [ready('True', 'Ready', 'serving')] }), 'Healthy', /serving/],
      ['connector with Ready=False', connectorLua, obj({ observedGeneration: 2, conditions: [ready('False', 'SecretNotFound', 'Secret idp is missing')] }), 'Degraded', /SecretNotFound: Secret idp is missing/],
      ['binding without status', bindingLua, obj(), 'Progressing'],
      ['binding with an older observedGeneration', bindingLua, obj({ observedGeneration: 1, phase: 'Active' }), 'Progressing'],
      ['binding Active', bindingLua, obj({ observedGeneration: 2, phase: 'Active', conditions: [ready('True', 'Active', 'the user may sign in')] }), 'Healthy'],
      ['binding PendingApproval', bindingLua, obj({ observedGeneration: 2, phase: 'PendingApproval', conditions: [ready('False', 'PendingApproval', 'waiting')] }), 'Suspended', /approval/],
      ['binding Denied', bindingLua, obj({ observedGeneration: 2, phase: 'Denied', conditions: [ready('False', 'Denied', 'access was denied by an administrator')] }), 'Degraded', /Denied: access was denied/],
      ['binding Invalid', bindingLua, obj({ observedGeneration: 2, phase: 'Invalid', conditions: [ready('False', 'ConnectorNotFound', 'no connector x')] }), 'Degraded', /Invalid: no connector x/],
      ['binding without a phase yet', bindingLua, obj({ observedGeneration: 2 }), 'Progressing'],
    ];
    const wrong: string[] = [];
    for (const [what, script, o, status, message] of cases) {
      const hs = await runHealthLua(script, o);
      if (hs.status !== status || (message && !message.test(hs.message))) wrong.push(`${what}: got ${hs.status} "${hs.message}", expected ${status}${message ? ` ${message}` : ''}`);
    }
    assert.deepEqual(wrong, []);
  });
});
