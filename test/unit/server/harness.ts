// A public and an admin app wired to a real controller, registry and memory
// store, fed with admitted manifests; plus the login steps a browser and an
// IdP would take (inject only, no sockets).

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { admit } from '../../../src/api/index.ts';
import { connectorURLs } from '../../../src/controller/compile-connector.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { Registry } from '../../../src/controller/registry.ts';
import { MemoryStatusSink } from '../../../src/controller/status-sink.ts';
import { StatusWriter } from '../../../src/controller/status-writer.ts';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { parseAuthnRequest, type ParsedAuthnRequest, type ResponseOptions } from '../../../src/demo-idp/saml-idp.ts';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.ts';
import { createLogger } from '../../../src/operator.ts';
import { MemoryReplayCache } from '../../../src/saml/replay-cache.ts';
import { buildAdminApp } from '../../../src/server/admin-app.ts';
import { buildPublicApp } from '../../../src/server/public-app.ts';
import { generateKeySet, type SessionKeySet } from '../../../src/session/keys.ts';
import { AccessTokenBroker, MemoryTokenVault } from '../../../src/session/access-tokens.ts';
import { MemoryRevocationList, type RevocationList } from '../../../src/session/revocation.ts';
import { SessionTokens } from '../../../src/session/tokens.ts';
import type { MemoryObject } from '../../../src/store/memory-store.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import type { Kind } from '../../../src/store/types.ts';
import { makeResponse, signingIdentity } from '../../support/saml-fixtures.ts';

export const SESSION = 'sso_session';
/** The state cookie of the default (https) public URL. */
export const STATE = '__Host-sso_state';
/** The state cookie on a loopback http public URL, and its old name on https. */
export const PLAIN_STATE = 'sso_state';

export interface HarnessOptions {
  publicURL?: string;
  cookieDomain?: string;
  allowedRedirectHosts?: string[];
  /** Manifests applied before the apps answer. */
  objects?: Record<string, unknown>[];
  /** Replay cache of the app (default: a fresh MemoryReplayCache). */
  replay?: import('../../../src/saml/types.ts').ReplayCache;
  /** Revocation list of the app (default: a fresh MemoryRevocationList). */
  revocations?: RevocationList;
  /** Provider-token broker (default: one over a fresh MemoryTokenVault). */
  accessTokens?: AccessTokenBroker;
  /** Where access requests go (default: none, as without the feature). */
  accessRequests?: import('../../../src/access/requests.ts').AccessRequestStore;
  /** --trust-proxy (default off). */
  trustProxy?: boolean;
  /** --rate-limit-per-address / --rate-limit-per-connector (default: none). */
  rateLimit?: import('../../../src/server/rate-limit.ts').RateLimitConfig;
  /** The app's clock (default: the real one). */
  now?: () => Date;
  /** How long a client may take to send a request (ServerConfig.requestTimeoutMs; default the app's). */
  requestTimeoutMs?: number;
  /** Whether the operator began to stop (PublicContext.stopping; default: never). */
  stopping?: () => boolean;
}

