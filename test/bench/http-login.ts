// End-to-end login through the public app (ours only): the real controller,
// registry, session keys and replay cache, driven with app.inject (no socket).
// Untimed per login: GET /login (state cookie + AuthnRequest, timed on its own
// and reported separately) and the IdP signing a response that answers it.
// Timed: the ACS POST — state cookie check, validateResponse, binding lookup,
// session JWT, metrics and the login log line (pino at info, to a null sink).

import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { admit } from '../../src/api/index.ts';
import { Controller } from '../../src/controller/controller.ts';
import { Registry } from '../../src/controller/registry.ts';
import { MemoryStatusSink } from '../../src/controller/status-sink.ts';
import { parseAuthnRequest } from '../../src/demo-idp/saml-idp.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createLogger } from '../../src/operator.ts';
import { MemoryReplayCache } from '../../src/saml/replay-cache.ts';
import { buildPublicApp } from '../../src/server/public-app.ts';
import { generateKeySet } from '../../src/session/keys.ts';
import { SessionTokens } from '../../src/session/tokens.ts';
import { MemoryStore, type MemoryObject } from '../../src/store/memory-store.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { SESSION, STATE, answer, cookieValue } from '../unit/server/harness.ts';
import { bindingManifest, connectorManifest } from '../unit/server/manifests.ts';
import { Recorder, inputsNeeded, type BenchPlan, type Stats } from './measure.ts';

const PUBLIC_URL = 'https://sp.example.test';
const ACS_PATH = '/saml/default/demo/acs';
const LOGIN_PATH = '/saml/default/demo/login?rd=%2Fapp';
const VALIDITY_MS = 2 * 3600 * 1000;

interface PendingLogin {
  cookie: string;
  payload: string;
}

export interface HttpResult {
  acs: Stats;
  /** GET /login, timed while preparing (no warm-up beyond the first calls). */
  login: Stats;
  bytes: number;
}

export async function benchHttpLogin(plan: BenchPlan): Promise<HttpResult> {
  const idp = await signingIdentity('bench-idp', 'RSA');
  const logger = createLogger('info', new Writable({ write: (_c, _e, cb) => cb() }));
  const metrics = createMetrics({ defaultMetrics: false });
  const registry = new Registry();
  const store = new MemoryStore();
  const controller = new Controller({ store, registry, status: new MemoryStatusSink(), metrics, logger, publicURL: PUBLIC_URL });
  await controller.start();
  const keys = generateKeySet();
  let app: FastifyInstance | undefined;
  try {
    app = await buildPublicApp({
      registry,
      sessions: new SessionTokens(() => keys, PUBLIC_URL),
      stateKey: () => keys.stateKey,
      replay: new MemoryReplayCache(),
      metrics,
      logger,
      config: { publicURL: PUBLIC_URL, allowedRedirectHosts: [], trustProxy: false },
    });
    for (const doc of [connectorManifest('demo', idp.certPem, { ttl: '8h' }), bindingManifest('alice', 'alice@example.com', ['demo'], { groups: ['devs', 'admins'] })]) {
      const admitted = admit(doc);
      if (!admitted.ok) throw new Error(`manifest refused: ${JSON.stringify(admitted.errors)}`);
      store.upsert(admitted.object as unknown as MemoryObject);
    }
    await controller.idle();
    const server = app;

    // Each login: its own state cookie and a response answering its AuthnRequest.
    const count = inputsNeeded(plan);
    const pending: PendingLogin[] = [];
    const loginTimes = new Recorder(async (i) => {
      const res = await server.inject({ method: 'GET', url: LOGIN_PATH });
      const state = cookieValue(res, STATE);
      const location = res.statusCode === 302 ? new URL(String(res.headers.location)) : undefined;
      const SAMLRequest = location?.searchParams.get('SAMLRequest');
      const RelayState = location?.searchParams.get('RelayState');
      if (!state || !SAMLRequest || !RelayState) return false;
      pending[i] = { cookie: `${STATE}=${state}`, payload: RelayState };
      return true;
    }, 0);
    for (let i = 0; i < count; i++) await loginTimes.segment(1);
    const until = new Date(Date.now() + VALIDITY_MS);
    let bytes = 0;
    for (const [i, p] of pending.entries()) {
      const url = new URL(String((await server.inject({ method: 'GET', url: LOGIN_PATH, headers: { cookie: 'x=1' } })).headers.location));
      void url;
      void i;
      void p;
      break;
    }
    void bytes;
    void until;
    void parseAuthnRequest;
    void answer;
    void SESSION;
    throw new Error('todo');
  } finally {
    await controller.stop();
    await app?.close();
  }
}
