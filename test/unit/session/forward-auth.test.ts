import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { decideForwardAuth, parseGroupsParam, sanitizeGroups, type ForwardAuthInput } from '../../../src/session/forward-auth.ts';
import type { SessionClaims, VerifyResult } from '../../../src/session/tokens.ts';

const claims: SessionClaims = {
  sub: 'alice@example.com',
  email: 'alice@example.com',
  groups: ['stale-group-from-token'],
  connector: 'team-a/okta',
  iss: 'https://sso.example.com',
  aud: 'sso-operator-session',
  iat: 1,
  exp: 2,
  jti: 'j',
};

function input(over: Partial<ForwardAuthInput> & { claims?: Partial<SessionClaims>; groups?: string[] } = {}): ForwardAuthInput {
  const verify: VerifyResult = over.verify ?? { ok: true, claims: { ...claims, ...over.claims } };
  return {
    verify,
    connectorEnabled: over.connectorEnabled ?? (() => true),
    bindingActive: over.bindingActive ?? (() => ({ active: true, groups: over.groups ?? ['dev', 'ops'] })),
    requiredGroups: over.requiredGroups,
  };
}

test('200 with headers; groups come from the binding, not the token', () => {
  const seen: string[] = [];
  const d = decideForwardAuth(
    input({
      connectorEnabled: (k) => (seen.push(`c:${k}`), true),
      bindingActive: (k, u) => (seen.push(`b:${k}:${u}`), { active: true, groups: ['dev', 'ops'] }),
    }),
  );
  assert.equal(d.status, 200);
  if (d.status !== 200) return;
  assert.deepEqual(d.headers, {
    'X-Auth-Request-User': 'alice@example.com',
    'X-Auth-Request-Email': 'alice@example.com',
    'X-Auth-Request-Groups': 'dev,ops',
    'X-Auth-Request-Connector': 'team-a/okta',
  });
  assert.deepEqual(seen, ['c:team-a/okta', 'b:team-a/okta:alice@example.com']);
});

test('401 reasons from the token', () => {
  for (const reason of ['SessionMissing', 'SessionInvalid', 'SessionExpired'] as const) {
    assert.deepEqual(decideForwardAuth(input({ verify: { ok: false, reason } })), { status: 401, reason });
  }
});

test('401 when the connector is disabled or the binding is not active', () => {
  assert.deepEqual(decideForwardAuth(input({ connectorEnabled: () => false })), { status: 401, reason: 'ConnectorDisabled' });
  assert.deepEqual(decideForwardAuth(input({ bindingActive: () => ({ active: false, groups: ['dev'] }) })), {
    status: 401,
    reason: 'BindingNotActive',
  });
});

test('required groups: one of them is enough, else 403', () => {
  assert.equal(decideForwardAuth(input({ requiredGroups: ['admins', 'ops'] })).status, 200);
  assert.deepEqual(decideForwardAuth(input({ requiredGroups: ['admins'] })), { status: 403, reason: 'GroupRequired' });
  assert.equal(decideForwardAuth(input({ requiredGroups: [] })).status, 200);
  // A group in the token but no longer in the binding does not count.
  assert.deepEqual(decideForwardAuth(input({ requiredGroups: ['stale-group-from-token'] })), { status: 403, reason: 'GroupRequired' });
  // A group dropped by sanitising cannot satisfy a requirement.
  assert.deepEqual(decideForwardAuth(input({ groups: ['a,b'], requiredGroups: ['a,b'] })), { status: 403, reason: 'GroupRequired' });
});

test('unsafe group names are dropped from the header', () => {
  const d = decideForwardAuth(input({ groups: ['dev', 'a,b', 'x\r\nX-Evil: 1', 'tab\tbed', ' lead', 'trail ', '', 'caf\u00e9', 'dev', 'with space'] }));
  assert.equal(d.status, 200);
  if (d.status === 200) assert.equal(d.headers['X-Auth-Request-Groups'], 'dev,with space');
});

test('unsafe identity is refused, unsafe email omitted', () => {
  for (const sub of ['alice\r\nX-Auth-Request-User: admin', ' admin', 'admin ', 'al\u0000ice', 'j\u00f6rg']) {
    assert.deepEqual(decideForwardAuth(input({ claims: { sub } })), { status: 401, reason: 'SessionInvalid' }, JSON.stringify(sub));
  }
  const d = decideForwardAuth(input({ claims: { email: 'a@b\r\nX: y' } }));
  assert.equal(d.status, 200);
  if (d.status === 200) assert.equal(d.headers['X-Auth-Request-Email'], '');
  const noEmail = decideForwardAuth(input({ claims: { email: undefined } }));
  if (noEmail.status === 200) assert.equal(noEmail.headers['X-Auth-Request-Email'], '');
});

test('helpers', () => {
  assert.deepEqual(parseGroupsParam(undefined), []);
  assert.deepEqual(parseGroupsParam('a, b,,c '), ['a', 'b', 'c']);
  assert.deepEqual(sanitizeGroups(['a', 'a', 'b,c', 'd']), ['a', 'd']);
});

test('a session let in through an IdP group: only while that group is among its own IdP groups, the connector lists it, and no binding denies the user', () => {
  const noBinding = () => ({ active: false, groups: [] as string[] });
  const allowed = (_: string, g: string): boolean => g === 'engineering';
  const decide = (c: Partial<SessionClaims>, bindingActive: ForwardAuthInput['bindingActive'] = noBinding, groupAllowed = allowed) =>
    decideForwardAuth({ ...input({ claims: c, bindingActive }), groupAllowed });
  const ok = decide({ idpGroups: ['engineering'], viaGroup: 'engineering' });
  assert.equal(ok.status, 200);
  assert.equal(ok.status === 200 && ok.headers['X-Auth-Request-Groups'], 'engineering');
  assert.deepEqual(decide({ idpGroups: ['marketing'], viaGroup: 'engineering' }), { status: 401, reason: 'BindingNotActive' }, 'via_group not among its own groups');
  assert.deepEqual(decide({ idpGroups: ['engineering'], viaGroup: 'engineering' }, noBinding, () => false), { status: 401, reason: 'BindingNotActive' }, 'no longer listed');
  assert.deepEqual(decide({ idpGroups: ['engineering'], viaGroup: 'engineering' }, () => ({ active: false, groups: [], denied: true })), { status: 401, reason: 'BindingNotActive' }, 'denied');
  assert.deepEqual(decide({ idpGroups: ['engineering'] }), { status: 401, reason: 'BindingNotActive' }, 'no via_group at all');
});