export interface Harness {
  app: FastifyInstance;
  admin: FastifyInstance;
  registry: Registry;
  store: MemoryStore;
  metrics: Metrics;
  keys: SessionKeySet;
  /** Replaces the live session key set (a rotation, a reloaded Secret). */
  setKeys(set: SessionKeySet): void;
  idp: SigningIdentity;
  publicURL: string;
  /** Admits each manifest (failing the test on a refusal), stores it and waits for the controller. */
  apply(...objects: Record<string, unknown>[]): Promise<void>;
  remove(kind: Kind, namespace: string, name: string): Promise<void>;
  /** Every log line so far, raw. */
  logText(): string;
  logLines(): Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const idp = await signingIdentity('idp');
  const publicURL = o.publicURL ?? 'https://sp.example.test';
  let raw = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  const logger = createLogger('debug', sink);
  const metrics = createMetrics({ defaultMetrics: false });
  const registry = new Registry();
  const store = new MemoryStore();
  const controller = new Controller({ store, registry, status: new StatusWriter({ target: new MemoryStatusSink(), logger }), metrics, logger, publicURL });
  await controller.start();
  let keys = generateKeySet();
  const app = await buildPublicApp({
    registry,
    sessions: new SessionTokens(() => keys, publicURL),
    stateKey: () => keys.stateKey,
    replay: o.replay ?? new MemoryReplayCache(),
    revocations: o.revocations ?? new MemoryRevocationList(),
    accessTokens: o.accessTokens ?? new AccessTokenBroker(new MemoryTokenVault()),
    ...(o.accessRequests ? { accessRequests: o.accessRequests } : {}),
    metrics,
    logger,
    ...(o.now ? { now: o.now } : {}),
    ...(o.stopping ? { stopping: o.stopping } : {}),
    config: {
      publicURL,
      ...(o.cookieDomain ? { cookieDomain: o.cookieDomain } : {}),
      allowedRedirectHosts: o.allowedRedirectHosts ?? [],
      trustProxy: o.trustProxy ?? false,
      ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
      ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    },
  });
  const admin = await buildAdminApp({ metrics, ready: () => true, status: () => ({}) });

  const apply = async (...objects: Record<string, unknown>[]) => {
    for (const doc of objects) {
      const admitted = admit(doc);
      if (!admitted.ok) assert.fail(`manifest refused: ${JSON.stringify(admitted.errors)}`);
      store.upsert(admitted.object as unknown as MemoryObject);
    }
    await controller.idle();
  };
  await apply(...(o.objects ?? []));

  return {
    app,
    admin,
    registry,
    store,
    metrics,
    get keys() {
      return keys;
    },
    setKeys(set) {
      keys = set;
    },
    idp,
    publicURL,
    apply,
    async remove(kind, namespace, name) {
      store.delete(kind, namespace, name);
      await controller.idle();
    },
    logText: () => raw,
    logLines: () => raw.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>),
    async close() {
      await controller.stop();
      await Promise.all([app.close(), admin.close()]);
    },
  };
}

// --- cookies -------------------------------------------------------------

export function setCookies(res: LightMyRequestResponse): string[] {
  const h = res.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [String(h)];
}

/** The full Set-Cookie line for `name`, if set. */
export function setCookieLine(res: LightMyRequestResponse, name: string): string | undefined {
  return setCookies(res).find((c) => c.startsWith(`${name}=`));
}

export function cookieValue(res: LightMyRequestResponse, name: string): string | undefined {
  const line = setCookieLine(res, name);
  return line === undefined ? undefined : line.slice(name.length + 1).split(';')[0];
}

/** Attributes of a Set-Cookie line, lower-cased names: `{ httponly: '', samesite: 'Lax', ... }`. */
export function cookieAttributes(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split(';').slice(1)) {
    const [k, ...v] = part.trim().split('=');
    out[(k ?? '').toLowerCase()] = v.join('=');
  }
  return out;
}

/** A refused request: the status, the reason code on the page, and no session cookie. */
export function assertRefused(res: LightMyRequestResponse, status: number, reason: string): void {
  assert.equal(res.statusCode, status, `expected ${status} ${reason}, got ${res.statusCode}: ${res.body.slice(0, 400)}`);
  assert.ok(res.body.includes(`<code>${reason}</code>`), `page should name reason ${reason}: ${res.body.slice(0, 600)}`);
  assert.equal(setCookieLine(res, SESSION), undefined, 'no session cookie on a refusal');
}

// --- the login steps -----------------------------------------------------

export interface StartedLogin {
  res: LightMyRequestResponse;
  request: ParsedAuthnRequest;
  /** The opaque state id that travels through the IdP (RelayState or ?s=). */
  relayState: string | undefined;
  /** State cookie value to send back. */
  state: string;
  /** The name it was set under: STATE (https), PLAIN_STATE (http loopback). */
  stateName: string;
}

