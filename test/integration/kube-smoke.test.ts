// Smoke test of the real control plane (test/support/kube.ts): etcd + kube-apiserver
// built from the Go modules pinned in tools/kube/go.mod, driven with
// @kubernetes/client-node through the kubeconfig that startControlPlane() writes.
// The first run on a machine includes the cold build of both binaries (about ten
// minutes on 2 cores).
//
// Two things learnt here that every cluster test meets:
// - client-node's typed API serialises a body through its generated models, which
//   use camelCase keys (xKubernetesValidations, _default, _enum). A CRD parsed from
//   YAML as a plain object silently loses its x-kubernetes-validations, defaults,
//   enums and list-type markers (32 fields of our SsoConnector CRD); k8s.loadYaml()
//   converts to the model form first and keeps them all.
// - The apiserver holds every create of a custom resource for 2 s while its CRD
//   became Established less than 2 s ago (customresource_handler.go, for HA
//   clusters), and a LIST right after Established can answer 429 while the watch
//   cache initialises.

import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { pinnedVersions, startControlPlane, type ControlPlane } from '../support/kube.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NS = 'kube-smoke';
const GROUP = 'sso.operator.dev';
const VERSION = 'v1alpha1';

interface Status {
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

/** The Status of a failed client-node call (ApiException carries the response body as text). */
function statusOf(err: unknown): { code: number; status: Status } {
  assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
  const body = err.body as unknown;
  const status = (typeof body === 'string' ? JSON.parse(body) : body) as Status;
  return { code: err.code, status };
}

describe('kube control plane smoke test', () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string) => {
    timings[name] = Date.now() - mark;
    mark = Date.now();
  };

  beforeAll(async () => {
    mark = Date.now();
    cp = await startControlPlane();
    lap('start');
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
  });

  afterAll(async () => {
    mark = Date.now();
    await cp?.stop();
    lap('stop');
    console.log(
      '[kube-smoke] timings: ' +
        Object.entries(timings)
          .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}s`)
          .join(', '),
    );
  });

  it('serves /version of the pinned release', async () => {
    const v = await kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(v.gitVersion, pinnedVersions().kubernetes);
    assert.equal(v.gitVersion, cp.version);
    assert.equal(v.major, '1');
    lap('version');
  });

  it('creates a namespace and a Secret, and reads the Secret back', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'idp-signing' }, type: 'Opaque', stringData: { 'tls.crt': 'not really a certificate' } },
    });
    const secret = await core.readNamespacedSecret({ name: 'idp-signing', namespace: NS });
    assert.equal(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString(), 'not really a certificate');
    lap('namespace+secret');
  });

  it('establishes the CRDs', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const names: string[] = [];
    for (const file of ['sso.operator.dev_ssoconnectors.yaml', 'sso.operator.dev_userbindings.yaml']) {
      // loadYaml, not a plain YAML parse: see the note at the top.
      const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(await readFile(join(ROOT, 'crds', file), 'utf8'));
      const created = await ext.createCustomResourceDefinition({ body: crd });
      names.push(created.metadata!.name!);
    }
    for (const name of names) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const crd = await ext.readCustomResourceDefinition({ name });
        const established = crd.status?.conditions?.find((c) => c.type === 'Established');
        if (established?.status === 'True') break;
        assert.ok(Date.now() < deadline, `${name} not Established: ${JSON.stringify(crd.status?.conditions)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    lap('crds');
  });

  async function createConnector(name: string, redirectPath: string): Promise<unknown> {
    const connector = parseYaml(await readFile(join(ROOT, 'examples', 'connector.yaml'), 'utf8'));
    connector.metadata = { name, namespace: NS };
    connector.spec.saml.idpInitiated.redirectPath = redirectPath;
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    return co.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'ssoconnectors', body: connector });
  }

  it('accepts a valid SsoConnector (examples/connector.yaml)', async () => {
    await createConnector('demo', '/auth/whoami');
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    const read = await co.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'ssoconnectors', name: 'demo' });
    assert.equal(read.spec.saml.idpInitiated.redirectPath, '/auth/whoami');
    // Schema defaults are applied by the apiserver (the example sets neither).
    assert.equal(read.spec.saml.security.maxResponseBytes, 262144);
    assert.equal(read.spec.saml.clockSkew, '60s');
    lap('valid connector');
  });

  it('refuses an absolute idpInitiated.redirectPath with the CEL rule message (422)', async () => {
    const err = await createConnector('evil', 'https://evil.com').then(
      () => assert.fail('the apiserver accepted redirectPath https://evil.com'),
      (e: unknown) => e,
    );
    const { code, status } = statusOf(err);
    assert.equal(code, 422, JSON.stringify(status));
    assert.equal(status.reason, 'Invalid');
    assert.match(
      status.message ?? '',
      /must be a relative path starting with a single '\/' \(an absolute URL or \/\/host is not allowed\)/,
    );
    const causes = status.details?.causes ?? [];
    assert.ok(
      causes.some((c) => c.field === 'spec.saml.idpInitiated.redirectPath'),
      `causes: ${JSON.stringify(causes)}`,
    );
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    const gone = await co
      .getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'ssoconnectors', name: 'evil' })
      .then(() => 200, (e: unknown) => statusOf(e).code);
    assert.equal(gone, 404);
    lap('invalid connector');
  });
});
