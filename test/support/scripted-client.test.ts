import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import {
  CoapEndpoint,
  isFresher,
  type ClientObservation,
  type OutgoingRequest,
} from '../../src/coap/endpoint.js';
import { CoapTimeoutError } from '../../src/coap/errors.js';
import { CoapCode, formatCode, type CoapMessage } from '../../src/coap/message.js';
import {
  OptionNumber,
  OptionsBuilder,
  contentFormat,
  locationPath,
  observe,
  uriPath,
  uriQuery,
} from '../../src/coap/options.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive, settle, track } from './coap-driver.js';
import {
  NotRegisteredError,
  ScriptError,
  ScriptedClient,
  loadScript,
  parseScript,
  type ClientScript,
  type ScriptedAnswer,
  type ScriptedResponse,
} from './scripted-client.js';
import { requireShared } from './shared.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const CLIENT: Peer = { address: '10.0.0.2', port: 56830 };
const CLIENT_A = 'lwm2m-1.2-client-udp.jsonl';
const CLIENT_B = 'lwm2m-1.1-client-udp.jsonl';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const path = (m: CoapMessage): string => '/' + uriPath(m).join('/');

function script(t: TestContext, file: string): ClientScript | undefined {
  const dir = requireShared(t);
  return dir ? loadScript(join(dir, 'captures', file)) : undefined;
}

/**
 * A tiny LwM2M server for the scripted client to talk to: Register gets 2.01 /rd/xyz (4.00
 * without `lt=`), Update 2.04, De-register 2.02, Send 2.04. It keeps every uplink it received.
 */
function setup(s: ClientScript, options: { endpointName?: string; lifetime?: number } = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const server = new CoapEndpoint({
    channel: network.channel(SERVER.address, SERVER.port),
    clock,
    random: seededRandom(1),
  });
  const uplinks: CoapMessage[] = [];
  server.onRequest(({ message }) => {
    uplinks.push(message);
    const p = path(message);
    if (message.code === CoapCode.POST && p === '/rd') {
      if (!uriQuery(message).some((q) => q.startsWith('lt='))) return { code: CoapCode.BAD_REQUEST };
      return {
        code: CoapCode.CREATED,
        options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'xyz']).build(),
      };
    }
    if (message.code === CoapCode.POST && p === '/rd/xyz') return { code: CoapCode.CHANGED };
    if (message.code === CoapCode.DELETE && p === '/rd/xyz') return { code: CoapCode.DELETED };
    if (message.code === CoapCode.POST && p === '/dp') return { code: CoapCode.CHANGED };
    return { code: CoapCode.NOT_FOUND };
  });
  const client = new ScriptedClient({
    script: s,
    channel: network.channel(CLIENT.address, CLIENT.port),
    server: SERVER,
    clock,
    random: seededRandom(2),
    ...options,
  });
  /** Drives the fake clock until `p` settles and the client's follow-up Updates are done. */
  const run = async <T>(p: Promise<T>): Promise<T> => {
    const state = track(p);
    await drive(clock, () => state.settled && client.pendingUplinks === 0, { network, maxMs: 60_000 });
    return p;
  };
  const close = async (): Promise<void> => {
    await client.stop();
    await server.close();
  };
  return { clock, network, server, client, uplinks, run, close };
}

type Setup = ReturnType<typeof setup>;

const request = (a: ScriptedAnswer): OutgoingRequest => ({
  code: a.request.code,
  options: a.request.options,
  payload: a.request.payload,
  confirmable: a.request.type !== 'NON',
});

/** The response carries the captured code, Content-Format, Location-Path and payload bytes. */
function assertAnswer(m: CoapMessage, r: ScriptedResponse, what: string): void {
  const expected = { code: r.code, options: r.options, payload: r.payload, token: m.token, messageId: 0 };
  assert.equal(formatCode(m.code), formatCode(r.code), what);
  assert.equal(contentFormat(m), contentFormat(expected), what);
  assert.deepEqual(locationPath(m), locationPath(expected), what);
  assert.equal(hex(m.payload), hex(r.payload), what);
}

