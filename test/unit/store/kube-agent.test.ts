// Connections to the apiserver kept open between requests that end.

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { keepAliveAgent } from '../../../src/store/kube-agent.ts';

describe('keepAliveAgent', () => {
  it("gives client-node's https agent one keep-alive twin with the same TLS material", () => {
    const agent = new https.Agent({ ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' });
    const twin = keepAliveAgent(agent) as https.Agent & { keepAlive: boolean };
    assert.notEqual(twin, agent);
    assert.equal(twin.keepAlive, true);
    assert.equal(twin.options.ca, 'CA PEM');
    assert.equal(twin.options.cert, 'CERT PEM');
    assert.equal(twin.options.key, 'KEY PEM');
    assert.equal(keepAliveAgent(agent), twin, 'the same twin every time: its connections are reused');
  });

  it('leaves a proxy agent, a plain http agent and no agent as they are', () => {
    class ProxyAgent extends https.Agent {}
    const proxy = new ProxyAgent();
    const plain = new http.Agent();
    assert.equal(keepAliveAgent(proxy), proxy);
    assert.equal(keepAliveAgent(plain), plain);
    assert.equal(keepAliveAgent(undefined), undefined);
  });
});
