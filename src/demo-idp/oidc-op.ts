// A development-only OpenID Provider in the operator's own process, beside
// the demo SAML IdP, when --demo-idp is given: `oidc-provider` (a certified
// OP) mounted under /demo-op, so the OIDC example connector works with no
// other software. One client, `demo`, whose secret is generated at start and
// published as the Secret default/demo-op-client (an overlay object of the
// store, as the demo IdP's certificate is). Users and passwords are those of
// the demo IdP (the demo-idp-users ConfigMap). Never for production.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, sendPage } from '../server/html.ts';
import type { StoredObject } from '../store/types.ts';
import { exportJWK, generateKeyPair } from 'jose';
import { parseDemoUsers, type DemoUser } from './app.ts';

/**
 * oidc-provider's storage (sessions, codes, grants), in this process's
 * memory: the demo keeps nothing across restarts. Entries expire as
 * oidc-provider asks; at most 10,000 are kept.
 */
class MemoryAdapter {
  static readonly #store = new Map<string, { payload: Record<string, unknown>; expires: number }>();
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  #key(id: string): string {
    return `${this.#name}:${id}`;
  }

  #get(key: string): Record<string, unknown> | undefined {
    const e = MemoryAdapter.#store.get(key);
    if (!e) return undefined;
    if (e.expires < Date.now()) {
      MemoryAdapter.#store.delete(key);
      return undefined;
    }
    return e.payload;
  }

  async upsert(id: string, payload: Record<string, unknown>, expiresIn: number): Promise<void> {
    const store = MemoryAdapter.#store;
    if (store.size >= 10_000) store.delete(store.keys().next().value!);
    store.set(this.#key(id), { payload, expires: Date.now() + expiresIn * 1000 });
    if (typeof payload.grantId === 'string') {
      const list = (this.#get(`grant:${payload.grantId}`)?.keys as string[] | undefined) ?? [];
      store.set(`grant:${payload.grantId}`, { payload: { keys: [...list, this.#key(id)] }, expires: Date.now() + expiresIn * 1000 });
    }
    if (typeof payload.uid === 'string') store.set(`uid:${payload.uid}`, { payload: { id }, expires: Date.now() + expiresIn * 1000 });
    if (typeof payload.userCode === 'string') store.set(`userCode:${payload.userCode}`, { payload: { id }, expires: Date.now() + expiresIn * 1000 });
  }

  async find(id: string): Promise<Record<string, unknown> | undefined> {
    return this.#get(this.#key(id));
  }

  async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
    const ref = this.#get(`uid:${uid}`);
    return typeof ref?.id === 'string' ? this.find(ref.id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
    const ref = this.#get(`userCode:${userCode}`);
    return typeof ref?.id === 'string' ? this.find(ref.id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const p = this.#get(this.#key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    MemoryAdapter.#store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of (this.#get(`grant:${grantId}`)?.keys as string[] | undefined) ?? []) MemoryAdapter.#store.delete(key);
    MemoryAdapter.#store.delete(`grant:${grantId}`);
  }
}

export const DEMO_OP_PATH = '/demo-op';
export const DEMO_OP_CLIENT_ID = 'demo';

export interface DemoOpOptions {
  publicURL: string;
  logger: Logger;
  users: () => string | undefined;
}

export interface DemoOp {
  issuer: string;
  overlay: StoredObject[];
  plugin: (app: FastifyInstance) => Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function createDemoOp(opts: DemoOpOptions): Promise<DemoOp> {
  const issuer = `${opts.publicURL}${DEMO_OP_PATH}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const connectorBase = `${opts.publicURL}/oidc/default/demo-oidc`;
  const findUser = (username: string): DemoUser | undefined => {
    try {
      return parseDemoUsers(opts.users()).find((u) => u.username === username);
    } catch {
      return undefined;
    }
  };
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'demo-op-1', alg: 'RS256', use: 'sig' }] },
    clients: [
      {
        client_id: DEMO_OP_CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [`${connectorBase}/callback`],
        post_logout_redirect_uris: [`${connectorBase}/logged-out`],
        backchannel_logout_uri: `${connectorBase}/backchannel-logout`,
        backchannel_logout_session_required: true,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false }, backchannelLogout: { enabled: true } },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `${DEMO_OP_PATH}/interaction/${interaction.uid}` },
    // The demo client is first-party: no consent screen.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const session = ctx.oidc.session;
      const client = ctx.oidc.client;
      if (!session?.accountId || !client) return undefined;
      const existing = session.grantIdFor(client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    findAccount: (_ctx: KoaContextWithOIDC, sub: string) => {
      const user = findUser(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        claims: () => ({ sub, email: user.email, email_verified: true, name: user.attributes?.displayName?.[0] ?? user.username }),
      };
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    renderError: async (ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Demo OP</title><h1>Demo OP</h1><p>${escapeHtml(out.error ?? 'error')}: ${escapeHtml(out.error_description ?? '')}</p>`;
    },
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => opts.logger.warn({ err: err.message }, 'demo OP error'));
  const callback = provider.callback();

  const overlay: StoredObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-op-client', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'sso-operator-demo-idp' } },
      type: 'Opaque',
      data: { 'client-secret': Buffer.from(clientSecret).toString('base64') },
    },
  ];

  /** Hands the raw request to oidc-provider, with the mount path taken off as express would. */
  function forward(req: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    const raw = req.raw as IncomingMessage & { originalUrl?: string };
    raw.originalUrl = raw.url;
    raw.url = (raw.url ?? '/').slice(DEMO_OP_PATH.length) || '/';
    callback(raw, reply.raw as ServerResponse);
  }

  function loginForm(uid: string, error?: string): string {
    return `<h1>Demo OpenID Provider</h1><p class="muted">Development only.</p>` +
      (error ? `<p><strong>${escapeHtml(error)}</strong></p>` : '') +
      `<form method="post" action="${DEMO_OP_PATH}/interaction/${escapeHtml(uid)}/login">` +
      `<p><label>Username<br><input name="username" autocomplete="username" autofocus></label></p>` +
      `<p><label>Password<br><input name="password" type="password" autocomplete="current-password"></label></p>` +
      `<p><button type="submit">Sign in</button></p></form><p class="muted">Users are in <code>examples/demo-idp-users.yaml</code> (try demo / demo).</p>`;
  }

  async function plugin(app: FastifyInstance): Promise<void> {
    await app.register(async (child) => {
      // oidc-provider reads request bodies itself: nothing is parsed here.
      child.removeAllContentTypeParsers();
      child.addContentTypeParser('*', (_req, _payload, done) => done(null));
      child.all(`${DEMO_OP_PATH}/*`, async (req, reply) => forward(req, reply));
      child.all(DEMO_OP_PATH, async (req, reply) => forward(req, reply));
    });
    // The sign-in form, on the operator's own pages (style, CSP); outside the
    // child context, so the app's form parser reads the login body.
    app.get<{ Params: { uid: string } }>(`${DEMO_OP_PATH}/interaction/:uid`, async (req, reply) => {
      try {
        const details = await provider.interactionDetails(req.raw, reply.raw);
        return sendPage(reply, 200, 'Demo OP sign-in', loginForm(details.uid));
      } catch (err) {
        return sendPage(reply, 400, 'Demo OP', `<h1>No such sign-in</h1><p>${escapeHtml((err as Error).message)}</p>`);
      }
    });
    app.post<{ Params: { uid: string }; Body: Record<string, unknown> | undefined }>(`${DEMO_OP_PATH}/interaction/:uid/login`, async (req, reply) => {
      const field = (k: string) => (typeof req.body?.[k] === 'string' ? (req.body[k] as string) : '');
      const user = findUser(field('username'));
      try {
        if (!user || !sameSecret(user.password, field('password'))) {
          const details = await provider.interactionDetails(req.raw, reply.raw);
          return sendPage(reply, 200, 'Demo OP sign-in', loginForm(details.uid, 'Wrong username or password.'));
        }
        // oidc-provider answers with the redirect back to the authorization flow itself.
        reply.hijack();
        await provider.interactionFinished(req.raw, reply.raw, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
      } catch (err) {
        if (reply.sent) {
          // Hijacked: oidc-provider failed before it answered.
          if (!reply.raw.headersSent) reply.raw.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('sign-in failed');
          return;
        }
        return sendPage(reply, 400, 'Demo OP', `<h1>Sign-in failed</h1><p>${escapeHtml((err as Error).message)}</p>`);
      }
    });
  }

  return { issuer, overlay, plugin };
}
