// End-to-end login through the public app (ours only): the real controller,
// registry, session keys and replay cache, driven with app.inject (no socket).
// Untimed per login: GET /login (state cookie + AuthnRequest, timed on its own
// and reported separately) and the IdP signing a response that answers it.
// Timed: the ACS POST — state cookie check, validateResponse, binding lookup,
// session JWT, metrics and the login log line (pino at info, to a null sink).

import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { admit } from '../../src/api/index.ts';
import { Controller } from '../../src/controller/controller.ts';
import { Registry } from '../../src/controller/registry.ts';
import { MemoryStatusSink } from '../../src/controller/status-sink.ts';
import { StatusWriter } from '../../src/controller/status-writer.ts';
import { parseAuthnRequest } from '../../src/demo-idp/saml-idp.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createLogger } from '../../src/operator.ts';
import { AccessTokenBroker, MemoryTokenVault } from '../../src/session/access-tokens.ts';
import { MemoryRevocationList } from '../../src/session/revocation.ts';
import { MemoryReplayCache } from '../../src/saml/replay-cache.ts';
import { validateResponse } from '../../src/saml/validate-response.ts';
import { decodeState } from '../../src/session/state-cookie.ts';
import { buildPublicApp } from '../../src/server/public-app.ts';
import { generateKeySet } from '../../src/session/keys.ts';
import { SessionTokens } from '../../src/session/tokens.ts';
import { MemoryStore, type MemoryObject } from '../../src/store/memory-store.ts';
import { signingIdentity } from '../support/saml-fixtures.ts';
import { SESSION, STATE, answer, cookieValue } from '../unit/server/harness.ts';
import { bindingManifest, connectorManifest } from '../unit/server/manifests.ts';
import { Recorder, inputsNeeded, runInterleaved, type BenchPlan, type Stats } from './measure.ts';

const PUBLIC_URL = 'https://sp.example.test';
const ACS_PATH = '/saml/default/demo/acs';
const LOGIN_PATH = '/saml/default/demo/login?rd=%2Fapp';
const VALIDITY_MS = 2 * 3600 * 1000;

interface PendingLogin {
  cookie: string;
  payload: string;
}

/** One step of a successful ACS request, timed on its own on the same inputs. */
export interface AcsStep {
  step: string;
  stats: Stats;
}

const parseForm = (createRequire(import.meta.url)('fast-querystring') as { parse: (s: string) => Record<string, unknown> }).parse;

export interface HttpResult {
  acs: Stats;
  /** The steps of POST acs timed apart, interleaved with it (the remainder is fastify, hooks, headers). */
  steps: AcsStep[];
  /** GET /login, timed while preparing (no warm-up beyond the first calls). */
  login: Stats;
  bytes: number;
  /** Last failure seen during timing, if any. */
  lastError: string;
}

