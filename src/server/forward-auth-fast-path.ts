// The public listener answers the common `GET /auth/verify` itself, before
// fastify routes the request. /auth/verify is called once for every request
// to every protected application; fastify's routing, hooks and reply
// machinery cost more per request than the whole check does once the token
// verification is cached (measured on one core: a bare fastify route answers
// about 31,000 requests/s; oauth2-proxy's /oauth2/auth about 12,500/s).
//
// The answer itself comes from the same function the fastify route calls
// (src/server/forward-auth-answer.ts). Everything this path cannot answer
// exactly as fastify would goes on to fastify unchanged:
// - any other method or path (HEAD, POST, /auth/verify/x, /auth/verifyx);
// - a query string with characters outside [A-Za-z0-9,=&/*._-] (percent
//   escapes, `+`, ...), or a parameter given twice (fastify answers 400
//   MalformedRequest): for the rest fastify's query parser and
//   URLSearchParams read the same values;
// - any request once the app is closing (fastify answers 503).
// An unexpected error answers 500 and is logged with the correlation id, as
// the app's error handler does.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { FastifyServerOptions } from 'fastify';
import type { PublicContext } from './context.ts';
import type { SessionCheck, VerifyQuery } from './forward-auth-answer.ts';
import { newCorrelationId } from './request-id.ts';

const PATH = '/auth/verify';
const PLAIN_QUERY = /^[A-Za-z0-9,=&/*._-]*$/;
const NO_STORE = 'no-store';

/** The query of a request this path may answer, or undefined to leave it to fastify. */
export function plainQuery(url: string): VerifyQuery | undefined {
  if (!url.startsWith(PATH)) return undefined;
  if (url.length === PATH.length) return {};
  if (url.charCodeAt(PATH.length) !== 0x3f /* ? */) return undefined;
  const search = url.slice(PATH.length + 1);
  if (!PLAIN_QUERY.test(search)) return undefined;
  // Prototype-less: a parameter named __proto__ is a key like any other.
  const query = Object.create(null) as Record<string, string>;
  for (const [k, v] of new URLSearchParams(search)) {
    if (Object.hasOwn(query, k)) return undefined;
    query[k] = v;
  }
  return query;
}

export interface FastPath {
  /** fastify's serverFactory: an HTTP/1 server as fastify would create it, answering /auth/verify first. */
  serverFactory(handler: RequestListener, options: FastifyServerOptions): Server;
  /** Called from the app's onClose/preClose: from then on everything goes to fastify. */
  close(): void;
}

export function forwardAuthFastPath(ctx: PublicContext, check: SessionCheck): FastPath {
  let closing = false;

  function answer(req: IncomingMessage, res: ServerResponse, query: VerifyQuery): void {
    const id = newCorrelationId();
    check
      .verifyAnswer(req.headers.cookie, query, id)
      .then(
        (a) => {
          res.statusCode = a.status;
          res.setHeader('cache-control', NO_STORE);
          if (a.headers) for (const name in a.headers) res.setHeader(name, a.headers[name]!);
          res.setHeader('content-length', '0');
          res.end();
        },
        (err: Error) => {
          ctx.logger.error({ correlationId: id, url: PATH, err: err.message }, 'unhandled error');
          res.statusCode = 500;
          res.setHeader('content-length', '0');
          res.end();
        },
      );
  }

  return {
    serverFactory(handler, options) {
      const server = createServer((req, res) => {
        const query = !closing && req.method === 'GET' && req.url !== undefined ? plainQuery(req.url) : undefined;
        if (query === undefined) return handler(req, res);
        answer(req, res, query);
      });
      // What fastify sets on the HTTP/1 server it creates itself (lib/server.js).
      if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
      if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
      if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
      if (options.maxRequestsPerSocket !== undefined && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
      return server;
    },
    close() {
      closing = true;
    },
  };
}
