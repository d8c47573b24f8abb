// `petrel server --notification-rate/--notification-burst`: a device's notifications past its share
// are dropped, and the log says so once per device and report interval.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { ObserveRelation } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, observe } from '../../src/coap/options.js';
import { CliError } from '../../src/cli/io.js';
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

describe('petrel server --notification-rate', { timeout: 30_000 }, () => {
  it('drops the notifications a device sends past its burst and logs it', async () => {
    const server = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
      '--notification-rate',
      '0.1',
      '--notification-burst',
      '1',
    ]);
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
      assert.match(server.out(), /^notifications-dropped ep=note-1 dropped=1 total=1$/m);
    } finally {
      await endpoint.close();
      server.stop();
      assert.equal(await server.exit, 0, server.err());
    }
  });

  it(`is on by default at ${DEFAULT_NOTIFICATION_RATE}/s per device; 0 turns it off; nonsense is refused`, () => {
    const defaults = serverCommand(cliIo().io).opts<{ notificationRate: string }>();
    assert.deepEqual(notificationRateLimitOf(defaults), { rate: 50 });
    assert.equal(notificationRateLimitOf({ notificationRate: '0' }), undefined);
    assert.deepEqual(
      notificationRateLimitOf({
        notificationRate: '5',
        notificationBurst: '20',
        notificationCancelAfter: '1000',
      }),
      { rate: 5, burst: 20, cancelAfter: 1000 },
    );
    assert.throws(() => notificationRateLimitOf({ notificationRate: 'fast' }), CliError);
    assert.throws(
      () => notificationRateLimitOf({ notificationRate: '5', notificationBurst: '0.5' }),
      /--notification-burst 0\.5/,
    );
    assert.throws(
      () => notificationRateLimitOf({ notificationRate: '0', notificationCancelAfter: '3' }),
      /need a --notification-rate above 0/,
    );
  });
});
