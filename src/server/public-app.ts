// The public listener: SAML endpoints, session handoff, the landing page.

import { randomBytes } from 'node:crypto';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { accessKey } from '../session/revocation.ts';
import type { PublicContext } from './context.ts';
import { sendError } from './html.ts';
import { authRoutes } from './routes/auth.ts';
import { homeRoutes } from './routes/home.ts';
import { samlRoutes } from './routes/saml.ts';

export interface PublicAppOptions {
  /** Extra route plugins (the development demo IdP). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
  homeLinks?: { href: string; text: string }[];
}

/** Longest a session can live when its connector is gone (it no longer verifies anyway; this covers a re-created one). */
const ENDED_ACCESS_FALLBACK_SECONDS = 7 * 24 * 3600;

/**
 * When a user's last Active binding for a connector goes (deleted, denied,
 * pending again, connector dropped from its list), every session they hold
 * through that connector is revoked as of now: without this, re-creating or
 * re-approving the binding later would bring old, possibly stolen, sessions
 * back to life until they expire. Each replica records it as its own
 * controller sees the change (so it holds without Redis too); with Redis the
 * entry is shared. A failure is logged: the sessions still fail while the
 * binding stays inactive.
 */
function revokeEndedAccess(app: FastifyInstance, ctx: PublicContext): void {
  const off = ctx.registry.onAccessEnded?.((ended) => {
    const now = Math.floor((ctx.now?.() ?? new Date()).getTime() / 1000);
    const connectors = ctx.registry.current().connectors;
    for (const e of ended) {
      const ttl = connectors.get(e.connector)?.sessionTtlSeconds ?? ENDED_ACCESS_FALLBACK_SECONDS;
      ctx.revocations.revokeIssuedBefore(accessKey(e.connector, e.userKey), now, now + ttl).catch((err: unknown) => {
        ctx.logger.error({ connector: e.connector, err: (err as Error).message }, 'could not record that a binding ended; its sessions come back if it is re-created before they expire');
      });
    }
  });
  if (off) app.addHook('onClose', async () => void off());
}

export async function buildPublicApp(ctx: PublicContext, options: PublicAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    trustProxy: ctx.config.trustProxy,
    genReqId: () => randomBytes(8).toString('hex'),
    // Query strings and bodies are bounded: a login URL needs little, the ACS sets its own limit.
    routerOptions: { maxParamLength: 256 },
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });
  await app.register(formbody, { bodyLimit: 64 * 1024 });

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) return sendError(reply, 413, 'RequestTooLarge', req.id);
    if (status === 415) return sendError(reply, 415, 'UnsupportedMediaType', req.id);
    if (status >= 400 && status < 500) return sendError(reply, 400, 'MalformedRequest', req.id);
    // Never echo internal errors; log them with the correlation id.
    ctx.logger.error({ correlationId: req.id, url: req.routeOptions.url, err: err.message }, 'unhandled error');
    return sendError(reply, 500, 'InternalError', req.id, 'Something went wrong on our side.');
  });
  // Every query parameter of ours is single-valued. A repeated one (`?rd=/a&rd=//evil`,
  // `?groups=a&groups=b`) is refused outright rather than letting a handler see an
  // array where it expects a string and skip a check.
  app.addHook('onRequest', async (req, reply) => {
    const query = req.query as Record<string, unknown> | undefined;
    if (query && Object.values(query).some((v) => Array.isArray(v))) {
      return sendError(reply, 400, 'MalformedRequest', req.id, 'A query parameter was given more than once.');
    }
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'NotFound', req.id, 'There is nothing at this address.'));

  revokeEndedAccess(app, ctx);
  await homeRoutes(app, ctx, options.homeLinks);
  await samlRoutes(app, ctx);
  await authRoutes(app, ctx);
  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