export async function benchHttpLogin(plan: BenchPlan): Promise<HttpResult> {
  const idp = await signingIdentity('bench-idp', 'RSA');
  const logger = createLogger('info', new Writable({ write: (_c, _e, cb) => cb() }));
  const metrics = createMetrics({ defaultMetrics: false });
  const registry = new Registry();
  const store = new MemoryStore();
  const controller = new Controller({ store, registry, status: new StatusWriter({ target: new MemoryStatusSink(), logger }), metrics, logger, publicURL: PUBLIC_URL });
  await controller.start();
  const keys = generateKeySet();
  const sessions = new SessionTokens(() => keys, PUBLIC_URL);
  let app: FastifyInstance | undefined;
  try {
    app = await buildPublicApp({
      registry,
      sessions,
      stateKey: () => keys.stateKey,
      replay: new MemoryReplayCache(),
      revocations: new MemoryRevocationList(),
      accessTokens: new AccessTokenBroker(new MemoryTokenVault()),
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
    // GET /login is timed here as a side figure; the AuthnRequest is parsed and
    // answered afterwards, untimed.
    const count = inputsNeeded(plan);
    const started: { cookie: string; location: string }[] = [];
    const loginRec = new Recorder(async (i) => {
      const res = await server.inject({ method: 'GET', url: LOGIN_PATH });
      const state = cookieValue(res, STATE);
      if (res.statusCode !== 302 || !state) return false;
      started[i] = { cookie: `${STATE}=${state}`, location: String(res.headers.location) };
      return true;
    }, 0);
    await loginRec.segment(count);
    if (loginRec.failures > 0) throw new Error(`GET /login failed ${loginRec.failures} times`);

    const until = new Date(Date.now() + VALIDITY_MS);
    const logins: PendingLogin[] = started.map((s) => {
      const location = new URL(s.location);
      const SAMLRequest = location.searchParams.get('SAMLRequest') ?? '';
      const RelayState = location.searchParams.get('RelayState') ?? '';
      const request = parseAuthnRequest({ SAMLRequest, RelayState }, 'HTTPRedirect');
      const SAMLResponse = answer(idp, request, { notOnOrAfter: until, confirmationNotOnOrAfter: until });
      return { cookie: s.cookie, payload: new URLSearchParams({ SAMLResponse, RelayState }).toString() };
    });
    const first = logins[0];
    const bytes = first ? Buffer.from(new URLSearchParams(first.payload).get('SAMLResponse') ?? '', 'base64').length : 0;

    let lastError = '';
    const acsRec = new Recorder(async (i) => {
      const l = logins[i] as PendingLogin;
      const res = await server.inject({
        method: 'POST',
        url: ACS_PATH,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: l.cookie },
        payload: l.payload,
      });
      const ok = res.statusCode === 303 && res.headers.location === '/app' && Boolean(cookieValue(res, SESSION));
      if (!ok) lastError = `${res.statusCode} ${res.body.slice(0, 200)}`;
      return ok;
    }, 1);
    // Probe (index 0) before timing: the login must succeed.
    if (!(await acsRec.call(0))) throw new Error(`ACS probe login failed: ${lastError}`);

    // The same request's steps, each on its own, on the same inputs (a second
    // replay cache, so that each response is new to it too).
    const runtime = registry.current().connectors.get('default/demo');
    if (!runtime?.saml) throw new Error('demo connector not ready');
    const saml = runtime.saml;
    const stepReplay = new MemoryReplayCache();
    const form = logins.map((l) => parseForm(l.payload) as { SAMLResponse: string; RelayState: string });
    const stateValue = (l: PendingLogin) => decodeURIComponent(l.cookie.slice(l.cookie.indexOf('=') + 1));
    const pendingOf = logins.map((l) => decodeState(stateValue(l), keys.stateKey, new Date(), { name: STATE }));
    const nullLogger = createLogger('info', new Writable({ write: (_c, _e, cb) => cb() }));
    const steps: { step: string; rec: Recorder }[] = [
      { step: 'form body parse', rec: new Recorder(async (i) => typeof parseForm((logins[i] as PendingLogin).payload).SAMLResponse === 'string', 1) },
      { step: 'state cookie', rec: new Recorder(async (i) => decodeState(stateValue(logins[i] as PendingLogin), keys.stateKey, new Date(), { name: STATE }).length === 1, 1) },
      {
        step: 'validateResponse',
        rec: new Recorder(async (i) => {
          const r = await validateResponse(saml, { samlResponse: (form[i] as { SAMLResponse: string }).SAMLResponse, expectedInResponseTo: pendingOf[i]?.[0]?.rid ?? null, now: new Date(), replay: stepReplay });
          if (!r.ok) lastError = `step validate: ${r.reason}`;
          return r.ok;
        }, 1),
      },
      {
        step: 'session JWT',
        rec: new Recorder(async () => {
          const t = await sessions.issue({ sub: 'alice@example.com', email: 'alice@example.com', groups: ['devs', 'admins'], connector: 'default/demo', saml: { nameID: 'alice@example.com', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: '_session-index' } }, 8 * 3600);
          return t.token.length > 0;
        }, 1),
      },
      {
        step: 'login log line',
        rec: new Recorder(async (i) => {
          nullLogger.info({ correlationId: `req-${i}`, connector: 'default/demo', result: 'success', reason: 'Success', status: 303, durationMs: 1 }, 'login');
          return true;
        }, 1),
      },
    ];
    await runInterleaved([acsRec, ...steps.map((x) => x.rec)], plan);
    return { acs: acsRec.stats(), steps: steps.map((x) => ({ step: x.step, stats: x.rec.stats() })), login: loginRec.stats(), bytes, lastError };
  } finally {
    await controller.stop();
    await app?.close();
  }
}
