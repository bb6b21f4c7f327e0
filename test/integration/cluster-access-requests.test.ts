// Cluster mode: an access request becomes a Pending UserBinding on the real
// apiserver (created by the operator with its own field manager and label),
// the admin approves it with a plain merge patch (what `kubectl patch` sends),
// and the user's next sign-in succeeds without a restart; a denial stops it.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { generateSigningIdentity, type SigningIdentity } from '../../src/demo-idp/keys.ts';
import { requestBindingName } from '../../src/access/requests.ts';
import { buildSignedResponse } from '../../src/demo-idp/saml-idp.ts';
import { applyOk, createNamespaces, getObject, GROUP_VERSION, installCrds, mergePatch, pollFor } from '../support/cluster-fixtures.ts';
import { startReplica, type Replica } from '../support/fault-tools.ts';
import { startControlPlane, type ControlPlane } from '../support/kube.ts';
import { freePort } from '../support/system-deps.ts';

const NS = 'team-req';
const NAME = 'corp';
const IDP = 'https://idp.example.test/metadata';

describe('cluster mode: access requests on the real apiserver', () => {
  jest.setTimeout(90_000);
  let cp: ControlPlane;
  let op: Replica;
  let idp: SigningIdentity;

  /** An IdP-initiated sign-in of `user`: the ACS answer. */
  async function signIn(user: string): Promise<Response> {
    const path = `/saml/${NS}/${NAME}`;
    const samlResponse = buildSignedResponse({
      signingKeyPem: idp.keyPem,
      signingCertPem: idp.certPem,
      issuer: IDP,
      audience: `${op.baseURL}${path}/metadata`,
      destination: `${op.baseURL}${path}/acs`,
      recipient: `${op.baseURL}${path}/acs`,
      nameID: user,
      nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    });
    return fetch(`${op.baseURL}${path}/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: samlResponse }), redirect: 'manual' });
  }
  const reasonOf = (body: string) => /Reason: <code>([^<]*)<\/code>/.exec(body)?.[1];

  beforeAll(async () => {
    idp = await generateSigningIdentity({ commonName: 'req-idp' });
    cp = await startControlPlane();
    await installCrds(cp);
    await createNamespaces(cp, ['sso-system', NS]);
    await applyOk(cp, {
      apiVersion: GROUP_VERSION,
      kind: 'SsoConnector',
      metadata: { name: NAME, namespace: NS },
      spec: {
        protocol: 'SAML2',
        access: { requests: 'Enabled' },
        saml: { idp: { entityID: IDP, ssoURL: 'https://idp.example.test/sso', certificates: [{ pem: idp.certPem }] }, idpInitiated: { enabled: true, redirectPath: '/app' } },
      },
    });
    op = await startReplica({ kubeconfigPath: cp.kubeconfigPath, identity: 'sso-operator-0', namespace: 'sso-system', watch: [NS], port: await freePort() });
    await pollFor('connector ready', async () => ((await signIn('nobody@example.com')).status === 403), 30_000, 100);
  });

  afterAll(async () => {
    await op?.destroy();
    await cp?.stop();
  });

  it('records the request as a Pending binding on the apiserver; approval by merge patch lets the user in; denial stops them', async () => {
    const refused = await signIn('bob@example.com');
    assert.equal(refused.status, 403);
    const page = await refused.text();
    assert.equal(reasonOf(page), 'BindingNotActive');
    const token = /name="token" value="([^"]+)"/.exec(page)![1]!;
    const cookie = refused.headers.getSetCookie().find((c) => c.startsWith('sso_access='))!.split(';')[0]!;
    const res = await fetch(`${op.baseURL}/auth/request-access`, {
      method: 'POST',
      headers: { cookie, origin: op.baseURL, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
      redirect: 'manual',
    });
    assert.equal(res.status, 200, await res.clone().text());
    const name = requestBindingName(NAME, 'bob@example.com');
    const created = await getObject(cp, GROUP_VERSION, 'UserBinding', NS, name);
    assert.ok(created, 'the binding is on the apiserver');
    assert.deepEqual(created.spec, { user: 'bob@example.com', connectors: [NAME], approval: 'Pending' });
    assert.equal((created.metadata as { labels?: Record<string, string> }).labels?.['sso.operator.dev/access-request'], 'true');
    const managers = ((created.metadata as { managedFields?: { manager: string }[] }).managedFields ?? []).map((m) => m.manager);
    assert.ok(managers.includes('sso-operator-access-requests'), managers.join());
    // Once the watch delivers it: the Pending page, and the pending-requests gauge.
    await pollFor('pending page', async () => reasonOf(await (await signIn('bob@example.com')).text()) === 'AccessPending', 15_000, 100);
    const metrics = await (await fetch(`${op.adminURL}/metrics`)).text();
    assert.match(metrics, new RegExp(`sso_access_requests_pending\\{namespace="${NS}",connector="${NAME}"\\} 1`));

    await mergePatch(cp, GROUP_VERSION, 'UserBinding', NS, name, { spec: { approval: 'Approved' } });
    await pollFor('approved: signed in', async () => (await signIn('bob@example.com')).status === 303, 15_000, 100);

    await mergePatch(cp, GROUP_VERSION, 'UserBinding', NS, name, { spec: { approval: 'Denied', reason: 'not in the project' } });
    await pollFor('denied page', async () => reasonOf(await (await signIn('bob@example.com')).text()) === 'AccessDenied', 15_000, 100);
    await pollFor('status says why', async () => {
      const b = await getObject(cp, GROUP_VERSION, 'UserBinding', NS, name);
      return JSON.stringify(b?.status ?? {}).includes('not in the project');
    }, 15_000, 100);
  });
});
