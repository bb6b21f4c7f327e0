// The operator in cluster mode end to end, against a real kube-apiserver + etcd
// (test/support/kube.ts) and a real SimpleSAMLphp IdP, set up by
// test/support/cluster-fixtures.ts:
//
// - the CRDs, then Secrets, a connector and a binding are applied as manifests;
// - the operator runs as the Helm chart's ServiceAccount (a bound token; the
//   chart's RBAC rendered with `namespaces: [team-a]`), so everything below
//   also proves that least privilege is enough;
// - it reaches Ready, writes status (conditions, URLs, certificate expiry)
//   only when it changed, records Events, and a full SAML sign-in works;
// - rotating the IdP certificate in the Secret takes effect without a restart
//   (the delays are printed), and the removed certificate is refused;
// - the apiserver refuses what the schema and CEL catch; what only the operator
//   can catch ends in Ready=False with a reason, and nothing else is affected;
// - the ServiceAccount cannot read a Secret in a namespace it does not watch.

import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import {
  BINDING,
  BrowserClient,
  CONNECTOR,
  CONNECTOR_REFERENCE,
  GROUP_VERSION,
  IDP_SECRET,
  LEASE,
  NS,
  SERVICE_ACCOUNT,
  SESSION_KEYS_SECRET,
  UNRELATED_SECRET,
  USERS,
  applyObject,
  applyOk,
  assertLoggedIn,
  assertRefused,
  baselineManifests,
  bindingManifest,
  conditionOf,
  connectorManifest,
  errorReason,
  fingerprintOf,
  getObject,
  idpSecretManifest,
  listEvents,
  mergePatch,
  notAfterOf,
  pollFor,
  samlLogin,
  sleep,
  spURLs,
  startClusterFixture,
  startFixtureOperator,
  switchIdpKey,
  waitForObject,
  type ClusterFixture,
  type K8sObject,
} from '../support/cluster-fixtures.ts';
import type { TestClusterOperator } from '../support/cluster-operator.ts';
import { requestAsToken } from '../support/kube.ts';
import { waitFor } from '../support/operator.ts';

const CONNECTOR_REF = { kind: 'SsoConnector', namespace: NS.teamA, name: CONNECTOR } as const;
const PREVIOUS_LEADER = 'sso-operator-previous';
/** metav1.MicroTime of now. */
const microNow = () => new Date().toISOString().replace(/Z$/, '000Z');

