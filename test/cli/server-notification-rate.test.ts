// `petrel server --notification-rate/--notification-burst` (or PETREL_NOTIFICATION_*, or the config
// file's notificationRate/notificationBurst): a device's notifications past its share are dropped,
// and the log says so once per device and report interval.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { ObserveRelation } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, observe } from '../../src/coap/options.js';
import { ConfigError, addServerOptions, resolveServerConfig } from '../../src/cli/config.js';
import {
  DEFAULT_NOTIFICATION_RATE,
  notificationRateLimitOf,
  serverCommand,
} from '../../src/cli/server-command.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { cliIo, startCli, waitFor } from '../support/cli-run.js';

const utf8 = new TextEncoder();
const textValue = (v: string) => ({
  code: CoapCode.CONTENT,
  options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
  payload: utf8.encode(v),
});

/**
 * Runs `petrel server <args>` (the environment given set meanwhile), registers a device that
 * observes /3/0/9, floods three notifications and returns the notifications-dropped line.
 */
async function flood(args: string[], env: Record<string, string> = {}): Promise<string> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let server;
  try {
    server = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
      ...args,
    ]);
  } finally {
    // The command reads the environment synchronously, before its first await.
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const endpoint = new CoapEndpoint({ channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }) });
  try {
    await waitFor(() => /^http http:\/\/127\.0\.0\.1:\d+\//m.test(server.out()), 'the http line');
    const port = Number(/^listening coap:\/\/127\.0\.0\.1:(\d+)$/m.exec(server.out())![1]);
    const api = /^http (http:\/\/127\.0\.0\.1:\d+\/)/m.exec(server.out())![1]!;
    let relation: ObserveRelation | undefined;
    endpoint.onRequest((req) => ({
      ...textValue('50'),
      ...(observe(req.message) === 0 ? { observe: (r: ObserveRelation) => void (relation = r) } : {}),
    }));
    const reg = await endpoint.request(
      { address: '127.0.0.1', port },
      {
        code: CoapCode.POST,
        options: new OptionsBuilder()
          .string(OptionNumber.URI_PATH, 'rd')
          .uint(OptionNumber.CONTENT_FORMAT, 40)
          .string(OptionNumber.URI_QUERY, 'ep=note-1')
          .string(OptionNumber.URI_QUERY, 'lt=60')
          .string(OptionNumber.URI_QUERY, 'lwm2m=1.2')
          .build(),
        payload: utf8.encode('</3/0>'),
      },
      { timeout: 5000 },
    );
    assert.equal(formatCode(reg.code), '2.01');
    const res = await fetch(`${api}api/clients/note-1/3/0/9/observe`, { method: 'POST' });
    assert.equal(res.status, 200, await res.text());
    assert.ok(relation, 'the device was asked to observe');
    for (const v of ['49', '48', '47']) relation.notify(textValue(v));
    await waitFor(() => /^notifications-dropped /m.test(server.out()), 'the notifications-dropped line');
    return /^notifications-dropped .*$/m.exec(server.out())![0];
  } finally {
    await endpoint.close();
    server.stop();
    assert.equal(await server.exit, 0, server.err());
  }
}

/** The server command's settings from `args` and `env` (no config file on disk). */
function settings(args: string[], env: NodeJS.ProcessEnv = {}, file?: string) {
  const cmd = addServerOptions(new Command('server'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  cmd.parse(args, { from: 'user' });
  return resolveServerConfig(cmd, env, (path) => (path === 'p.json' ? file : undefined));
}

describe('petrel server --notification-rate', { timeout: 30_000 }, () => {
  it('drops the notifications a device sends past its burst and logs it', async () => {
    assert.equal(
      await flood(['--notification-rate', '0.1', '--notification-burst', '1']),
      'notifications-dropped ep=note-1 dropped=1 total=1',
    );
  });

  it('takes the limit from PETREL_NOTIFICATION_RATE and PETREL_NOTIFICATION_BURST', async () => {
    assert.equal(
      await flood([], { PETREL_NOTIFICATION_RATE: '0.1', PETREL_NOTIFICATION_BURST: '1' }),
      'notifications-dropped ep=note-1 dropped=1 total=1',
    );
  });

  it('takes the limit from the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-notification-rate-'));
    try {
      const file = join(dir, 'petrel.json');
      await writeFile(file, JSON.stringify({ notificationRate: 0.1, notificationBurst: 2 }));
      assert.equal(
        await flood(['--config', file]),
        'notifications-dropped ep=note-1 dropped=1 total=1',
        'a burst of 2 lets the second notification through and drops the third',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it(`is on by default at ${DEFAULT_NOTIFICATION_RATE}/s per device; 0 turns it off; nonsense is refused`, () => {
    assert.equal(
      serverCommand(cliIo().io).options.find((o) => o.long === '--notification-rate')?.defaultValue,
      undefined,
    );
    assert.deepEqual(notificationRateLimitOf(settings([])), { rate: 50 });
    assert.equal(notificationRateLimitOf(settings(['--notification-rate', '0'])), undefined);
    assert.deepEqual(
      notificationRateLimitOf(
        settings(['--notification-rate', '5', '--notification-burst', '20'], {
          PETREL_NOTIFICATION_CANCEL_AFTER: '1000',
        }),
      ),
      { rate: 5, burst: 20, cancelAfter: 1000 },
    );
    assert.deepEqual(
      notificationRateLimitOf(settings(['--config', 'p.json'], {}, '{"notificationCancelAfter": 3}')),
      { rate: 50, cancelAfter: 3 },
    );
    assert.throws(() => settings(['--notification-rate', 'fast']), /--notification-rate/);
    assert.throws(() => settings(['--notification-burst', '0.5']), /--notification-burst/);
    // A burst or a cancel-after with no limit, named by where each came from.
    assert.throws(
      () =>
        notificationRateLimitOf(settings(['--notification-rate', '0', '--notification-cancel-after', '3'])),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          '--notification-cancel-after: needs a --notification-rate above 0 (--notification-rate is 0: no limit)',
    );
    assert.throws(
      () =>
        notificationRateLimitOf(
          settings(
            ['--config', 'p.json', '--notification-burst', '4'],
            { PETREL_NOTIFICATION_RATE: '0' },
            '{"notificationCancelAfter": 3}',
          ),
        ),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          '--notification-burst and p.json: notificationCancelAfter: need a --notification-rate above 0 (PETREL_NOTIFICATION_RATE is 0: no limit)',
    );
  });
});
