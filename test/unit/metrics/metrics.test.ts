import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { createMetrics, forgetConnector, setIdpCertificates } from '../../../src/metrics/metrics.ts';

test('every metric is exported with its labels', async () => {
  const m = createMetrics();
  m.loginAttempts.inc({ namespace: 'ns', connector: 'okta', result: 'failure', reason: 'SignatureInvalid' });
  m.loginDuration.observe({ namespace: 'ns', connector: 'okta', result: 'success' }, 0.02);
  m.idpCertNotAfter.set({ namespace: 'ns', connector: 'okta', fingerprint: 'sha256:' + 'a'.repeat(64) }, 1_900_000_000);
  m.connectors.set({ state: 'ready' }, 3);
  m.reconcileTotal.inc({ kind: 'SsoConnector', result: 'success' });
  m.reconcileDuration.observe({ kind: 'SsoConnector' }, 0.003);
  m.sessionsIssued.inc({ namespace: 'ns', connector: 'okta' });
  m.forwardAuth.inc({ result: 'denied', reason: 'BindingNotActive' });
  const text = await m.registry.metrics();
  for (const line of [
    'sso_login_attempts_total{namespace="ns",connector="okta",result="failure",reason="SignatureInvalid"} 1',
    'sso_login_duration_seconds_count{namespace="ns",connector="okta",result="success"} 1',
    `sso_idp_certificate_not_after_seconds{namespace="ns",connector="okta",fingerprint="sha256:${'a'.repeat(64)}"} 1900000000`,
    'sso_connectors{state="ready"} 3',
    'sso_connectors{state="not_ready"} 0',
    'sso_connectors{state="disabled"} 0',
    'sso_reconcile_total{kind="SsoConnector",result="success"} 1',
    'sso_reconcile_duration_seconds_count{kind="SsoConnector"} 1',
    'sso_sessions_issued_total{namespace="ns",connector="okta"} 1',
    'sso_forward_auth_total{result="denied",reason="BindingNotActive"} 1',
  ]) {
    assert.ok(text.includes(line), `missing: ${line}`);
  }
  assert.match(text, /# TYPE sso_login_duration_seconds histogram/);
  assert.match(text, /# TYPE sso_login_attempts_total counter/);
  // Node default metrics, prom-client names.
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^nodejs_heap_size_total_bytes /m);
});

test('no metric has a label for a user identity', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const metrics = await m.registry.getMetricsAsJSON();
  const names = metrics.map((x) => x.name).sort();
  assert.deepEqual(names, [
    'sso_access_requests_pending',
    'sso_access_requests_total',
    'sso_access_token_refresh_total',
    'sso_connectors',
    'sso_forward_auth_total',
    'sso_idp_certificate_not_after_seconds',
    'sso_informer_staleness_seconds',
    'sso_login_attempts_total',
    'sso_login_duration_seconds',
    'sso_logouts_total',
    'sso_queue_depth',
    'sso_queue_oldest_item_age_seconds',
    'sso_rate_limited_total',
    'sso_reconcile_duration_seconds',
    'sso_reconcile_total',
    'sso_sessions_issued_total',
  ]);
  const allowed = new Set(['namespace', 'connector', 'result', 'reason', 'fingerprint', 'state', 'kind', 'initiator', 'queue', 'scope', 'endpoint']);
  for (const metric of [m.loginAttempts, m.loginDuration, m.idpCertNotAfter, m.connectors, m.reconcileTotal, m.reconcileDuration, m.sessionsIssued, m.forwardAuth, m.rateLimited, m.accessTokenRefresh, m.accessRequests, m.accessRequestsPending, m.logouts, m.queueDepth, m.queueOldestAge]) {
    const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
    for (const l of labelNames) assert.ok(allowed.has(l), `unexpected label ${l}`);
    for (const l of ['user', 'sub', 'email', 'identity', 'nameID']) assert.ok(!labelNames.includes(l));
  }
  // Labels are checked: an identity label cannot be added by accident.
  assert.throws(() => m.sessionsIssued.inc({ namespace: 'ns', connector: 'c', user: 'alice' } as never));
});

test('several registries in one process, the global one untouched', async () => {
  const a = createMetrics();
  const b = createMetrics();
  a.sessionsIssued.inc({ namespace: 'ns', connector: 'c' });
  assert.match(await a.registry.metrics(), /sso_sessions_issued_total\{namespace="ns",connector="c"\} 1/);
  assert.doesNotMatch(await b.registry.metrics(), /sso_sessions_issued_total\{/);
  assert.equal(globalRegistry.getSingleMetric('sso_sessions_issued_total'), undefined);
});

test('forgetConnector removes every series of that connector only', async () => {
  const m = createMetrics({ defaultMetrics: false });
  for (const [ns, c] of [['ns', 'gone'], ['ns', 'kept'], ['other', 'gone']] as const) {
    m.loginAttempts.inc({ namespace: ns, connector: c, result: 'success', reason: 'OK' });
    m.loginAttempts.inc({ namespace: ns, connector: c, result: 'failure', reason: 'SignatureInvalid' });
    m.loginDuration.observe({ namespace: ns, connector: c, result: 'success' }, 0.1);
    m.loginDuration.observe({ namespace: ns, connector: c, result: 'failure' }, 0.1);
    m.idpCertNotAfter.set({ namespace: ns, connector: c, fingerprint: 'sha256:old' }, 1);
    m.idpCertNotAfter.set({ namespace: ns, connector: c, fingerprint: 'sha256:new' }, 2);
    m.sessionsIssued.inc({ namespace: ns, connector: c });
    m.logouts.inc({ namespace: ns, connector: c, initiator: 'idp', result: 'success', reason: 'Success' });
  }
  await forgetConnector(m, 'ns', 'gone');
  const text = await m.registry.metrics();
  assert.doesNotMatch(text, /namespace="ns",connector="gone"/);
  assert.match(text, /sso_login_attempts_total\{namespace="ns",connector="kept",result="failure"/);
  assert.match(text, /sso_login_duration_seconds_bucket\{le="0.25",namespace="ns",connector="kept",result="success"\} 1/);
  assert.match(text, /sso_idp_certificate_not_after_seconds\{namespace="other",connector="gone",fingerprint="sha256:old"\} 1/);
  assert.match(text, /sso_sessions_issued_total\{namespace="other",connector="gone"\} 1/);
  assert.match(text, /sso_logouts_total\{namespace="ns",connector="kept",initiator="idp",result="success",reason="Success"\} 1/);
});

test('setIdpCertificates replaces the fingerprints of one connector', async () => {
  const m = createMetrics({ defaultMetrics: false });
  await setIdpCertificates(m, 'ns', 'okta', [
    { fingerprint: 'sha256:old', notAfter: '2030-01-01T00:00:00Z' },
    { fingerprint: 'sha256:cur', notAfter: new Date('2031-01-01T00:00:00Z') },
  ]);
  await setIdpCertificates(m, 'ns', 'other', [{ fingerprint: 'sha256:x', notAfter: '2032-01-01T00:00:00Z' }]);
  await setIdpCertificates(m, 'ns', 'okta', [{ fingerprint: 'sha256:cur', notAfter: '2031-01-01T00:00:00Z' }]);
  const text = await m.registry.metrics();
  assert.doesNotMatch(text, /sha256:old/);
  assert.match(text, /fingerprint="sha256:cur"\} 1924992000/);
  assert.match(text, /connector="other",fingerprint="sha256:x"\} 1956528000/);
});
