// A TCP proxy in the test process for the firmware end-to-end tests: it relays each accepted
// connection to one upstream address and can cut every connection at once, or the first time a
// given number of bytes has gone downstream (upstream → client), as a NAT or a radio link that
// drops a long transfer halfway. Both sides see the connection close (a reset, not a FIN).
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections cut by dropAll() or dropAfter(). */
  readonly dropped: number;
  /** Bytes relayed from upstream to clients, all connections. */
  readonly downstreamBytes: number;
  /** Cuts every open connection now. */
  dropAll(): number;
  /** Cuts every open connection once `bytes` more have gone downstream (one shot); resolves then. */
  dropAfter(bytes: number): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export async function startTcpProxy(upstream: { address: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let accepted = 0;
  let dropped = 0;
  let downstream = 0;
  let trigger: { at: number; fire: () => void } | undefined;

  const cut = (pair: Pair): void => {
    if (!pairs.delete(pair)) return;
    dropped++;
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  };
  const dropAll = (): number => {
    const n = pairs.size;
    for (const pair of [...pairs]) cut(pair);
    return n;
  };

  const server = net.createServer({ noDelay: true }, (client) => {
    accepted++;
    const up = net.connect({ host: upstream.address, port: upstream.port, noDelay: true });
    const pair: Pair = { client, upstream: up };
    pairs.add(pair);
    const end = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      if (!up.write(chunk)) client.pause();
    });
    up.on('drain', () => client.resume());
    up.on('data', (chunk: Buffer) => {
      downstream += chunk.length;
      if (!client.write(chunk)) up.pause();
      if (trigger && downstream >= trigger.at) {
        const t = trigger;
        trigger = undefined;
        // After this chunk went out: the client got part of the transfer.
        setImmediate(() => {
          dropAll();
          t.fire();
        });
      }
    });
    client.on('drain', () => up.resume());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    get dropped() {
      return dropped;
    },
    get downstreamBytes() {
      return downstream;
    },
    dropAll,
    dropAfter: (bytes) =>
      new Promise<void>((resolve) => {
        trigger = { at: downstream + bytes, fire: resolve };
      }),
    close: async () => {
      trigger = undefined;
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
