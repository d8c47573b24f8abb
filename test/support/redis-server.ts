import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startDaemon } from './peers.js';

/** The redis-server program (Debian package redis-server), or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  return found || undefined;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A connection for the test's own checks (CLIENT LIST, TTL, KEYS); closed by stop(). */
  readonly probe: Redis;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway redis-server on a free loopback port (no persistence) and waits until it
 * answers PING, within 10 s.
 */
export async function startRedisServer(program: string): Promise<RedisServer> {
  const port = await freeTcpPort();
  const daemon = startDaemon(program, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        probe,
        stop: async () => {
          probe.disconnect();
          await daemon.stop();
        },
      };
    } catch (e) {
      probe.disconnect();
      if (Date.now() > deadline) {
        await daemon.stop();
        assert.fail(`redis-server did not start: ${daemon.output()} (${String(e)})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Declares Redis-backed suites: with redis-server installed, `body` runs with a getter for one
 * throwaway server started before the file's tests and stopped after them; without it, one test
 * says what to install (skipped, or failed under CI=true where CI installs it), the rule of
 * requirePeer (test/support/peers.ts) for suites that need the server for every test.
 */
export function withRedisServer(suite: string, body: (server: () => RedisServer) => void): void {
  const program = findRedisServer();
  if (!program) {
    describe(suite, () => {
      it('needs redis-server (apt-get install redis-server)', (t) => {
        if (process.env.CI === 'true') assert.fail('redis-server not found (apt-get install redis-server)');
        t.skip('redis-server not found (apt-get install redis-server)');
      });
    });
    return;
  }
  let redis: RedisServer | undefined;
  before(async () => {
    redis = await startRedisServer(program);
  });
  after(async () => {
    await redis?.stop();
  });
  body(() => {
    assert.ok(redis, 'redis-server not started');
    return redis;
  });
}
