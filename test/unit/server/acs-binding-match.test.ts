// A valid identity signs in only with an Active UserBinding for this
// connector: 403 otherwise. Emails compare case-insensitively, other
// identities exactly and untrimmed.

import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { onCleanup } from '../../support/cleanup.ts';
import { signingIdentity } from '../../support/saml-fixtures.ts';
import { assertRefused, signIn, startHarness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

async function harness(...bindings: Record<string, unknown>[]) {
  const idp = await signingIdentity('idp');
  return startHarness({ objects: [connectorManifest('demo', idp.certPem), connectorManifest('other', idp.certPem), ...bindings] });
}

test('403 BindingNotActive for a valid identity without any binding', async () => {
  const h = await harness(bindingManifest('bob', 'bob@example.com', ['demo']));
  onCleanup(() => h.close());
  const { acs } = await signIn(h, { response: { nameID: 'alice@example.com' } });
  assertRefused(acs, 403, 'BindingNotActive');
  // The control: bob, bound, gets in.
  assert.equal((await signIn(h, { response: { nameID: 'bob@example.com' } })).acs.statusCode, 303);
});

test('403 for a binding that is Pending or Denied', async () => {
  const h = await harness(
    bindingManifest('pending', 'pending@example.com', ['demo'], { approval: 'Pending' }),
    bindingManifest('denied', 'denied@example.com', ['demo'], { approval: 'Denied' }),
  );
  onCleanup(() => h.close());
  assertRefused((await signIn(h, { response: { nameID: 'pending@example.com' } })).acs, 403, 'BindingNotActive');
  assertRefused((await signIn(h, { response: { nameID: 'denied@example.com' } })).acs, 403, 'BindingNotActive');
  // Approved later: the same user gets in.
  await h.apply(bindingManifest('pending', 'pending@example.com', ['demo'], { approval: 'Approved' }));
  assert.equal((await signIn(h, { response: { nameID: 'pending@example.com' } })).acs.statusCode, 303);
});

test('403 for a binding to another connector only', async () => {
  const h = await harness(bindingManifest('alice', 'alice@example.com', ['other']));
  onCleanup(() => h.close());
  assertRefused((await signIn(h)).acs, 403, 'BindingNotActive');
  assert.equal((await signIn(h, { connector: 'default/other' })).acs.statusCode, 303);
});

test('an email identity matches its binding case-insensitively', async () => {
  const h = await harness(bindingManifest('alice', 'Alice@Example.COM', ['demo'], { groups: ['devs'] }));
  onCleanup(() => h.close());
  for (const nameID of ['alice@example.com', 'ALICE@EXAMPLE.COM', 'Alice@Example.COM']) {
    const { acs } = await signIn(h, { response: { nameID } });
    assert.equal(acs.statusCode, 303, `${nameID}: ${acs.body}`);
  }
  assertRefused((await signIn(h, { response: { nameID: 'alice@example.org' } })).acs, 403, 'BindingNotActive');
});

test('a non-email identity matches exactly: no case folding, no trimming', async () => {
  const h = await harness(bindingManifest('alice', 'alice', ['demo']), bindingManifest('spaced', ' bob', ['demo']));
  onCleanup(() => h.close());
  const as = (nameID: string) => signIn(h, { response: { nameID, nameIDFormat: UNSPECIFIED } });
  assert.equal((await as('alice')).acs.statusCode, 303);
  assertRefused((await as('Alice')).acs, 403, 'BindingNotActive');
  assertRefused((await as('alice ')).acs, 403, 'BindingNotActive');
  assertRefused((await as(' alice')).acs, 403, 'BindingNotActive');
  // The binding's leading space is significant too.
  assertRefused((await as('bob')).acs, 403, 'BindingNotActive');
  assert.equal((await as(' bob')).acs.statusCode, 303);
});
