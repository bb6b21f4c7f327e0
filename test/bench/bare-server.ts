// The floor of the junk figures: a bare fastify app (formbody registered, as
// ours) answering every post with a short 404 before reading its body, on the
// same core and under the same load generator as the operator. Prints its
// port once listening; runs until killed.

import formbody from '@fastify/formbody';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
await app.register(formbody);
app.addHook('onRequest', async (_req, reply) => reply.code(404).header('content-type', 'text/plain').send('not found'));
app.post('/*', async () => '');
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${new URL(address).port}\n`);
