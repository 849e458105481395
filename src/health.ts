// /healthz, /readyz and /metrics for the kubelet and Prometheus.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  /** Caches synced and not shutting down. */
  ready(): { ok: boolean; detail: string };
}

export async function startHealthServer(
  port: number,
  host: string,
  checks: HealthChecks,
  registry: Registry,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async (_req, reply) => {
    const r = checks.ready();
    return reply.code(r.ok ? 200 : 503).send(r.detail);
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  await app.listen({ port, host });
  return app;
}
