import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';

/**
 * An MQTT 3.1.1 broker in the process (aedes over a plain TCP server), for `petrel server --mqtt
 * embedded`, demos and tests. Anonymous, no TLS, no persistence: meant for loopback and trusted
 * networks, bounded by `maxClients` connections.
 */

export interface EmbeddedBrokerOptions {
  /** Listen address (default 127.0.0.1). */
  readonly address?: string;
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Connections beyond this are closed at once (default 1000). */
  readonly maxClients?: number;
}

export interface EmbeddedBroker {
  /** `mqtt://address:port`. */
  readonly url: string;
  readonly port: number;
  readonly address: string;
  /** Disconnects every client and stops listening. Idempotent. */
  close(): Promise<void>;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const address = options.address ?? '127.0.0.1';
  const maxClients = options.maxClients ?? 1000;
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    if (sockets.size >= maxClients) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    // Small request/answer packets: Nagle plus delayed ACKs would add ~40 ms to each.
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = address.includes(':') ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    address,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await stopped;
      })()),
  };
}
