// The stores behind `petrel server`: registrations put and read, and events appended, per backend
// (memory, SQLite file, Redis when redis-server is installed), 32 operations in flight. Baselines
// in the same run: the floor each backend sets on its own (one prepared INSERT OR REPLACE in
// better-sqlite3 / node:sqlite, one SET through ioredis), so the ratio is what our schema, JSON and
// Lua cost on top of the engine.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Registration } from '../src/server/registration.js';
import { openStores } from '../src/store/open-stores.js';
import { registrationToJson } from '../src/store/registration-json.js';
import type { Stores } from '../src/store/stores.js';
import { newResult, writeResult } from './lib/report.js';
import type { BenchResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 2000);
const CONCURRENCY = 32;
const ENDPOINTS = 10_000;

function registration(i: number): Registration {
  const endpoint = `urn:dev:bench-${i}`;
  return {
    id: `r${i.toString(36).padStart(9, '0')}`,
    endpoint,
    lwm2mVersion: '1.2',
    binding: 'U',
    queueMode: false,
    lifetime: 300,
    sms: undefined,
    profileIds: [],
    objectLinks: [1, 3, 4, 5, 6, 3303, 3304, 3311, 3323, 3347].map((o) => ({
      target: `/${o}/0`,
      params: [],
    })),
    objects: [1, 3, 4, 5, 6, 3303, 3304, 3311, 3323, 3347].map((id) => ({
      id,
      version: undefined,
      instances: [0],
    })),
    alternatePath: undefined,
    contentFormats: undefined,
    peer: { address: '192.0.2.1', port: 40_000 + (i % 20_000) },
    transport: 'udp',
    registeredAt: 1_700_000_000_000,
    lastUpdateAt: 1_700_000_000_000,
    expiresAt: 1_700_000_300_000,
    extraParameters: {},
  };
}

/** Operations per second with CONCURRENCY calls of `op(i)` in flight for DURATION_MS. */
async function rate(op: (i: number) => Promise<unknown>): Promise<number> {
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) await op(n++ % ENDPOINTS);
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

const REGS = Array.from({ length: ENDPOINTS }, (_, i) => registration(i));

async function measure(result: BenchResult, name: string, stores: Stores): Promise<number> {
  const put = await rate((i) => stores.registrations.put(REGS[i]!));
  const get = await rate((i) => stores.registrations.get(REGS[i]!.endpoint));
  const append = await rate((i) =>
    stores.events.append({
      type: 'updated',
      time: 1_700_000_000_000,
      endpoint: REGS[i]!.endpoint,
      data: { i },
    }),
  );
  result.metrics[`${name}_registration_puts_per_s`] = { value: put, unit: 'op/s' };
  result.metrics[`${name}_registration_gets_per_s`] = { value: get, unit: 'op/s' };
  result.metrics[`${name}_event_appends_per_s`] = { value: append, unit: 'op/s' };
  return put;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function withRedis(body: (url: string) => Promise<void>): Promise<void> {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    console.log('redis-server not installed: the Redis figures are left out (apt-get install redis-server)');
    return;
  }
  const port = await freePort();
  const daemon = spawn(
    found,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  try {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50 });
    probe.on('error', () => undefined); // refused until the daemon listens: retried below
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch (e) {
        probe.disconnect();
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    probe.disconnect();
    await body(`redis://127.0.0.1:${port}`);
  } finally {
    daemon.kill('SIGTERM');
  }
}

export async function runStoresBench(): Promise<void> {
  const result = newResult('stores');
  const memory = await openStores('memory');
  await measure(result, 'memory', memory);
  await memory.close();

  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-'));
  try {
    const file = join(dir, 'petrel.db');
    const sqlite = await openStores(`sqlite:${file}`);
    const ours = await measure(result, 'sqlite', sqlite);
    await sqlite.close();
    // The engine's floor: one prepared upsert of the same JSON per registration.
    const { openSqliteDatabase } = await import('../src/store/sqlite-database.js');
    const db = openSqliteDatabase(join(dir, 'raw.db'));
    db.exec('CREATE TABLE IF NOT EXISTS raw (endpoint TEXT PRIMARY KEY, data TEXT NOT NULL)');
    const upsert = db.prepare('INSERT OR REPLACE INTO raw (endpoint, data) VALUES (?, ?)');
    const raw = await rate((i) => {
      upsert.run(REGS[i]!.endpoint, registrationToJson(REGS[i]!));
      return Promise.resolve();
    });
    db.close();
    result.baselines['sqlite-raw-upsert'] = { registration_puts_per_s: { value: raw, unit: 'op/s' } };
    result.ratios['sqlite_puts_vs_raw_upsert'] = ours / raw;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  await withRedis(async (url) => {
    const redis = await openStores(url, { prefix: '{bench}:' });
    const ours = await measure(result, 'redis', redis);
    await redis.close();
    const client = new Redis(url);
    const raw = await rate((i) => client.set(`raw:${REGS[i]!.endpoint}`, registrationToJson(REGS[i]!)));
    client.disconnect();
    result.baselines['redis-raw-set'] = { registration_puts_per_s: { value: raw, unit: 'op/s' } };
    result.ratios['redis_puts_vs_raw_set'] = ours / raw;
  });
  writeResult(result);
}
