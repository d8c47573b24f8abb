// `petrel server --peer-rate/--peer-burst`: a device past its share gets 4.29 with Max-Age.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, getUint } from '../../src/coap/options.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { startCli, waitFor } from '../support/cli-run.js';

describe('petrel server --peer-rate', { timeout: 30_000 }, () => {
  it('answers 4.29 with Max-Age once a device sends more than its burst', async () => {
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
      '--peer-rate',
      '0.5',
      '--peer-burst',
      '2',
    ]);
    const endpoint = new CoapEndpoint({ channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }) });
    try {
      await waitFor(() => /^listening coap:\/\/127\.0\.0\.1:\d+$/m.test(server.out()), 'the coap line');
      const port = Number(/^listening coap:\/\/127\.0\.0\.1:(\d+)$/m.exec(server.out())![1]);
      const register = () =>
        endpoint.request(
          { address: '127.0.0.1', port },
          {
            code: CoapCode.POST,
            options: new OptionsBuilder()
              .string(OptionNumber.URI_PATH, 'rd')
              .uint(OptionNumber.CONTENT_FORMAT, 40)
              .string(OptionNumber.URI_QUERY, 'ep=rate-1')
              .string(OptionNumber.URI_QUERY, 'lt=60')
              .string(OptionNumber.URI_QUERY, 'lwm2m=1.2')
              .build(),
            payload: new TextEncoder().encode('</3/0>'),
          },
          { timeout: 5000 },
        );
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push(await register());
      assert.deepEqual(
        codes.map((m) => formatCode(m.code)),
        ['2.01', '2.01', '4.29'],
      );
      assert.equal(getUint(codes[2]!, OptionNumber.MAX_AGE), 2);
    } finally {
      await endpoint.close();
      server.stop();
      assert.equal(await server.exit, 0, server.err());
    }
  });
});
