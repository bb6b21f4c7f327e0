// One sample per login attempt in sso_login_attempts_total, readable on the
// admin app's /metrics; unknown connectors share one `_unknown` label.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { postAcs, signIn, startHarness, unsolicited } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

interface Sample {
  labels: Record<string, string>;
  value: number;
}

function samples(text: string, metric: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

function valueOf(list: Sample[], labels: Record<string, string>): number | undefined {
  const found = list.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  assert.ok(found.length <= 1, 'labels identify one series');
  return found[0]?.value;
}

test('success, failure and unknown connectors are counted with their reason', async () => {
  const idp = await signingIdentity('idp');
  const h = await startHarness({ objects: [connectorManifest('demo', idp.certPem), bindingManifest('alice', 'alice@example.com', ['demo'])] });
  onCleanup(() => h.close());

  assert.equal((await signIn(h)).acs.statusCode, 303);
  assert.equal((await signIn(h)).acs.statusCode, 303);
  assert.equal((await signIn(h, { response: { nameID: 'mallory@example.com' } })).acs.statusCode, 403);
  assert.equal((await signIn(h, { response: { inResponseTo: '_ffffffffffffffffffffffffffffffff' } })).acs.statusCode, 401);
  for (const name of ['scanner-1', 'scanner-2']) {
    assert.equal((await postAcs(h.app, `/saml/probe/${name}/acs`, { SAMLResponse: unsolicited(h, 'probe', name) })).statusCode, 404);
  }

  const res = await h.admin.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  const attempts = samples(res.body, 'sso_login_attempts_total');
  const demo = { namespace: 'default', connector: 'demo' };
  assert.equal(valueOf(attempts, { ...demo, result: 'success', reason: 'Success' }), 2);
  assert.equal(valueOf(attempts, { ...demo, result: 'failure', reason: 'BindingNotActive' }), 1);
  assert.equal(valueOf(attempts, { ...demo, result: 'failure', reason: 'InResponseToMismatch' }), 1);
  assert.equal(valueOf(attempts, { namespace: '_unknown', connector: '_unknown', result: 'failure', reason: 'ConnectorNotFound' }), 2);
  // Names taken from the URL never become label values.
  assert.ok(!res.body.includes('scanner-1') && !res.body.includes('probe'), 'no label from an unknown URL');
  // Nor does a user identity.
  assert.ok(!res.body.includes('alice@example.com') && !res.body.includes('mallory'), 'no user in any label');

  const sessions = samples(res.body, 'sso_sessions_issued_total');
  assert.equal(valueOf(sessions, demo), 2);
  const durations = samples(res.body, 'sso_login_duration_seconds_count');
  assert.equal(valueOf(durations, { ...demo, result: 'success' }), 2);
  assert.equal(valueOf(durations, { ...demo, result: 'failure' }), 2);
});
