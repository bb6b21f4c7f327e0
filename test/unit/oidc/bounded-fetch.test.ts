import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedFetch, MAX_PROVIDER_RESPONSE_BYTES } from '../../../src/oidc/bounded-fetch.ts';

const GET = { method: 'GET', body: undefined, headers: {}, redirect: 'manual' } as const;

describe('boundedFetch: what a provider sends is read up to 1 MiB', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
      const declared = req.url?.includes('declared');
      if (declared) res.setHeader('content-length', String(size));
      res.setHeader('content-type', 'application/json');
      // Without Content-Length: chunked, in 64 KiB pieces.
      const piece = Buffer.alloc(65536, 0x20);
      let sent = 0;
      const write = () => {
        while (sent < size) {
          const n = Math.min(piece.length, size - sent);
          sent += n;
          if (!res.write(piece.subarray(0, n))) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('passes an answer up to the limit through whole', async () => {
    const res = await boundedFetch(`${base}/?size=${MAX_PROVIDER_RESPONSE_BYTES}`, GET);
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, MAX_PROVIDER_RESPONSE_BYTES);
  });

  it('refuses a larger answer, declared or streamed, without reading it all', async () => {
    await assert.rejects(boundedFetch(`${base}/declared?size=${64 * 1024 * 1024}`, GET), /is over 1048576 bytes/);
    await assert.rejects(boundedFetch(`${base}/?size=${MAX_PROVIDER_RESPONSE_BYTES + 1}`, GET), /is over 1048576 bytes/);
  });
});
