// A TCP proxy to the apiserver that a test can cut (every connection dropped
// and new ones refused) and heal, to break an operator's or a store's watches
// while the apiserver itself stays up. Used by kube-store.test.ts and
// cluster-faults.test.ts.

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CuttableProxy {
  /** https://127.0.0.1:PORT: use in place of the apiserver URL (its certificate names 127.0.0.1). */
  url: string;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function cuttableProxy(target: string): Promise<CuttableProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let cutOff = false;
  const server: Server = createServer((client) => {
    if (cutOff) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${address.port}`,
    cut() {
      cutOff = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      cutOff = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
