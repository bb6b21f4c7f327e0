// The floor of the oversized-post figure: a bare Node listener (no fastify)
// answering every request with a short 413 and closing the connection,
// without reading the body, on the same core and under the same load
// generator as the operator. Such a post costs a TCP connection each (the
// answer closes it), and this is what one costs Node here. Prints its port
// once listening; runs until killed.

import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  res.writeHead(413, { 'content-type': 'text/plain', connection: 'close', 'content-length': '9' }).end('too large');
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
