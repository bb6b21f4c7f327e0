// The public listener: SAML endpoints, session handoff, the landing page.

import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import type { PublicContext } from './context.ts';
import { sendError } from './html.ts';
import { newCorrelationId } from './request-id.ts';
import { sessionCheck } from './forward-auth-answer.ts';
import { parseForm } from './form-body.ts';
import { forwardAuthFastPath } from './forward-auth-fast-path.ts';
import { accessRoutes } from './access-pages.ts';
import { authRoutes } from './routes/auth.ts';
import { homeRoutes } from './routes/home.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { acsEarlyRefusal, samlRoutes } from './routes/saml.ts';
import { RateLimiter } from './rate-limit.ts';

export interface PublicAppOptions {
  /** Extra route plugins (the development demo IdP). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
  homeLinks?: { href: string; text: string }[];
}

/**
 * How long a client may take to send a whole request, headers and body,
 * before it gets 408 and its connection closes. fastify switches Node's
 * limit off (requestTimeout 0), and then a client that sends most of a
 * body and stalls (a slow-body flood) holds its connection and what was
 * buffered of the body for as long as it likes; the ACS buffers up to
 * about 1 MiB per post. A browser's SAML post is a few to a few hundred
 * KiB, sent in well under this even on a slow link. Node enforces it on a
 * timer (connectionsCheckingInterval below), so a request may last up to a
 * quarter longer.
 */
export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * What a connection gets when Node refuses its request before any route
 * sees it (a request timeout, headers too large, a request line that is no
 * HTTP): a status with a reason code, as every other refusal has, then the
 * connection closes. fastify's own answer named no reason code. Nothing of
 * the request is echoed.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'RequestTimeout', 'The request was not received in time.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HeadersTooLarge', 'The request headers are too large.']
        : [400, 'MalformedRequest', 'The request could not be read.'];
  const body = JSON.stringify({ status, reason, message });
  // Not in the middle of an answer already begun on this connection (Node's own rule): a second status line would corrupt it.
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && answering?.headersSent !== true) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncache-control: no-store\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `x-content-type-options: nosniff\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export async function buildPublicApp(ctx: PublicContext, options: PublicAppOptions = {}): Promise<FastifyInstance> {
  const limits = ctx.config.rateLimit;
  if (limits?.perAddress || limits?.perConnector) {
    const now = ctx.now;
    ctx = { ...ctx, rateLimiter: new RateLimiter(limits, ctx.config.trustProxy, now ? () => now().getTime() : Date.now) };
  }
  const check = sessionCheck(ctx);
  const fastPath = forwardAuthFastPath(ctx, check, acsEarlyRefusal(ctx));
  const app = Fastify({
    serverFactory: fastPath.serverFactory,
    logger: false,
    // One hop: the proxy in front of us (our ingress). X-Forwarded-For entries
    // left of the one it appended came from the client; req.ip is that entry,
    // as rate-limit.ts's clientAddress.
    trustProxy: ctx.config.trustProxy ? (_address: string, hop: number) => hop === 0 : false,
    genReqId: newCorrelationId,
    // Query strings and bodies are bounded: a login URL needs little, the ACS sets its own limit.
    routerOptions: { maxParamLength: 256 },
    bodyLimit: 64 * 1024,
    requestTimeout: ctx.config.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    clientErrorHandler: answerClientError,
    return503OnClosing: true,
  });
  await app.register(formbody, { bodyLimit: 64 * 1024, parser: parseForm });
  app.addHook('preClose', async () => fastPath.close());

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
  // (A callback hook, not an async one: it runs on every request, and a promise per request costs more than the check.)
  app.addHook('onRequest', (req, reply, done) => {
    const query = req.query as Record<string, unknown> | undefined;
    if (query && Object.values(query).some((v) => Array.isArray(v))) {
      sendError(reply, 400, 'MalformedRequest', req.id, 'A query parameter was given more than once.');
      return;
    }
    done();
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'NotFound', req.id, 'There is nothing at this address.'));

  await homeRoutes(app, ctx, options.homeLinks);
  await samlRoutes(app, ctx);
  await oidcRoutes(app, ctx);
  await authRoutes(app, ctx, check);
  await accessRoutes(app, ctx);
  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
