// A UDP proxy in its own process that loses, duplicates, delays and so reorders datagrams both
// ways between clients and one upstream server, like a bad cellular link. Each client address
// gets its own upstream socket, so the server sees one peer per client. Seeded: a failing run
// can be replayed. Used by the network-fault tests (test/soak/lossy-network.test.ts).
//
//   const proxy = await startFaultProxy({ upstream: { address, port }, drop: 0.3, ... });
//   ... clients talk to 127.0.0.1:proxy.port ...
//   await proxy.stats(); await proxy.close();
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

export interface FaultProfile {
  /** Chance a datagram is lost, each direction. */
  readonly drop: number;
  /** Chance a surviving datagram is delivered twice. */
  readonly duplicate: number;
  /** Each copy is delayed uniformly in [min, max] ms (different delays reorder them). */
  readonly delay: { readonly min: number; readonly max: number };
}

export interface FaultProxyOptions extends FaultProfile {
  readonly upstream: { readonly address: string; readonly port: number };
  readonly seed?: number;
}

export interface FaultProxyStats {
  forwarded: number;
  dropped: number;
  duplicated: number;
  clients: number;
}

export interface FaultProxy {
  readonly port: number;
  stats(): Promise<FaultProxyStats>;
  close(): Promise<void>;
}

type Command = { cmd: 'stats' } | { cmd: 'close' };

/** Starts the proxy process and waits until it listens. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let waiting: ((reply: unknown) => void) | undefined;
  child.on('message', (reply) => {
    const w = waiting;
    waiting = undefined;
    w?.(reply);
  });
  const ask = <T>(command?: Command): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the fault proxy did not answer within 10 s')), 10_000);
      waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply as T);
      };
      if (command) child.send(command);
    });
  const { port } = await ask<{ port: number }>();
  return {
    port,
    stats: () => ask<FaultProxyStats>({ cmd: 'stats' }),
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ cmd: 'close' });
      await exited;
    },
  };
}

/** mulberry32: reproducible from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runProxy(options: FaultProxyOptions): Promise<void> {
  const random = prng(options.seed ?? 1);
  const stats: FaultProxyStats = { forwarded: 0, dropped: 0, duplicated: 0, clients: 0 };
  const front = createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  const upstreams = new Map<string, Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closing = false;

  /** Delivers `bytes` through `send` subject to the fault profile. */
  const impair = (bytes: Buffer, send: (b: Buffer) => void): void => {
    if (random() < options.drop) {
      stats.dropped++;
      return;
    }
    const copies = random() < options.duplicate ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = options.delay.min + random() * (options.delay.max - options.delay.min);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (closing) return;
        stats.forwarded++;
        send(bytes);
      }, delay);
      timers.add(timer);
    }
  };

  const upstreamFor = async (client: RemoteInfo): Promise<Socket> => {
    const key = `${client.address}:${client.port}`;
    let socket = upstreams.get(key);
    if (socket) return socket;
    socket = createSocket('udp4');
    upstreams.set(key, socket);
    stats.clients++;
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.on('message', (bytes) => impair(bytes, (b) => front.send(b, client.port, client.address)));
    return socket;
  };

  front.on('message', (bytes, from) => {
    void upstreamFor(from).then((socket) =>
      impair(bytes, (b) => socket.send(b, options.upstream.port, options.upstream.address)),
    );
  });

  process.on('message', (command: Command) => {
    if (command.cmd === 'stats') process.send!({ ...stats });
    else {
      closing = true;
      for (const t of timers) clearTimeout(t);
      front.close();
      for (const s of upstreams.values()) s.close();
      process.exit(0);
    }
  });
  process.send!({ port: front.address().port });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send)
  void runProxy(JSON.parse(process.argv[2]!) as FaultProxyOptions);
