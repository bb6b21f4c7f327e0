// Connections kept open between requests to the apiserver that end (list
// pages, Secret reads, status writes, Events, the Lease). The kubeconfig's
// agent (kube-access.ts, or client-node's) does not keep them: every request
// opened a TLS connection of its own, a handshake with the client
// certificate on both sides, and at 1,000 connectors created at once that
// was most of what a reconcile cost (and of what each status write cost the
// apiserver). Watches stay on the kubeconfig's agent: they hold their
// connection anyway.
//
// Only a plain https.Agent is replaced; a proxy agent (agent-base) is left
// as it is.

import https from 'node:https';

const keptAlive = new WeakMap<https.Agent, https.Agent>();

/** The keep-alive twin of `agent` (same TLS material), or `agent` itself when it is not a plain https.Agent. */
export function keepAliveAgent(agent: https.RequestOptions['agent']): https.RequestOptions['agent'] {
  if (!(agent instanceof https.Agent) || Object.getPrototypeOf(agent) !== https.Agent.prototype) return agent;
  let twin = keptAlive.get(agent);
  if (twin === undefined) {
    twin = new https.Agent({ ...agent.options, keepAlive: true });
    keptAlive.set(agent, twin);
  }
  return twin;
}