/**
 * Sends every captured server request of the script (fresh tokens) and checks each answer:
 * plain requests, Observe with its notifications, cancels by Observe=1 and by RST, and the
 * requests the client never answers.
 */
async function replayAll(env: Setup, s: ClientScript): Promise<void> {
  const { server, client, run } = env;
  const observations = new Map<string, { obs: ClientObservation; index: number }>();
  for (const a of s.answers) {
    const what = `#${a.seq} ${a.note ?? ''}`;
    const capturedToken = hex(a.request.token);
    if (observe(a.request) === 0) {
      const seen: CoapMessage[] = [];
      const p = server.observe(
        CLIENT,
        request(a),
        { onNotification: (m) => seen.push(m) },
        { timeout: 3000 },
      );
      if (!a.response) {
        await assert.rejects(run(p), CoapTimeoutError, what);
        continue;
      }
      const obs = await run(p);
      assertAnswer(obs.response, a.response, what);
      assert.equal(obs.established, a.response.observe, what);
      if (!obs.established) continue; // client B refuses Observe /3/0 with Accept 112 (4.06)
      const index = client.observations.length - 1;
      assert.equal(client.observations[index]?.path, path(a.request));
      const sent = await client.playNotifications(path(a.request));
      await settle();
      assert.equal(sent, a.notifications.length, what);
      assert.deepEqual(
        seen.map((m) => hex(m.payload)),
        a.notifications.map((n) => hex(n.payload)),
        what,
      );
      assert.ok(seen.every((m) => m.type === 'NON'));
      const numbers = [observe(obs.response)!, ...seen.map((m) => observe(m)!)];
      for (let i = 1; i < numbers.length; i++) assert.ok(isFresher(numbers[i - 1]!, numbers[i]!, 0), what);
      if (a.cancelledBy === 'reset') {
        // As in the capture: the server forgets the token and answers the next notification with RST.
        obs.forget();
        assert.equal(client.notify(index), true);
        await settle();
        assert.equal(client.observations[index]?.active, false, what);
        assert.equal(client.observations[index]?.endReason, 'reset', what);
        assert.equal(client.notify(index), false, 'no notification after the RST');
      }
      observations.set(capturedToken, { obs, index });
      continue;
    }
    const observed = observe(a.request) === 1 ? observations.get(capturedToken) : undefined;
    const p = observed
      ? observed.obs.cancel({ timeout: 3000 })
      : server.request(CLIENT, request(a), { timeout: 3000 });
    if (!a.response) {
      const retransmissions = server.stats.retransmissions;
      await assert.rejects(run(p), CoapTimeoutError, what);
      // The client acknowledged the CON (an empty ACK), so the server never had to retransmit.
      assert.equal(server.stats.retransmissions, retransmissions, what);
      continue;
    }
    assertAnswer(await run(p), a.response, what);
    if (observed) {
      assert.equal(client.observations[observed.index]?.active, false, what);
      assert.equal(client.observations[observed.index]?.endReason, 'deregistered', what);
    }
  }
}

