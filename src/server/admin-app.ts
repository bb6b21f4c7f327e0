// The admin listener: metrics, probes and status. It holds no secret
// material: certificates appear by fingerprint, never keys or tokens.

import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics/metrics.ts';

export interface AdminContext {
  metrics: Metrics;
  /** Alive: the event loop answers. */
  healthy?: () => boolean;
  /** Ready: caches synced and the first reconcile done. */
  ready: () => boolean;
  status: () => unknown;
}

export async function buildAdminApp(ctx: AdminContext): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  app.get('/healthz', async (_req, reply) => {
    const ok = ctx.healthy?.() ?? true;
    return reply.code(ok ? 200 : 503).send(ok ? 'ok\n' : 'unhealthy\n');
  });
  app.get('/readyz', async (_req, reply) => {
    const ok = ctx.ready();
    return reply.code(ok ? 200 : 503).send(ok ? 'ok\n' : 'not ready\n');
  });
  app.get('/admin/status', async (_req, reply) => reply.header('cache-control', 'no-store').send(ctx.status()));
  return app;
}
