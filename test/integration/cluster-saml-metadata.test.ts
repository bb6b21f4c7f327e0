// Cluster mode: a SAML connector configured from IdP metadata uploaded in a
// ConfigMap on a real kube-apiserver, the operator as its own process. Editing
// the ConfigMap (the IdP announces its next key, then drops the old one)
// changes the trusted keys live, without a restart; the CRD's CEL rules for
// saml.idp.metadata hold on the real apiserver.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { generateSigningIdentity, type SigningIdentity } from '../../src/demo-idp/keys.ts';
import { applyObject, applyOk, createNamespaces, getObject, GROUP_VERSION, installCrds, mergePatch, pollFor, type K8sObject } from '../support/cluster-fixtures.ts';
import { startReplica, type Replica } from '../support/fault-tools.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';
import { freePort } from '../support/system-deps.ts';
import { signIn, type SignInProbe } from '../support/trust-probes.ts';

const NS = 'team-md';
const NAME = 'from-metadata';
const IDP = 'https://idp.example.test/metadata';

const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
function metadata(keys: SigningIdentity[]): string {
  return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${IDP}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
${keys.map((k) => `    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body(k.certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`).join('\n')}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
}

describe('cluster mode: SAML connector from IdP metadata in a ConfigMap', () => {
  jest.setTimeout(90_000);
  let cp: ControlPlane;
  let op: Replica;
  let keyA: SigningIdentity;
  let keyB: SigningIdentity;
  let probe: SignInProbe;

  const configMap = (keys: SigningIdentity[]): K8sObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idp-metadata', namespace: NS }, data: { 'metadata.xml': metadata(keys) } });

  beforeAll(async () => {
    [keyA, keyB] = await Promise.all([generateSigningIdentity({ commonName: 'idp-a' }), generateSigningIdentity({ commonName: 'idp-b' })]);
    cp = await startControlPlane();
    await installCrds(cp);
    await createNamespaces(cp, ['sso-system', NS]);
    await applyOk(
      cp,
      configMap([keyA]),
      {
        apiVersion: GROUP_VERSION,
        kind: 'SsoConnector',
        metadata: { name: NAME, namespace: NS },
        spec: { protocol: 'SAML2', saml: { idp: { metadata: { configMapRef: { name: 'idp-metadata', key: 'metadata.xml' } } }, idpInitiated: { enabled: true, redirectPath: '/app' } } },
      },
      { apiVersion: GROUP_VERSION, kind: 'UserBinding', metadata: { name: 'alice', namespace: NS }, spec: { user: 'alice@example.com', connectors: [NAME] } },
    );
    const port = await freePort();
    op = await startReplica({ kubeconfigPath: cp.kubeconfigPath, identity: 'sso-operator-0', namespace: 'sso-system', watch: [NS], port });
    probe = { baseURL: op.baseURL, publicURL: op.baseURL, namespace: NS, connector: NAME, issuer: IDP };
  });

  afterAll(async () => {
    await op?.destroy();
    await cp?.stop();
  });

  it('the CRD rules for metadata hold on the apiserver', async () => {
    const bad = (idp: Record<string, unknown>) =>
      applyObject(cp, { apiVersion: GROUP_VERSION, kind: 'SsoConnector', metadata: { name: 'bad', namespace: NS }, spec: { protocol: 'SAML2', saml: { idp } } });
    const both = await bad({ metadata: { url: 'https://idp.example.test/md', configMapRef: { name: 'x', key: 'y' } } });
    assert.equal(both.status, 422);
    assert.match(JSON.stringify(both.body), /exactly one of url, configMapRef or secretRef/);
    const neither = await bad({ entityID: IDP });
    assert.equal(neither.status, 422);
    assert.match(JSON.stringify(neither.body), /give entityID, ssoURL and certificates, or metadata to fill them/);
  });

  it('reaches Ready from the ConfigMap, with status saying what the metadata filled, and signs in with its key', async () => {
    await pollFor('Ready=True', async () => {
      const c = await getObject(cp, GROUP_VERSION, 'SsoConnector', NS, NAME);
      return ((c?.status?.conditions ?? []) as { type: string; status: string }[]).some((x) => x.type === 'Ready' && x.status === 'True');
    }, 30_000, 100);
    const obj = await getObject(cp, GROUP_VERSION, 'SsoConnector', NS, NAME);
    const md = obj?.status?.idpMetadata as { source: string; entityID: string; filled: string[] };
    assert.equal(md.source, 'configmap/idp-metadata#metadata.xml');
    assert.equal(md.entityID, IDP);
    assert.ok(md.filled.includes('certificates') && md.filled.includes('ssoURL'));
    assert.equal((await signIn(probe, keyA)).status, 303);
    assert.equal((await signIn(probe, keyB)).status, 401, 'a key the metadata does not name');
  });

  it('editing the ConfigMap rotates the trusted keys live: the next key works at once, the dropped one stops', async () => {
    await mergePatch(cp, 'v1', 'ConfigMap', NS, 'idp-metadata', { data: { 'metadata.xml': metadata([keyA, keyB]) } });
    await pollFor('key B trusted', async () => (await signIn(probe, keyB)).status === 303, 15_000, 50);
    assert.equal((await signIn(probe, keyA)).status, 303, 'both keys during the rollover');
    await mergePatch(cp, 'v1', 'ConfigMap', NS, 'idp-metadata', { data: { 'metadata.xml': metadata([keyB]) } });
    await pollFor('key A dropped', async () => (await signIn(probe, keyA)).status === 401, 15_000, 50);
    assert.equal((await signIn(probe, keyB)).status, 303);
    const obj = await getObject(cp, GROUP_VERSION, 'SsoConnector', NS, NAME);
    assert.equal((obj?.status?.certificates as unknown[]).length, 1);
  });
});