describe('loadScript', () => {
  it('splits client A into uplinks and an answer table', (t) => {
    const s = script(t, CLIENT_A);
    if (!s) return;
    assert.equal(s.endpointName, 'urn:dev:client-a-001');
    assert.equal(s.lwm2mVersion, '1.2');
    assert.deepEqual(s.capturedLocation, ['rd', '0']);
    assert.deepEqual(
      s.uplinks.map((u) => u.kind),
      ['register', ...Array<string>(8).fill('update'), 'send', 'deregister'],
    );
    assert.equal(s.register.captured.token.length, 8);
    assert.equal(s.answers.length, 92);
    // Every write to /1/1 and the Execute /1/1/8 set off one Update, nothing else did.
    const triggers = s.answers.filter((a) => a.followUps.length > 0);
    assert.deepEqual(
      triggers.map((a) => `${formatCode(a.request.code)} ${path(a.request)}`),
      [
        '0.03 /1/1/1',
        '0.03 /1/1/1',
        '0.02 /1/1',
        '0.02 /1/1',
        '0.03 /1/1/1',
        '0.02 /1/1',
        '0.07 /',
        '0.02 /1/1/8',
      ],
    );
    const observed = s.answers.filter((a) => a.response?.observe);
    assert.deepEqual(
      observed.map((a) => [path(a.request), a.notifications.length, a.cancelledBy]),
      [
        ['/3/0/13', 3, 'observe'],
        ['/3/0', 3, 'reset'],
        ['/', 2, 'observe'],
      ],
    );
    assert.ok(s.answers.every((a) => a.response !== undefined));
  });

  it('keeps client B quirks: silent FETCH/iPATCH, zero-length Send token, Updates after Create/Delete', (t) => {
    const s = script(t, CLIENT_B);
    if (!s) return;
    assert.equal(s.lwm2mVersion, '1.1');
    const silent = s.answers.filter((a) => !a.response);
    assert.equal(silent.length, 9);
    assert.ok(
      silent.every(
        (a) => a.emptyAck && (a.request.code === CoapCode.FETCH || a.request.code === CoapCode.IPATCH),
      ),
    );
    assert.equal(s.sends.length, 1);
    assert.equal(s.sends[0]!.emptyToken, true);
    const execute = s.answers.find((a) => path(a.request) === '/1/0/8')!;
    assert.equal(execute.followUps.length, 0, 'no Update after Execute in this capture');
    const creates = s.answers.filter((a) => a.response?.code === CoapCode.CREATED);
    assert.ok(creates.length === 3 && creates.every((a) => a.followUps.length === 1));
    assert.ok(
      creates.every((a) => a.followUps[0]!.request.payload!.length > 0),
      'Updates carry the object links',
    );
  });

  it('rejects a capture without a Register and an undecodable datagram', () => {
    const line = (seq: number, dir: 'client->server' | 'server->client', h: string) => ({
      seq,
      dir,
      peer: 'lwm2m-server',
      hex: h,
    });
    // GET /3/0 from the server, answered 2.05: no Register.
    assert.throws(
      () =>
        parseScript('x', [
          line(1, 'server->client', '40010001b1330130'),
          line(2, 'client->server', '60450001'),
        ]),
      (e: unknown) => e instanceof ScriptError && e.reason === 'no-register',
    );
    assert.throws(
      () => parseScript('x', [line(1, 'client->server', '4f')]),
      (e: unknown) => e instanceof ScriptError && e.reason === 'bad-datagram',
    );
  });
});

