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
// - any request once the operator began to stop or the app is closing
//   (fastify answers, closing the connection, or 503).
// An unexpected error answers 500 and is logged with the correlation id, as
// the app's error handler does.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { FastifyServerOptions } from 'fastify';
import type { PublicContext } from './context.ts';
import type { Maybe, SessionCheck, VerifyAnswer, VerifyQuery } from './forward-auth-answer.ts';
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

/**
 * The answer as one flat list of header names and values (writeHead's raw
 * form: no header object to build and normalise per request). Answers
 * without identity headers share one list per status.
 */
const BARE: Partial<Record<number, string[]>> = {};
const rawHeaders = new WeakMap<Readonly<Record<string, string>>, string[]>();
function headerList(a: VerifyAnswer): string[] {
  if (!a.headers) return (BARE[a.status] ??= ['cache-control', NO_STORE, 'content-length', '0']);
  // Decisions of verified sessions are frozen and shared (forward-auth-answer.ts): their list is built once.
  const shared = Object.isFrozen(a.headers);
  let list = shared ? rawHeaders.get(a.headers) : undefined;
  if (list === undefined) {
    list = ['cache-control', NO_STORE];
    for (const name in a.headers) list.push(name, a.headers[name]!);
    list.push('content-length', '0');
    if (shared) rawHeaders.set(a.headers, list);
  }
  return list;
}

function send(res: ServerResponse, a: VerifyAnswer): void {
  res.writeHead(a.status, headerList(a)).end();
}

export interface FastPath {
  /** fastify's serverFactory: an HTTP/1 server as fastify would create it, answering /auth/verify first. */
  serverFactory(handler: RequestListener, options: FastifyServerOptions): Server;
  /** Called from the app's onClose/preClose: from then on everything goes to fastify. */
  close(): void;
}

/**
 * A refusal the listener may give a POST before fastify sees it (the
 * route's own answer, byte for byte): false to leave the request to fastify
 * at once; true when it took the request, which it then answers or hands on
 * to fastify later with `next` (after reading the body, say). `closing`
 * says whether the app began to close since (then fastify must answer).
 */
export type EarlyRefusal = (req: IncomingMessage, res: ServerResponse, next: () => void, closing: () => boolean) => boolean;

export function forwardAuthFastPath(ctx: PublicContext, check: SessionCheck, postRefusal?: EarlyRefusal): FastPath {
  let closed = false;
  const stopping = ctx.stopping;
  const isClosing = stopping === undefined ? () => closed : () => closed || stopping();

  function answer(req: IncomingMessage, res: ServerResponse, query: VerifyQuery): void {
    const id = newCorrelationId();
    const failed = (err: Error) => {
      ctx.logger.error({ correlationId: id, url: PATH, err: err.message }, 'unhandled error');
      res.writeHead(500, ['content-length', '0']).end();
    };
    let a: Maybe<VerifyAnswer>;
    try {
      a = check.verifyAnswerNow(req.headers.cookie, query, id);
    } catch (err) {
      return failed(err as Error);
    }
    if (a instanceof Promise) a.then((v) => send(res, v), failed);
    else send(res, a);
  }

  return {
    serverFactory(handler, options) {
      // A request timeout (public-app.ts, REQUEST_TIMEOUT_MS) covers the
      // headers too; Node checks it, and the headers' own limit, every
      // quarter of it (at most every 30 s, Node's default).
      const requestTimeout = options.requestTimeout ?? 0;
      const timing =
        requestTimeout > 0
          ? { requestTimeout, headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 4))) }
          : { requestTimeout: 0, headersTimeout: 60_000 };
      const server = createServer(timing, (req, res) => {
        const closing = isClosing();
        if (postRefusal !== undefined && !closing && req.method === 'POST') {
          // Outside fastify's error handling: an unexpected error leaves the
          // request to fastify (which answers it as the route would) unless
          // an answer was already started.
          try {
            if (postRefusal(req, res, () => handler(req, res), isClosing)) return;
          } catch (err) {
            ctx.logger.error({ err: (err as Error).message }, 'early refusal failed');
            if (res.headersSent) return void res.destroy();
          }
        }
        const query = !closing && req.method === 'GET' && req.url !== undefined ? plainQuery(req.url) : undefined;
        if (query === undefined) return handler(req, res);
        answer(req, res, query);
      });
      // What fastify sets on the HTTP/1 server it creates itself (lib/server.js).
      if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
      if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
      if (options.maxRequestsPerSocket !== undefined && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
      return server;
    },
    close() {
      closed = true;
    },
  };
}
