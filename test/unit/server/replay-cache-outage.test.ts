// When the shared replay cache cannot answer, a response whose replay status
// is unknown is refused with 503 and no session, never accepted.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ReplayCacheUnavailableError } from '../../../src/saml/redis-replay-cache.ts';
import { assertRefused, signIn, startHarness, type Harness } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

let h: Harness;
let down = true;
beforeAll(async () => {
  h = await startHarness({
    replay: {
      async remember() {
        if (down) throw new ReplayCacheUnavailableError('redis unreachable');
        return true;
      },
    },
  });
  await h.apply(connectorManifest('a', h.idp.certPem), bindingManifest('alice', 'alice@example.com', ['a']));
});
afterAll(() => h.close());

describe('replay cache outage', () => {
  it('answers 503 ReplayCacheUnavailable without a session while the cache is down', async () => {
    const { acs } = await signIn(h, { connector: 'default/a', response: { nameID: 'alice@example.com' } });
    assertRefused(acs, 503, 'ReplayCacheUnavailable');
    assert.match(h.logText(), /replay cache unavailable/);
  });

  it('signs in again once the cache answers', async () => {
    down = false;
    const { acs } = await signIn(h, { connector: 'default/a', response: { nameID: 'alice@example.com' } });
    assert.equal(acs.statusCode, 303);
  });
});