/** GET the login route and read the AuthnRequest back, whatever the binding. */
export async function startLogin(app: FastifyInstance, url: string, cookie?: string): Promise<StartedLogin> {
  const res = await app.inject({ method: 'GET', url, ...(cookie ? { headers: { cookie } } : {}) });
  const stateName = setCookieLine(res, STATE) !== undefined ? STATE : PLAIN_STATE;
  const state = cookieValue(res, stateName);
  assert.ok(state, `login should set ${STATE} (https) or ${PLAIN_STATE} (http): ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (res.statusCode === 302) {
    const location = new URL(String(res.headers.location));
    const SAMLRequest = location.searchParams.get('SAMLRequest') ?? undefined;
    const RelayState = location.searchParams.get('RelayState') ?? undefined;
    const request = parseAuthnRequest({ ...(SAMLRequest ? { SAMLRequest } : {}), ...(RelayState ? { RelayState } : {}) }, 'HTTPRedirect');
    return { res, request, relayState: RelayState, state, stateName };
  }
  assert.equal(res.statusCode, 200, 'HTTP-POST binding answers an auto-submit page');
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(res.body)?.[1];
  const SAMLRequest = field('SAMLRequest');
  const RelayState = field('RelayState');
  const request = parseAuthnRequest({ ...(SAMLRequest ? { SAMLRequest } : {}), ...(RelayState ? { RelayState } : {}) }, 'HTTPPost');
  return { res, request, relayState: RelayState, state, stateName };
}

/** A signed response answering `request` (audience, destination, recipient and InResponseTo taken from it). */
export function answer(idp: SigningIdentity, request: ParsedAuthnRequest, overrides: Partial<ResponseOptions> = {}): string {
  return makeResponse(idp, {
    audience: request.issuer,
    destination: request.acsURL ?? null,
    recipient: request.acsURL ?? null,
    inResponseTo: request.id,
    ...overrides,
  });
}

/** A signed unsolicited (IdP-initiated) response for connector `ns/name`. */
export function unsolicited(h: Harness, namespace: string, name: string, overrides: Partial<ResponseOptions> = {}): string {
  const urls = connectorURLs(h.publicURL, namespace, name);
  return makeResponse(h.idp, { audience: urls.metadataURL, destination: urls.acsURL, recipient: urls.acsURL, inResponseTo: null, ...overrides });
}

export async function postAcs(
  app: FastifyInstance,
  url: string,
  fields: Record<string, string | undefined>,
  state?: string,
  /** The state cookie's name: STATE unless the app's public URL is http. */
  stateName: string = STATE,
): Promise<LightMyRequestResponse> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) form.set(k, v);
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(state ? { cookie: `${stateName}=${state}` } : {}) },
    payload: form.toString(),
  });
}

/** Login + ACS for `connector` (default default/demo): the ACS response. */
export async function signIn(
  h: Harness,
  opts: { connector?: string; rd?: string; response?: Partial<ResponseOptions> } = {},
): Promise<{ acs: LightMyRequestResponse; login: StartedLogin; samlResponse: string }> {
  const path = `/saml/${opts.connector ?? 'default/demo'}`;
  const login = await startLogin(h.app, `${path}/login?rd=${encodeURIComponent(opts.rd ?? '/app')}`);
  const samlResponse = answer(h.idp, login.request, opts.response);
  const acs = await postAcs(h.app, `${path}/acs`, { SAMLResponse: samlResponse, RelayState: login.relayState }, login.state, login.stateName);
  return { acs, login, samlResponse };
}

export function sessionCookieHeader(res: LightMyRequestResponse): string {
  const token = cookieValue(res, SESSION);
  assert.ok(token, 'a session cookie was set');
  return `${SESSION}=${token}`;
}

/** The payload of a JWT, unverified (to read exp/iat in assertions). */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
