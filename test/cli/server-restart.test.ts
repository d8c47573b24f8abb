import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/*
 * The product's promise (issue 6): kill `petrel server` with SIGKILL in the middle of its work and
 * start it again on the same SQLite store: registrations, observations and credentials are there. The device (a real `petrel client` process) neither
 * registers again nor is observed again: its notifications reach the new process under the
 * observation the REST API created before the crash.
 */

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Proc {
  readonly child: ChildProcessWithoutNullStreams;
  out(): string;
}

function launch(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

async function waitFor<T>(check: () => T | undefined | false, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function serverArgs(file: string, coapPort: number, httpPort: number): string[] {
  return [
    'server',
    '--address',
    '127.0.0.1',
    '--coap-port',
    String(coapPort),
    '--http-port',
    String(httpPort),
    '--store',
    `sqlite:${file}`,
  ];
}

function ports(out: string): { coap: number; http: number } | undefined {
  const coap = /listening coap:\/\/127\.0\.0\.1:(\d+)/.exec(out);
  const http = /http http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
  return coap && http ? { coap: Number(coap[1]), http: Number(http[1]) } : undefined;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return res.json();
}

/** The first SSE event of `type` on /api/events that `accept` takes, read within `ms`. */
async function nextEvent(
  base: string,
  type: string,
  accept: (data: Record<string, unknown>) => boolean,
  ms = 15_000,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}/api/events?types=${type}`, { signal: AbortSignal.timeout(ms) });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (!data) continue;
        const event = JSON.parse(data) as { type: string; data: Record<string, unknown> };
        if (event.type === type && accept(event.data)) return event.data;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

describe('petrel server killed with SIGKILL, with a live device', () => {
  it('keeps the registration, the observation and the credentials: notifications resume without a new Register or Observe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-restart-'));
    const file = join(dir, 'petrel.db');
    const procs: Proc[] = [];
    try {
      const first = launch(serverArgs(file, 0, 0));
      procs.push(first);
      const { coap, http } = await waitFor(() => ports(first.out()), 'the first server');
      const base = `http://127.0.0.1:${http}`;
      const device = launch([
        'client',
        '--endpoint',
        'restart-dev',
        '--server',
        `coap://127.0.0.1:${coap}`,
        '--interval',
        '1',
        '--no-stdin',
      ]);
      procs.push(device);
      await waitFor(() => first.out().includes('registered ep=restart-dev'), 'the device to register');
      const before = (await getJson(`${base}/api/clients/restart-dev`)) as { registrationId: string };

      // A credential for another device, put through the API: it must survive the kill too.
      const put = await fetch(`${base}/api/security/clients/secure-dev`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ psk: { identity: 'secure-dev-id', key: '00112233445566778899aabbccddeeff' } }),
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(put.status, 200, await put.clone().text());

      const observed = await fetch(`${base}/api/clients/restart-dev/3303/0/5700/observe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(observed.status, 200);
      const observation = (await observed.json()) as { code: string; observationId: string };
      assert.equal(observation.code, '2.05');

      const killed = new Promise((resolve) => first.child.once('close', resolve));
      first.child.kill('SIGKILL');
      await killed;

      const second = launch(serverArgs(file, coap, http));
      procs.push(second);
      await waitFor(() => ports(second.out()), 'the second server');
      const notification = await nextEvent(
        base,
        'notification',
        (d) => d.observationId === observation.observationId,
      );
      assert.equal(typeof (notification.values as Record<string, unknown>)['/3303/0/5700'], 'number');

      const after = (await getJson(`${base}/api/clients/restart-dev`)) as { registrationId: string };
      assert.equal(after.registrationId, before.registrationId, 'the device did not register again');
      assert.doesNotMatch(second.out(), /registered ep=restart-dev/);
      const list = (await getJson(`${base}/api/clients/restart-dev/observations`)) as { id: string }[];
      assert.deepEqual(
        list.map((o) => o.id),
        [observation.observationId],
      );
      const credential = (await getJson(`${base}/api/security/clients/secure-dev`)) as {
        psk?: { identity: string; keyLength: number };
      };
      assert.deepEqual(credential.psk, { identity: 'secure-dev-id', keyLength: 16 });
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