describe('cluster mode: manifests -> operator (as the chart ServiceAccount) -> SAML sign-in', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(180_000);
  let fx: ClusterFixture;
  let op: TestClusterOperator;
  const timings: string[] = [];
  const note = (line: string) => {
    timings.push(line);
    console.log(`[timing] ${line}`);
  };

  const admin = async () => {
    const res = await fetch(`${op.adminURL}/admin/status`);
    assert.equal(res.status, 200);
    return (await res.json()) as {
      mode: string;
      identity: string;
      leader: boolean;
      namespaces: string[] | 'all';
      problems: unknown[];
      connectors: { key: string; reference?: string; ready: boolean; enabled: boolean; reason?: string }[];
    };
  };
  const runtimeOf = (key: string) => op.operator.registry.current().connectors.get(key);
  const trustedFingerprints = (key: string) => (runtimeOf(key)?.saml?.idp.certificates ?? []).map((c) => c.fingerprint).sort();
  const statusFingerprints = (obj: K8sObject) => ((obj.status?.certificates ?? []) as { fingerprint: string }[]).map((c) => c.fingerprint).sort();

  /** Prints the operator's and the IdP's log tails when a test body throws. */
  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      console.error(`--- operator log (last 40 lines) ---\n${op?.rawLogs().split('\n').slice(-40).join('\n') ?? '(not started)'}`);
      console.error(`--- SimpleSAMLphp log (last 4 kB) ---\n${fx?.idp.logs().slice(-4000) ?? '(not started)'}`);
      throw err;
    }
  };

  beforeAll(async () => {
    const t0 = performance.now();
    fx = await startClusterFixture();
    note(
      `fixture ${Math.round(performance.now() - t0)} ms: ` +
        Object.entries(fx.timings)
          .map(([k, v]) => `${k} ${v} ms`)
          .join(', '),
    );

    let t = performance.now();
    await applyOk(fx.cp, ...baselineManifests(fx));
    note(`baseline manifests applied: ${Math.round(performance.now() - t)} ms`);

    // Another replica holds the Lease when this one starts: it serves at once,
    // but writes no status and records no Event until it leads (released in
    // the second test).
    await applyOk(fx.cp, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS.operator },
      spec: { holderIdentity: PREVIOUS_LEADER, leaseDurationSeconds: 60, acquireTime: microNow(), renewTime: microNow() },
    });

    t = performance.now();
    op = await startFixtureOperator(fx, { identity: 'sso-operator-0', lease: { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 0.5 } });
    note(`operator started (informers synced, first reconcile done) as the ServiceAccount: ${Math.round(performance.now() - t)} ms`);
  });

  afterAll(async () => {
    const t = performance.now();
    await op?.stop();
    await fx?.stop();
    note(`teardown ${Math.round(performance.now() - t)} ms`);
    console.log(`[cluster-operator] timings:\n  ${timings.join('\n  ')}`);
  });

  it('installed the CRDs with every CEL rule stored', () => {
    assert.deepEqual(fx.crds.map((c) => c.name).sort(), ['ssoconnectors.sso.operator.dev', 'userbindings.sso.operator.dev']);
    // installCrds() compared each with the file; the connector CRD carries the cross-field rules.
    assert.ok((fx.crds.find((c) => c.name === 'ssoconnectors.sso.operator.dev')?.celRules ?? 0) >= 5);
  });

  it('is ready once synced and serves before it leads; status and Events wait for the Lease', () =>
    withLogs(async () => {
      // startTestClusterOperator resolves after the informers synced and the
      // first reconcile ran; the admin listener only opens after that.
      assert.equal(op.operator.store.synced(), true);
      const readyz = await fetch(`${op.adminURL}/readyz`);
      assert.equal(readyz.status, 200);
      assert.equal(await readyz.text(), 'ok\n');
      let s = await admin();
      assert.equal(s.mode, 'cluster');
      assert.equal(s.identity, 'sso-operator-0');
      assert.deepEqual(s.namespaces, [NS.teamA]);
      assert.deepEqual(s.problems, []);
      assert.deepEqual(s.connectors, [{ key: `${NS.teamA}/${CONNECTOR}`, reference: CONNECTOR_REFERENCE, ready: true, enabled: true }]);

      // Not the leader: a sign-in works (every replica serves), nothing is written.
      assert.equal(s.leader, false);
      const r = await samlLogin(new BrowserClient(), { idp: fx.idp, baseURL: op.baseURL, rd: '/before-leading' });
      note(`first login, as a replica that does not lead (login form included): ${r.ms} ms`);
      assertLoggedIn(r.acs, op.baseURL, '/before-leading');
      assert.equal(op.operator.statusWriter.writes, 0);
      assert.equal((await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR))?.status, undefined);
      assert.deepEqual(await listEvents(fx.cp, NS.teamA), []);

      // The previous leader releases the Lease (as a stopping replica does): this one takes over.
      const lease = (await getObject(fx.cp, 'coordination.k8s.io/v1', 'Lease', NS.operator, LEASE))!;
      assert.equal(lease.spec.holderIdentity, PREVIOUS_LEADER);
      const t0 = performance.now();
      await applyOk(fx.cp, { ...lease, metadata: { name: LEASE, namespace: NS.operator }, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microNow() } });
      await pollFor('leadership', async () => (await admin()).leader, 10_000, 20);
      note(`Lease released -> leader: ${Math.round(performance.now() - t0)} ms`);
      s = await admin();
      assert.equal(s.leader, true);
      // The Lease and the session-key Secret in sso-system were written with the ServiceAccount's token.
      const { obj: held } = await waitForObject(fx.cp, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: NS.operator, name: LEASE }, (o) => o.spec?.holderIdentity === 'sso-operator-0');
      assert.ok(held.spec.leaseTransitions >= 1);
      const keys = await getObject(fx.cp, 'v1', 'Secret', NS.operator, SESSION_KEYS_SECRET);
      assert.ok(keys?.data?.['keys.json'], 'session keys Secret created by the operator');
    }));

  it('writes the connector and binding status: conditions, URLs, certificate expiry, observedGeneration, managed by sso-operator', () =>
    withLogs(async () => {
      const { obj, ms } = await waitForObject(fx.cp, CONNECTOR_REF, (o) => conditionOf(o, 'Ready')?.status === 'True');
      note(`connector status Ready=True visible in the apiserver ${ms} ms after the check began`);
      const s = obj.status;
      const urls = spURLs(op.baseURL, NS.teamA, CONNECTOR);
      assert.equal(s.observedGeneration, obj.metadata.generation);
      assert.equal(s.loginURL, urls.loginURL);
      assert.equal(s.entityID, urls.entityID);
      assert.equal(s.acsURL, urls.acsURL);
      assert.equal(s.metadataURL, urls.metadataURL);
      const byType = Object.fromEntries((s.conditions as { type: string; status: string; reason: string; observedGeneration: number }[]).map((c) => [c.type, c]));
      assert.deepEqual(Object.keys(byType).sort(), ['CertificateExpiringSoon', 'CertificatesValid', 'Ready', 'ReferenceUnique', 'SecretsResolved']);
      assert.equal(byType['Ready']?.reason, 'Serving');
      assert.equal(byType['SecretsResolved']?.status, 'True');
      assert.equal(byType['CertificatesValid']?.status, 'True');
      // The test certificate lives 30 days: not in the 14-day warning window.
      assert.equal(byType['CertificateExpiringSoon']?.status, 'False');
      assert.equal(byType['ReferenceUnique']?.status, 'True');
      for (const c of Object.values(byType)) assert.equal(c.observedGeneration, obj.metadata.generation, `${c.type} observedGeneration`);
      assert.deepEqual(s.certificates, [
        {
          fingerprint: fingerprintOf(fx.keys.old.certPem),
          subject: 'CN=cluster-idp-old',
          notAfter: notAfterOf(fx.keys.old.certPem),
          source: `secret/${IDP_SECRET}#tls.crt`,
        },
      ]);
      // Status is server-side applied by the field manager sso-operator, through the status subresource only.
      const managers = (obj.metadata.managedFields as { manager: string; operation: string; subresource?: string }[]).filter((m) => m.manager === 'sso-operator');
      assert.deepEqual(managers.map((m) => `${m.operation}/${m.subresource ?? ''}`), ['Apply/status']);

      const binding = (await waitForObject(fx.cp, { kind: 'UserBinding', namespace: NS.teamA, name: BINDING }, (o) => o.status?.phase === 'Active')).obj;
      assert.equal(binding.status.observedGeneration, binding.metadata.generation);
      assert.equal(conditionOf(binding, 'Ready')?.status, 'True');
    }));

  it('records ConnectorReady once it leads, though it reconciled before; none for a binding Active from the start', () =>
    withLogs(async () => {
      const connector = await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR);
      const { value: events } = await pollFor('a ConnectorReady Event', async () => {
        const list = (await listEvents(fx.cp, NS.teamA, { kind: 'SsoConnector', name: CONNECTOR })).filter((e) => e.reason === 'ConnectorReady');
        return list.length > 0 ? list : undefined;
      }, 5000, 50);
      assert.equal(events.length, 1, 'one ConnectorReady Event');
      const e = events[0]!;
      assert.equal(e.type, 'Normal');
      assert.equal(e.reportingController, 'sso.operator.dev/sso-operator');
      assert.equal(e.reportingInstance, 'sso-operator-0');
      assert.equal(e.regarding?.uid, connector?.metadata.uid);
      assert.equal(e.regarding?.apiVersion, GROUP_VERSION);
      assert.match(e.note ?? '', /serving at http:\/\/127\.0\.0\.1:\d+\/saml\/team-a\/ssp\/login/);
      // alice's binding was Active from the start: no news, no Event (a GitOps
      // sync of 100,000 bindings must not write 100,000 Events).
      assert.deepEqual((await listEvents(fx.cp, NS.teamA, { kind: 'UserBinding', name: BINDING })).map((x) => x.reason), []);
    }));

  it('signs alice in through SimpleSAMLphp and the ACS; /auth/verify answers for her session', () =>
    withLogs(async () => {
      const browser = new BrowserClient();
      const { acs, ms } = await samlLogin(browser, { idp: fx.idp, baseURL: op.baseURL, rd: '/app/first?x=1' });
      note(`login as the leader: ${ms} ms`);
      assertLoggedIn(acs, op.baseURL, '/app/first?x=1');
      const verify = await browser.get(`${op.baseURL}/auth/verify`);
      assert.equal(verify.status, 200);
      assert.equal(verify.headers.get('x-auth-request-user'), USERS.alice.email);
      assert.equal(verify.headers.get('x-auth-request-groups'), USERS.alice.groups.join(','));
      assert.equal((await new BrowserClient().get(`${op.baseURL}/auth/verify`)).status, 401, 'no session, no access');

      // A second login in the same browser reuses the IdP session (no form).
      const again = await samlLogin(browser, { idp: fx.idp, baseURL: op.baseURL, rd: '/app/second' });
      note(`second login (IdP session reused): ${again.ms} ms`);
      assertLoggedIn(again.acs, op.baseURL, '/app/second');

      // bob authenticates at the IdP but has no binding.
      const bob = await samlLogin(new BrowserClient(), { idp: fx.idp, baseURL: op.baseURL, user: 'bob' });
      assertRefused(bob.acs, 403, 'BindingNotActive');
    }));

  it('holds Secret data only for referenced Secrets, and nothing of unwatched namespaces', () =>
    withLogs(async () => {
      const cache = op.operator.store.debugCache('Secret');
      const entry = (key: string) => cache.find((c) => c.key === key);
      assert.deepEqual(
        { ...entry(`${NS.teamA}/${IDP_SECRET}`), resourceVersion: undefined },
        { key: `${NS.teamA}/${IDP_SECRET}`, resourceVersion: undefined, interested: true, hasData: true },
      );
      assert.deepEqual(
        { ...entry(`${NS.teamA}/${UNRELATED_SECRET}`), resourceVersion: undefined },
        { key: `${NS.teamA}/${UNRELATED_SECRET}`, resourceVersion: undefined, interested: false, hasData: false },
      );
      assert.ok(entry(`${NS.teamA}/${UNRELATED_SECRET}`)?.resourceVersion, 'the unreferenced Secret is known by its metadata');
      assert.deepEqual(cache.filter((c) => !c.key.startsWith(`${NS.teamA}/`)), [], 'only team-a is watched');
      assert.equal(op.operator.store.get('Secret', NS.teamA, UNRELATED_SECRET), undefined);
      assert.ok(op.operator.store.get('Secret', NS.teamA, IDP_SECRET)?.data?.['tls.crt']);
      assert.ok(!op.rawLogs().includes('never-read-by-the-operator'));
    }));

  it('writes status only when it changed; a spec edit moves observedGeneration', () =>
    withLogs(async () => {
      const sink = op.operator.statusWriter;
      await op.operator.controller.idle();
      const before = sink.writes;
      const statusBefore = (await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR))!.status;

      // A metadata-only change of the connector is reconciled, but its status is the same: no write.
      const labelled = await mergePatch(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR, { metadata: { labels: { touched: 'yes' } } });
      await waitFor(() => op.operator.store.get('SsoConnector', NS.teamA, CONNECTOR)?.metadata.resourceVersion === labelled.metadata.resourceVersion, 5000, 5);
      // A change of the unreferenced Secret is seen (metadata) but triggers nothing.
      const unrelated = await mergePatch(fx.cp, 'v1', 'Secret', NS.teamA, UNRELATED_SECRET, { stringData: { password: 'changed-but-never-read' } });
      await waitFor(
        () => op.operator.store.debugCache('Secret').find((c) => c.key === `${NS.teamA}/${UNRELATED_SECRET}`)?.resourceVersion === unrelated.metadata.resourceVersion,
        5000,
        5,
      );
      await op.operator.controller.idle();
      await sleep(300);
      assert.equal(sink.writes, before, 'no status write for an unchanged status');
      const statusAfter = (await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR))!.status;
      assert.deepEqual(statusAfter, statusBefore);

      // A spec edit: generation 2, one status write carrying it.
      const edited = await mergePatch(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR, { spec: { displayName: 'SimpleSAMLphp (edited)' } });
      assert.equal(edited.metadata.generation, (statusBefore.observedGeneration as number) + 1);
      const { obj, ms } = await waitForObject(fx.cp, CONNECTOR_REF, (o) => o.status?.observedGeneration === o.metadata.generation);
      note(`spec edit -> observedGeneration ${obj.metadata.generation} in the apiserver: ${ms} ms`);
      assert.equal(obj.metadata.generation, edited.metadata.generation);
      for (const c of obj.status.conditions as { type: string; observedGeneration: number }[]) assert.equal(c.observedGeneration, obj.metadata.generation, c.type);
      // Transition times stay those of the real transitions.
      assert.equal(conditionOf(obj, 'Ready')?.lastTransitionTime, conditionOf({ ...obj, status: statusBefore }, 'Ready')?.lastTransitionTime);
      await op.operator.controller.idle();
      await sleep(200);
      assert.equal(sink.writes, before + 1, 'exactly one status write for the spec edit');
      assert.equal(runtimeOf(`${NS.teamA}/${CONNECTOR}`)?.displayName, 'SimpleSAMLphp (edited)');
    }));

  it('rotation: the new certificate is accepted without a restart, the removed one refused', () =>
    withLogs(async () => {
      const key = `${NS.teamA}/${CONNECTOR}`;
      const oldFp = fingerprintOf(fx.keys.old.certPem);
      const newFp = fingerprintOf(fx.keys.new.certPem);
      assert.deepEqual(trustedFingerprints(key), [oldFp]);
      const browser = new BrowserClient();
      let n = 0;
      const login = async (what: string) => {
        const rd = `/rotation/${++n}`;
        const r = await samlLogin(browser, { idp: fx.idp, baseURL: op.baseURL, rd });
        note(`login ${what}: ${r.ms} ms`);
        return { ...r, rd };
      };

      /** Applies the Secret with `pems`; measures until the registry (what logins read) and the status show `expected`. */
      const rotate = async (pems: string[], expected: string[], what: string) => {
        const want = [...expected].sort();
        const t0 = performance.now();
        await applyOk(fx.cp, idpSecretManifest(NS.teamA, IDP_SECRET, pems));
        const applied = performance.now() - t0;
        const live = await waitFor(() => isDeepStrictEqual(trustedFingerprints(key), want), 5000, 1);
        const liveMs = Math.round(applied + live.ms);
        const status = await waitForObject(fx.cp, CONNECTOR_REF, (o) => isDeepStrictEqual(statusFingerprints(o), want), 5000);
        note(
          `rotation (${what}): Secret apply ${Math.round(applied)} ms; new runtime live ${liveMs} ms after the apply began ` +
            `(${live.ms} ms after it returned); status in the apiserver ${Math.round(performance.now() - t0)} ms`,
        );
        assert.ok(liveMs < 1000, `the rotated certificates must be live within a second (took ${liveMs} ms)`);
        return status.obj;
      };

      assertLoggedIn((await login('before rotation (old key)')).acs, op.baseURL, '/rotation/1');

      // 1. Add the new certificate next to the old one.
      await rotate([fx.keys.old.certPem, fx.keys.new.certPem], [oldFp, newFp], 'new certificate added');
      note(`IdP switched to the new key in ${await switchIdpKey(fx.idp, fx.keys.new)} ms`);
      let r = await login('signed with the new key, both trusted');
      assertLoggedIn(r.acs, op.baseURL, r.rd);

      // 2. Remove the old one.
      const obj = await rotate([fx.keys.new.certPem], [newFp], 'old certificate removed');
      assert.equal(obj.status.certificates[0].notAfter, notAfterOf(fx.keys.new.certPem));
      assert.equal(conditionOf(obj, 'Ready')?.status, 'True');
      r = await login('signed with the new key, only it trusted');
      assertLoggedIn(r.acs, op.baseURL, r.rd);

      // 3. A response signed with the removed key is refused.
      await switchIdpKey(fx.idp, fx.keys.old);
      r = await login('signed with the removed key');
      assertRefused(r.acs, 401, 'CertificateNotTrusted');
      await switchIdpKey(fx.idp, fx.keys.new);

      // The operator never restarted: same process, same leader, and two CertificateRotated Events.
      assert.equal((await admin()).leader, true);
      const { value: rotated } = await pollFor('two CertificateRotated Events', async () => {
        const list = (await listEvents(fx.cp, NS.teamA, { kind: 'SsoConnector', name: CONNECTOR })).filter((e) => e.reason === 'CertificateRotated');
        return list.length >= 2 ? list : undefined;
      }, 5000, 50);
      const notes = rotated.map((e) => e.note ?? '').sort();
      assert.equal(rotated.length, 2);
      assert.match(notes.find((x) => x.includes('added')) ?? '', new RegExp(`added ${newFp.slice(0, 19)}\\.\\.\\.`));
      assert.match(notes.find((x) => x.includes('removed')) ?? '', new RegExp(`removed ${oldFp.slice(0, 19)}\\.\\.\\.`));
      assert.ok(rotated.every((e) => e.type === 'Normal'));
    }));

  it('the apiserver refuses what the schema and CEL catch, with the rule message', () =>
    withLogs(async () => {
      const valid = connectorManifest(fx.idp, { name: 'refused' });
      const cases: { what: string; obj: K8sObject; message: RegExp; field: string }[] = [
        {
          what: 'absolute idpInitiated.redirectPath (CEL)',
          obj: { ...valid, spec: { ...valid.spec, saml: { ...valid.spec.saml, idpInitiated: { enabled: true, redirectPath: 'https://evil.example/x' } } } },
          message: /must be a relative path starting with a single '\/' \(an absolute URL or \/\/host is not allowed\)/,
          field: 'spec.saml.idpInitiated.redirectPath',
        },
        {
          what: 'a certificate with both secretRef and pem (CEL)',
          obj: {
            ...valid,
            spec: {
              ...valid.spec,
              saml: { ...valid.spec.saml, idp: { ...valid.spec.saml.idp, certificates: [{ secretRef: { name: IDP_SECRET, key: 'tls.crt' }, pem: fx.keys.new.certPem }] } },
            },
          },
          message: /exactly one of secretRef or pem must be set/,
          field: 'spec.saml.idp.certificates[0]',
        },
        {
          what: 'a reference with a space (schema pattern)',
          obj: { ...valid, spec: { ...valid.spec, reference: 'has space' } },
          message: /spec\.reference in body should match '\^\[A-Za-z0-9_\.\+@-\]\+\$'/,
          field: 'spec.reference',
        },
        {
          what: 'a UserBinding with an unknown approval (schema enum)',
          obj: { ...bindingManifest({ name: 'refused', user: USERS.bob.email, connectors: [CONNECTOR] }), spec: { user: USERS.bob.email, connectors: [CONNECTOR], approval: 'Maybe' } },
          message: /Unsupported value: "Maybe": supported values: "Approved", "Pending", "Denied"/,
          field: 'spec.approval',
        },
      ];
      const wrong: string[] = [];
      for (const c of cases) {
        const r = await applyObject(fx.cp, c.obj);
        const causes = ((r.body?.details?.causes ?? []) as { field?: string }[]).map((x) => x.field);
        if (r.status !== 422 || r.body?.reason !== 'Invalid' || !c.message.test(r.body?.message ?? '') || !causes.includes(c.field)) {
          wrong.push(`${c.what}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
        }
        if (await getObject(fx.cp, GROUP_VERSION, c.obj.kind, NS.teamA, 'refused')) wrong.push(`${c.what}: stored anyway`);
      }
      assert.deepEqual(wrong, []);
      await sleep(200);
      // Nothing reached the operator.
      assert.deepEqual((await admin()).problems, []);
      assert.equal(runtimeOf(`${NS.teamA}/refused`), undefined);
    }));

  it('what only the operator can catch ends in Ready=False with a reason; nothing else is affected', () =>
    withLogs(async () => {
      const goodKey = `${NS.teamA}/${CONNECTOR}`;
      const goodBefore = (await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR))!;
      const goodRuntime = runtimeOf(goodKey);
      const t0 = performance.now();
      await applyOk(
        fx.cp,
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-a-cert', namespace: NS.teamA }, type: 'Opaque', stringData: { 'tls.crt': 'this is not a PEM certificate\n' } },
        connectorManifest(fx.idp, { name: 'broken-cert', secretName: 'not-a-cert' }),
        connectorManifest(fx.idp, { name: 'missing-secret', secretName: 'does-not-exist' }),
        // Shares the good connector's Secret, but pins a fingerprint no certificate has.
        connectorManifest(fx.idp, { name: 'wrong-pin', fingerprints: [`sha256:${'00'.repeat(32)}`] }),
        // Claims the good connector's reference: the later-created one loses it.
        connectorManifest(fx.idp, { name: 'same-reference', reference: CONNECTOR_REFERENCE }),
      );
      const expected: Record<string, { reason: string; message: RegExp; conditions: Record<string, string> }> = {
        'broken-cert': { reason: 'CertificateInvalid', message: /not-a-cert/, conditions: { SecretsResolved: 'True', CertificatesValid: 'False', CertificateExpiringSoon: 'Unknown' } },
        'missing-secret': { reason: 'SecretNotFound', message: /Secret team-a\/does-not-exist not found/, conditions: { SecretsResolved: 'False', CertificatesValid: 'Unknown', CertificateExpiringSoon: 'Unknown' } },
        'wrong-pin': { reason: 'FingerprintMismatch', message: /matches a pinned fingerprint/, conditions: { SecretsResolved: 'True', CertificatesValid: 'False' } },
        'same-reference': { reason: 'ReferenceConflict', message: new RegExp(`reference ${CONNECTOR_REFERENCE} is already used by ${CONNECTOR}`), conditions: { ReferenceUnique: 'False' } },
      };
      for (const [name, want] of Object.entries(expected)) {
        const { obj, ms } = await waitForObject(fx.cp, { kind: 'SsoConnector', namespace: NS.teamA, name }, (o) => conditionOf(o, 'Ready')?.status === 'False');
        note(`${name}: Ready=False (${want.reason}) in the apiserver ${Math.round(performance.now() - t0)} ms after the apply began (${ms} ms of polling)`);
        const ready = conditionOf(obj, 'Ready')!;
        assert.equal(ready.reason, want.reason, name);
        assert.match(ready.message, want.message, name);
        for (const [type, status] of Object.entries(want.conditions)) assert.equal(conditionOf(obj, type)?.status, status, `${name} ${type}`);
        assert.equal(obj.status.observedGeneration, obj.metadata.generation);
        // Its endpoints fail closed.
        const login = await fetch(`${spURLs(op.baseURL, NS.teamA, name).loginURL}?rd=/`, { redirect: 'manual' });
        assert.equal(login.status, 503, `${name} login`);
        assert.equal(errorReason({ body: await login.text() }), 'ConnectorNotReady');
      }
      // A ConnectorInvalid Warning for each broken one (ReferenceConflict has its own Event).
      const { value: warnings } = await pollFor('a Warning Event for each broken connector', async () => {
        const list = (await listEvents(fx.cp, NS.teamA)).filter((e) => e.type === 'Warning');
        const names = new Set(list.map((e) => `${e.reason}/${e.regarding?.name}`));
        const all = ['broken-cert', 'missing-secret', 'wrong-pin'].every((x) => names.has(`ConnectorInvalid/${x}`)) && names.has('ReferenceConflict/same-reference');
        return all ? list : undefined;
      }, 5000, 50);
      assert.match(warnings.find((e) => e.regarding?.name === 'missing-secret')?.note ?? '', /^SecretNotFound: Secret team-a\/does-not-exist not found/);
      assert.deepEqual(warnings.filter((e) => e.regarding?.name === CONNECTOR), [], 'no Warning for the good connector');

      // The good connector: still Ready with the same trust, same status, and a login still works.
      // (It is recompiled: a sibling with a reference re-queues every connector with one.)
      const goodNow = runtimeOf(goodKey);
      assert.equal(goodNow?.ready, true);
      assert.deepEqual(goodNow?.saml?.idp.certificates.map((c) => c.fingerprint), goodRuntime?.saml?.idp.certificates.map((c) => c.fingerprint));
      const goodAfter = (await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR))!;
      assert.deepEqual(goodAfter.status, goodBefore.status);
      const r = await samlLogin(new BrowserClient(), { idp: fx.idp, baseURL: op.baseURL, rd: '/still-fine' });
      assertLoggedIn(r.acs, op.baseURL, '/still-fine');
      const s = await admin();
      assert.deepEqual(
        s.connectors.map((c) => `${c.key} ${c.ready} ${c.reason ?? ''}`.trim()).sort(),
        [
          'team-a/broken-cert false CertificateInvalid',
          'team-a/missing-secret false SecretNotFound',
          'team-a/same-reference false ReferenceConflict',
          `team-a/${CONNECTOR} true`,
          'team-a/wrong-pin false FingerprintMismatch',
        ],
      );

      // The missing Secret appears: that connector recovers by itself.
      const t1 = performance.now();
      await applyOk(fx.cp, idpSecretManifest(NS.teamA, 'does-not-exist', [fx.keys.new.certPem]));
      const { obj } = await waitForObject(fx.cp, { kind: 'SsoConnector', namespace: NS.teamA, name: 'missing-secret' }, (o) => conditionOf(o, 'Ready')?.status === 'True');
      note(`missing Secret created -> connector Ready=True in the apiserver: ${Math.round(performance.now() - t1)} ms`);
      assert.equal(conditionOf(obj, 'SecretsResolved')?.status, 'True');
      assert.equal(runtimeOf(`${NS.teamA}/missing-secret`)?.ready, true);
    }));

  it('RBAC: the ServiceAccount token works in team-a and cannot read a Secret in team-b', () =>
    withLogs(async () => {
      const token = fx.sa.token;
      const who = await requestAsToken(fx.cp, token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      });
      assert.equal(who.status, 201, who.text);
      assert.equal(who.body.status.userInfo.username, `system:serviceaccount:${NS.operator}:${SERVICE_ACCOUNT}`);

      const teamA = await requestAsToken(fx.cp, token, 'GET', `/api/v1/namespaces/${NS.teamA}/secrets/${IDP_SECRET}`);
      assert.equal(teamA.status, 200, 'the token reads the watched namespace');
      const teamB = await requestAsToken(fx.cp, token, 'GET', `/api/v1/namespaces/${NS.teamB}/secrets/${IDP_SECRET}`);
      assert.equal(teamB.status, 403, teamB.text.slice(0, 300));
      assert.match(teamB.body.message, /cannot get resource "secrets" in API group "" in the namespace "team-b"/);
      const listB = await requestAsToken(fx.cp, token, 'GET', `/api/v1/namespaces/${NS.teamB}/secrets`);
      assert.equal(listB.status, 403);
      const listAll = await requestAsToken(fx.cp, token, 'GET', '/api/v1/secrets');
      assert.equal(listAll.status, 403);

      // The rendered RBAC was all namespaced: one Role per watched namespace plus its own state Role.
      assert.deepEqual(
        fx.rbac.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort(),
        [
          `Role ${NS.operator}/${SERVICE_ACCOUNT}-state`,
          `Role ${NS.teamA}/${SERVICE_ACCOUNT}`,
          `RoleBinding ${NS.operator}/${SERVICE_ACCOUNT}-state`,
          `RoleBinding ${NS.teamA}/${SERVICE_ACCOUNT}`,
          `ServiceAccount ${NS.operator}/${SERVICE_ACCOUNT}`,
        ],
      );

      // A connector in team-b is not served (not watched, nothing read there).
      await applyOk(fx.cp, connectorManifest(fx.idp, { namespace: NS.teamB, name: 'elsewhere' }));
      await sleep(300);
      assert.equal(runtimeOf(`${NS.teamB}/elsewhere`), undefined);
      const res = await fetch(`${spURLs(op.baseURL, NS.teamB, 'elsewhere').loginURL}?rd=/`, { redirect: 'manual' });
      assert.equal(res.status, 404);
      assert.deepEqual(op.operator.store.debugCache('Secret').filter((c) => c.key.startsWith(`${NS.teamB}/`)), []);
      const elsewhere = await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamB, 'elsewhere');
      assert.equal(elsewhere?.status, undefined, 'no status written outside the watched namespaces');
    }));
});
