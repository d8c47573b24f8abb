// `petrel server --tcp-port --tls-port` and `petrel client --server coap+tcp:// | coaps+tcp://`:
// both commands in-process over loopback TCP, the PSK written through the REST API as an operator
// would, and the registrations as the server logs them.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Cli, startCli, waitFor } from '../support/cli-run.js';

const KEY = '000102030405060708090a0b0c0d0e0f';
const running: Cli[] = [];
after(async () => {
  for (const cli of running.splice(0).reverse()) {
    cli.stop();
    await cli.exit;
  }
});

function start(args: string[]): Cli {
  const cli = startCli(args);
  running.push(cli);
  return cli;
}

describe('petrel server over TCP, TLS and MQTT', () => {
  it('serves coap+tcp:// and coaps+tcp:// (PSK from the API) to petrel client', async () => {
    const server = start([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--tcp-port',
      '0',
      '--tls-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(server.out()), 'the http line');
    const tcpPort = Number(/listening coap\+tcp:\/\/127\.0\.0\.1:(\d+)/.exec(server.out())?.[1]);
    const tlsPort = Number(/listening coaps\+tcp:\/\/127\.0\.0\.1:(\d+)/.exec(server.out())?.[1]);
    assert.ok(tcpPort > 0 && tlsPort > 0, server.out());
    const url = /http (http:\/\/\S+\/) /.exec(server.out())![1]!;
    const put = await fetch(`${url}api/security/clients/cli-tls`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ psk: { identity: 'cli-tls-id', key: KEY } }),
    });
    assert.equal(put.status, 200, await put.text());

    start(['client', '--endpoint', 'cli-tcp', '--server', `coap+tcp://127.0.0.1:${tcpPort}`, '--no-stdin']);
    start([
      'client',
      '--endpoint',
      'cli-tls',
      '--server',
      `coaps+tcp://127.0.0.1:${tlsPort}`,
      '--psk-identity',
      'cli-tls-id',
      '--psk-key',
      KEY,
      '--no-stdin',
    ]);
    await waitFor(
      () => /registered ep=cli-tcp/.test(server.out()) && /registered ep=cli-tls/.test(server.out()),
      'both registrations',
      10_000,
    );
    const clients = (await (await fetch(`${url}api/clients`)).json()) as {
      items: { endpoint: string; transport?: string; binding?: string }[];
    };
    const byEp = Object.fromEntries(clients.items.map((c) => [c.endpoint, c]));
    assert.deepEqual(
      [
        byEp['cli-tcp']?.transport,
        byEp['cli-tcp']?.binding,
        byEp['cli-tls']?.transport,
        byEp['cli-tls']?.binding,
      ],
      ['tcp', 'T', 'tls', 'T'],
    );
  });

  it('serves the MQTT binding through its embedded broker (--mqtt embedded) to petrel client --server mqtt://', async () => {
    const server = start([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--mqtt',
      'embedded',
      '--mqtt-port',
      '0',
      '--mqtt-prefix',
      'site-7',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(server.out()), 'the http line', 10_000);
    const match =
      /listening (mqtt:\/\/127\.0\.0\.1:\d+) \(MQTT, embedded broker: site-7\/lwm2m\/rd\/\+\)/.exec(
        server.out(),
      );
    assert.ok(match, server.out());
    start([
      'client',
      '--endpoint',
      'cli-mqtt',
      '--server',
      match[1]!,
      '--mqtt-prefix',
      'site-7',
      '--no-stdin',
    ]);
    await waitFor(() => /registered ep=cli-mqtt .*b=M/.test(server.out()), 'the MQTT registration', 10_000);
    const url = /http (http:\/\/\S+\/) /.exec(server.out())![1]!;
    const read = await fetch(`${url}api/clients/cli-mqtt/3/0/0`);
    assert.equal(read.status, 200, await read.clone().text());
    assert.equal(((await read.json()) as { code: string }).code, '2.05');
  });

  it('petrel bootstrap --tcp-port sends petrel client (--bootstrap coap+tcp://) to a coap+tcp:// server', async () => {
    const server = start([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--tcp-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(server.out()), 'the server http line');
    const tcpPort = Number(/listening coap\+tcp:\/\/127\.0\.0\.1:(\d+)/.exec(server.out())?.[1]);
    const bs = start([
      'bootstrap',
      '--address',
      '127.0.0.1',
      '--tcp-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(bs.out()), 'the bootstrap http line');
    assert.doesNotMatch(bs.out(), /listening bootstrap coap:\/\//, 'no UDP side without --port');
    const bsPort = Number(/listening bootstrap coap\+tcp:\/\/127\.0\.0\.1:(\d+)/.exec(bs.out())?.[1]);
    assert.ok(bsPort > 0, bs.out());
    const bsUrl = /^http (http:\/\/\S+\/)api /m.exec(bs.out())![1]!;
    const config = {
      servers: [
        {
          shortServerId: 101,
          uri: `coap+tcp://127.0.0.1:${tcpPort}`,
          binding: 'T',
          lifetime: 300,
          security: { mode: 'nosec' },
        },
      ],
    };
    const put = await fetch(`${bsUrl}api/bootstrap/clients/cli-bs-tcp`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    assert.equal(put.status, 200, await put.text());
    start([
      'client',
      '--endpoint',
      'cli-bs-tcp',
      '--bootstrap',
      `coap+tcp://127.0.0.1:${bsPort}`,
      '--no-stdin',
    ]);
    await waitFor(
      () => bs.out().includes('bootstrap ep=cli-bs-tcp succeeded'),
      'the bootstrap session',
      10_000,
    );
    await waitFor(
      () => /registered ep=cli-bs-tcp .*b=T/.test(server.out()),
      'the registration over TCP',
      10_000,
    );
  });
});