describe('ScriptedClient', () => {
  for (const file of [CLIENT_A, CLIENT_B]) {
    it(`answers every captured server request of ${file} as captured`, async (t) => {
      const s = script(t, file);
      if (!s) return;
      const env = setup(s);
      try {
        const registered = await env.run(env.client.register());
        assert.equal(formatCode(registered.code), '2.01');
        assert.deepEqual(env.client.location, ['rd', 'xyz']);
        await replayAll(env, s);
        assert.equal(env.client.received.length, s.answers.length);
        assert.deepEqual(
          env.client.received.filter((r) => r.matched !== 'exact').map((r) => path(r.request)),
          [],
        );
        // The Updates went to the location the server gave, with the captured payloads, in order.
        const updates = env.uplinks.filter((m) => m.code === CoapCode.POST && path(m) !== '/rd');
        assert.ok(updates.every((m) => path(m) === '/rd/xyz'));
        assert.deepEqual(
          updates.map((m) => hex(m.payload)),
          s.uplinks.filter((u) => u.kind === 'update').map((u) => hex(u.request.payload!)),
        );
        assert.ok(env.client.sent.every((u) => u.response !== undefined && u.error === undefined));

        const sent = await env.run(env.client.send());
        assert.equal(formatCode(sent.code), '2.04');
        const dp = env.uplinks.at(-1)!;
        assert.equal(path(dp), '/dp');
        assert.equal(hex(dp.payload), hex(s.sends[0]!.request.payload!));
        assert.equal(dp.token.length, file === CLIENT_B ? 0 : 8);
        const gone = await env.run(env.client.deregister());
        assert.equal(formatCode(gone.code), '2.02');
        assert.equal(`${formatCode(env.uplinks.at(-1)!.code)} ${path(env.uplinks.at(-1)!)}`, '0.04 /rd/xyz');
        assert.equal(env.client.location, undefined);
        assert.deepEqual(env.client.errors, []);
      } finally {
        await env.close();
      }
    });
  }

  it('answers Read /3/0 Accept 11544 with 2.05, CF 11544 and the captured bytes (client A)', async (t) => {
    const s = script(t, CLIENT_A);
    if (!s) return;
    const env = setup(s);
    try {
      await env.run(env.client.register());
      const captured = s.answers.find((a) => a.note === 'Read /3/0 Accept LwM2M CBOR (11544)')!;
      const read = await env.run(
        env.server.request(CLIENT, {
          code: CoapCode.GET,
          options: new OptionsBuilder().uriPath(['3', '0']).uint(OptionNumber.ACCEPT, 11544).build(),
        }),
      );
      assert.equal(formatCode(read.code), '2.05');
      assert.equal(contentFormat(read), 11544);
      assert.equal(read.payload.length, 124);
      assert.equal(hex(read.payload), hex(captured.response!.payload));
      assert.equal(env.client.received.at(-1)?.matched, 'exact');
    } finally {
      await env.close();
    }
  });

  it('follows a Write to /1/1/1 with an Update to the given location, also on a loose match', async (t) => {
    const s = script(t, CLIENT_A);
    if (!s) return;
    const env = setup(s);
    try {
      await env.run(env.client.register());
      const write = (value: string) =>
        env.run(
          env.server.request(CLIENT, {
            code: CoapCode.PUT,
            options: new OptionsBuilder()
              .uriPath(['1', '1', '1'])
              .uint(OptionNumber.CONTENT_FORMAT, 0)
              .build(),
            payload: text(value),
          }),
        );
      for (const [value, matched] of [
        ['300', 'exact'],
        ['60', 'loose'],
      ] as const) {
        const before = env.uplinks.length;
        assert.equal(formatCode((await write(value)).code), '2.04');
        assert.equal(env.client.received.at(-1)?.matched, matched);
        const after = env.uplinks.slice(before);
        assert.deepEqual(
          after.map((m) => `${formatCode(m.code)} ${path(m)} ${m.payload.length}`),
          ['0.02 /rd/xyz 0'],
        );
        assert.equal(env.client.sent.at(-1)?.trigger?.code, CoapCode.PUT);
      }
    } finally {
      await env.close();
    }
  });

  it('acknowledges a FETCH to client B and never answers it', async (t) => {
    const s = script(t, CLIENT_B);
    if (!s) return;
    const env = setup(s);
    try {
      await env.run(env.client.register());
      const fetch = s.answers.find((a) => a.request.code === CoapCode.FETCH)!;
      const started = env.clock.now();
      const p = env.server.request(CLIENT, request(fetch), { timeout: 5000 });
      await assert.rejects(
        env.run(p),
        (e: unknown) => e instanceof CoapTimeoutError && e.phase === 'no-response',
      );
      assert.ok(env.clock.now() - started >= 5000);
      assert.equal(env.server.stats.retransmissions, 0);
      assert.equal(env.client.received.at(-1)?.matched, 'exact');
      assert.equal(env.client.received.at(-1)?.response, undefined);
    } finally {
      await env.close();
    }
  });

  it('stops notifying after the server resets the first notification', async (t) => {
    const s = script(t, CLIENT_A);
    if (!s) return;
    const env = setup(s);
    try {
      await env.run(env.client.register());
      const seen: CoapMessage[] = [];
      const obs = await env.run(
        env.server.observe(
          CLIENT,
          { code: CoapCode.GET, options: new OptionsBuilder().uriPath(['3', '0', '13']).build() },
          { onNotification: (m) => seen.push(m) },
        ),
      );
      assert.equal(obs.established, true);
      assert.equal(contentFormat(obs.response), 0);
      obs.forget();
      assert.equal(await env.client.playNotifications('/3/0/13'), 1);
      assert.equal(seen.length, 0);
      assert.equal(env.client.observations[0]?.endReason, 'reset');
      assert.equal(await env.client.playNotifications(0), 0);
    } finally {
      await env.close();
    }
  });

  it('answers 5.00 to requests the capture lacks, and a never-observed Observe as a plain Read', async (t) => {
    const s = script(t, CLIENT_A);
    if (!s) return;
    const env = setup(s);
    try {
      await env.run(env.client.register());
      const missing = await env.run(
        env.server.request(CLIENT, {
          code: CoapCode.GET,
          options: new OptionsBuilder().uriPath(['1', '0']).build(),
        }),
      );
      assert.equal(formatCode(missing.code), '5.00');
      assert.equal(env.client.received.at(-1)?.matched, 'none');
      const obs = await env.run(
        env.server.observe(
          CLIENT,
          {
            code: CoapCode.GET,
            options: new OptionsBuilder().uriPath(['3', '0', '9']).uint(OptionNumber.ACCEPT, 0).build(),
          },
          { onNotification: () => {} },
        ),
      );
      assert.equal(obs.established, false);
      assert.equal(formatCode(obs.response.code), '2.05');
      const plainRead = s.answers.find((a) => a.note === 'Read /3/0/9 Accept text/plain (0)')!;
      assert.equal(hex(obs.response.payload), hex(plainRead.response!.payload));
      assert.equal(env.client.received.at(-1)?.matched, 'loose');
      assert.equal(env.client.observations.length, 0);
    } finally {
      await env.close();
    }
  });

  it('registers with overridden ep= and lt=, and sends raw requests', async (t) => {
    const s = script(t, CLIENT_B);
    if (!s) return;
    const env = setup(s, { endpointName: 'client-b-002', lifetime: 60 });
    try {
      assert.throws(() => env.client.update(), NotRegisteredError);
      await env.run(env.client.register());
      const query = uriQuery(env.uplinks[0]!);
      assert.deepEqual(query, ['lwm2m=1.1', 'ep=client-b-002', 'b=U', 'lt=60']);
      assert.equal(env.uplinks[0]!.token.length, 4, 'fresh tokens of the captured length');
      assert.equal(hex(env.uplinks[0]!.payload), hex(s.register.request.payload!));

      const noLifetime = env.client.registerRequest();
      const bad = await env.run(
        env.client.raw({
          ...noLifetime,
          options: noLifetime.options!.filter((o) => !new TextDecoder().decode(o.value).startsWith('lt=')),
        }),
      );
      assert.equal(formatCode(bad.code), '4.00');

      const updated = await env.run(env.client.update({ query: ['lt=120'] }));
      assert.equal(formatCode(updated.code), '2.04');
      assert.deepEqual(uriQuery(env.uplinks.at(-1)!), ['lt=120']);
      assert.equal(path(env.uplinks.at(-1)!), '/rd/xyz');

      // The static form: one request from a channel of its own.
      const other = env.network.channel('10.0.0.3', 5683);
      const viaStatic = ScriptedClient.raw(
        { channel: other, server: SERVER, clock: env.clock },
        { code: CoapCode.POST, options: new OptionsBuilder().uriPath(['rd']).build() },
      );
      assert.equal(formatCode((await env.run(viaStatic)).code), '4.00');
    } finally {
      await env.close();
    }
  });
});
