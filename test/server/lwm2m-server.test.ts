import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, accept, observe, uriPath, uriQuery } from '../../src/coap/options.js';
import { OperationError } from '../../src/operations/result-code.js';
import { ServerRequestError } from '../../src/server/errors.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { CommandEvent } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { drive, settle, track } from '../support/coap-driver.js';
import { code, startHarness, text } from './server-harness.js';

const utf8 = new TextEncoder();
const REGISTER_12 = ['ep=dev-1', 'lt=300', 'lwm2m=1.2', 'b=U'];

describe('LwM2mServer registration', () => {
  it('registers a client, answers 2.01 with a Location under /rd, and emits registered', async () => {
    const h = await startHarness();
    try {
      const registered = once(h.server, 'registered') as Promise<[Registration]>;
      const res = await h.device.register(
        REGISTER_12,
        '</>;ct="60 110 112 11544",</1/0>,</3/0>,</3303>;ver=1.1,</3303/0>',
      );
      assert.equal(code(res), '2.01');
      assert.equal(h.device.location[0], 'rd');
      assert.equal(h.device.location.length, 2);
      const [reg] = await registered;
      assert.equal(reg.endpoint, 'dev-1');
      assert.equal(reg.lwm2mVersion, '1.2');
      assert.equal(reg.binding, 'U');
      assert.equal(reg.lifetime, 300);
      assert.equal(reg.id, h.device.location[1]);
      assert.deepEqual(reg.contentFormats, [60, 110, 112, 11544]);
      assert.deepEqual(
        reg.objectLinks.map((l) => l.target),
        ['/1/0', '/3/0', '/3303', '/3303/0'],
      );
      assert.equal(reg.objects.find((o) => o.id === 3303)?.version, '1.1');
      assert.equal((await h.server.getRegistration('dev-1'))?.id, reg.id);
    } finally {
      await h.close();
    }
  });

  for (const [name, query, links, expected] of [
    ['a missing lt', ['ep=dev-1', 'lwm2m=1.2'], '</3/0>', '4.00'],
    ['an unknown version', ['ep=dev-1', 'lt=60', 'lwm2m=1.9'], '</3/0>', '4.12'],
    ['a bad link payload', ['ep=dev-1', 'lt=60', 'lwm2m=1.2'], '</3/0/1/2/3>', '4.00'],
    ['an unknown parameter', ['ep=dev-1', 'lt=60', 'lwm2m=1.2', 'colour=red'], '</3/0>', '4.00'],
    ['a bad binding', ['ep=dev-1', 'lt=60', 'lwm2m=1.2', 'b=X'], '</3/0>', '4.00'],
    ['only an unknown Profile ID', ['ep=dev-1', 'lt=60', 'lwm2m=1.2', 'pid=6:1234abcd'], undefined, '4.09'],
  ] as const) {
    it(`answers ${expected} to a Register with ${name}`, async () => {
      const h = await startHarness();
      try {
        const res =
          links === undefined
            ? await h.device.request(CoapCode.POST, ['rd'], [...query])
            : await h.device.register([...query], links);
        assert.equal(code(res), expected, text(res));
        assert.ok(text(res).length > 0, 'a diagnostic payload says why');
        assert.equal(await h.server.store.size, 0);
      } finally {
        await h.close();
      }
    });
  }

  it('refuses versions it is configured not to serve with 4.12', async () => {
    const h = await startHarness({ versions: ['1.2'] });
    try {
      const res = await h.device.register(['ep=old', 'lt=60', 'lwm2m=1.1']);
      assert.equal(code(res), '4.12');
    } finally {
      await h.close();
    }
  });

  it('serves a 1.0 client: no lwm2m= and a UQ binding', async () => {
    const h = await startHarness();
    try {
      const registered = once(h.server, 'registered') as Promise<[Registration]>;
      assert.equal(code(await h.device.register(['ep=legacy', 'lt=120', 'b=UQ'])), '2.01');
      const [reg] = await registered;
      assert.equal(reg.lwm2mVersion, '1.0');
      assert.equal(reg.binding, 'U');
      assert.equal(reg.queueMode, true);
    } finally {
      await h.close();
    }
  });

  it('applies a partial Update and answers 4.04 to an unknown registration', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const updated = once(h.server, 'updated') as Promise<[Registration, Registration]>;
      assert.equal(code(await h.device.update(['lt=900'])), '2.04');
      const [reg, previous] = await updated;
      assert.equal(reg.lifetime, 900);
      assert.equal(previous.lifetime, 300);
      assert.equal(reg.binding, 'U');
      assert.deepEqual(
        reg.objectLinks.map((l) => l.target),
        ['/1/0', '/3/0'],
      );
      // A full object list replaces the old one.
      await h.device.update([], '</1/0>,</3/0>,</5/0>');
      assert.deepEqual(
        (await h.server.getRegistration('dev-1'))?.objects.map((o) => o.id),
        [1, 3, 5],
      );
      h.device.location = ['rd', 'nosuchid'];
      assert.equal(code(await h.device.update()), '4.04');
    } finally {
      await h.close();
    }
  });

  it('de-registers once; a second De-register gets 4.04', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const gone = once(h.server, 'deregistered');
      assert.equal(code(await h.device.deregister()), '2.02');
      await gone;
      assert.equal(await h.server.getRegistration('dev-1'), undefined);
      assert.equal(code(await h.device.deregister()), '4.04');
    } finally {
      await h.close();
    }
  });

  it('replaces an old registration on a new Register; the old location is gone', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const first = [...h.device.location];
      await h.device.register(REGISTER_12);
      assert.notDeepEqual(h.device.location, first);
      assert.equal(await h.server.store.size, 1);
      const second = [...h.device.location];
      h.device.location = first;
      assert.equal(code(await h.device.update()), '4.04');
      h.device.location = second;
      assert.equal(code(await h.device.update()), '2.04');
    } finally {
      await h.close();
    }
  });

  it('learns a dynamic Profile ID from a Register with its list, then resolves it alone', async () => {
    const h = await startHarness();
    try {
      await h.device.register([...REGISTER_12, 'pid=6:0a1b2c3d'], '</1/0>,</3/0>,</3303/0>');
      const other = h.newDevice('10.0.0.3');
      const registered = once(h.server, 'registered') as Promise<[Registration]>;
      const res = await other.request(
        CoapCode.POST,
        ['rd'],
        ['ep=dev-2', 'lt=60', 'lwm2m=1.2', 'pid=6:0a1b2c3d'],
      );
      assert.equal(code(res), '2.01');
      const [reg] = await registered;
      assert.deepEqual(
        reg.objects.map((o) => o.id),
        [1, 3, 3303],
      );
      assert.deepEqual(reg.profileIds, ['6:0a1b2c3d']);
    } finally {
      await h.close();
    }
  });

  it('resolves pre-configured Profile IDs from configuration', async () => {
    const h = await startHarness({ profiles: { 'oma:meter-basic': '</1/0>,</3/0>,</10262/0>' } });
    try {
      const registered = once(h.server, 'registered') as Promise<[Registration]>;
      const res = await h.device.request(
        CoapCode.POST,
        ['rd'],
        ['ep=m1', 'lt=60', 'lwm2m=1.2', 'pid=oma:meter-basic'],
      );
      assert.equal(code(res), '2.01');
      const [reg] = await registered;
      assert.deepEqual(
        reg.objects.map((o) => o.id),
        [1, 3, 10262],
      );
    } finally {
      await h.close();
    }
  });

  it('expires a registration when its lifetime runs out, with its observations', async () => {
    const clock = new FakeClock(1_000_000);
    const h = await startHarness({}, clock);
    try {
      h.device.handler = (req) => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('42'),
        ...(observe(req.message) === 0 ? { observe: () => undefined } : {}),
      });
      const reg = track(h.device.register(['ep=short', 'lt=30', 'lwm2m=1.2']));
      await drive(clock, () => reg.settled, { network: h.network });
      const obs = track(h.server.observe('short', '/3/0/9'));
      await drive(clock, () => obs.settled, { network: h.network });
      const observation = obs.value!;
      assert.equal(observation.active, true);
      const expired = track(once(h.server, 'expired'));
      const ended = track(once(observation, 'end'));
      clock.advance(29_000);
      await settle();
      assert.equal(expired.settled, false);
      clock.advance(1_500);
      await settle();
      assert.equal(expired.settled, true);
      assert.deepEqual(ended.value, ['expired']);
      assert.equal(await h.server.getRegistration('short'), undefined);
    } finally {
      await h.close();
    }
  });

  it('an Update pushes expiry back by the lifetime', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({}, clock);
    try {
      const reg = track(h.device.register(['ep=u', 'lt=30', 'lwm2m=1.2']));
      await drive(clock, () => reg.settled, { network: h.network });
      clock.advance(20_000);
      const up = track(h.device.update());
      await drive(clock, () => up.settled, { network: h.network });
      clock.advance(20_000);
      await settle();
      assert.ok(await h.server.getRegistration('u'), 'still registered 40 s after Register');
      clock.advance(11_000);
      await settle();
      assert.equal(await h.server.getRegistration('u'), undefined);
    } finally {
      await h.close();
    }
  });
});

describe('LwM2mServer requests', () => {
  it('reads a resource; the result carries code, values, tree and its message identity', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      await settle();
      h.device.handler = () => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('Acme'),
      });
      const events: CommandEvent[] = [];
      h.server.on('request', (e) => events.push(e));
      h.server.on('response', (e) => events.push(e));
      const result = await h.server.read('dev-1', '/3/0/0');
      assert.equal(result.code, '2.05');
      assert.deepEqual(result.values, { '/3/0/0': 'Acme' });
      assert.equal(result.tree.get(3)?.instances.get(0)?.resources.get(0)?.kind, 'single');
      const sent = h.device.received.at(-1)!;
      assert.deepEqual(uriPath(sent), ['3', '0', '0']);
      assert.equal(result.token, Buffer.from(sent.token).toString('hex'));
      assert.equal(result.messageId, sent.messageId);
      assert.equal(events.length, 2);
      assert.equal(events[0]!.id, result.id);
      assert.equal(events[1]!.code, '2.05');
      assert.equal(events[1]!.token, result.token);
    } finally {
      await h.close();
    }
  });

  it('sends the registration alternate path and Accept for a requested format', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12, '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>');
      h.device.handler = () => ({ code: CoapCode.NOT_ACCEPTABLE });
      const result = await h.server.read('dev-1', '/3/0', { format: 'lwm2m-cbor' });
      assert.equal(result.code, '4.06');
      const sent = h.device.received.at(-1)!;
      assert.deepEqual(uriPath(sent), ['lwm2m', '3', '0']);
      assert.equal(accept(sent), 11544);
    } finally {
      await h.close();
    }
  });

  it('keeps a code the spec does not allow for the operation, and flags it', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      h.device.handler = () => ({ code: CoapCode.UNSUPPORTED_CONTENT_FORMAT });
      const odd = await h.server.read('dev-1', '/3/0');
      assert.equal(odd.code, '4.15');
      assert.equal(odd.conforms, false, 'Read has no 4.15');
      h.device.handler = () => ({ code: CoapCode.NOT_FOUND });
      const missing = await h.server.read('dev-1', '/3/0');
      assert.equal(missing.conforms, true);
      assert.equal(missing.success, false);
    } finally {
      await h.close();
    }
  });

  it('writes a single value typed by the model, as text/plain', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      h.device.handler = () => ({ code: CoapCode.CHANGED });
      const result = await h.server.write('dev-1', '/1/0/1', 600);
      assert.equal(result.code, '2.04');
      const sent = h.device.received.at(-1)!;
      assert.equal(sent.code, CoapCode.PUT);
      assert.equal(text(sent), '600');
    } finally {
      await h.close();
    }
  });

  it('executes with arguments and writes attributes as query parameters', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      h.device.handler = () => ({ code: CoapCode.CHANGED });
      assert.equal((await h.server.execute('dev-1', '/1/0/8', "0='U'")).code, '2.04');
      assert.equal(text(h.device.received.at(-1)!), "0='U'");
      assert.equal(
        (await h.server.writeAttributes('dev-1', '/3/0/9', { pmin: 10, pmax: 60, gt: null })).code,
        '2.04',
      );
      assert.deepEqual(uriQuery(h.device.received.at(-1)!), ['pmin=10', 'pmax=60', 'gt']);
    } finally {
      await h.close();
    }
  });

  it('refuses bootstrap-only objects and bad paths locally, without sending', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const before = h.device.received.length;
      await assert.rejects(
        h.server.read('dev-1', '/0/0'),
        (e: unknown) => e instanceof OperationError && e.resultCode === '4.01',
      );
      await assert.rejects(h.server.execute('dev-1', '/3/0'), OperationError);
      h.device.handler = () => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 40).build(),
        payload: utf8.encode('</3>,</3/0>'),
      });
      const found = await h.server.discover('dev-1', '/3', { depth: 1 });
      assert.deepEqual(
        found.links?.map((l) => l.target),
        ['/3', '/3/0'],
      );
      assert.equal(h.device.received.length, before + 1, 'only the valid Discover went out');
    } finally {
      await h.close();
    }
  });

  it('rejects requests for unknown endpoints and times out on a silent client', async () => {
    const h = await startHarness({ requestTimeout: 300 });
    try {
      await assert.rejects(
        h.server.read('nobody', '/3/0'),
        (e: unknown) => e instanceof ServerRequestError && e.reason === 'not-registered',
      );
      await h.device.register(REGISTER_12);
      h.device.handler = () => new Promise(() => undefined);
      await assert.rejects(
        h.server.read('dev-1', '/3/0'),
        (e: unknown) => e instanceof ServerRequestError && e.reason === 'timeout',
      );
    } finally {
      await h.close();
    }
  });
});

describe('LwM2mServer Send', () => {
  it('accepts a Send from a registered client and emits its values', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const sent = once(h.server, 'send');
      const res = await h.device.request(CoapCode.POST, ['dp'], [], '[{"bn":"/3/0/","n":"9","v":87}]', 110);
      assert.equal(code(res), '2.04');
      const [event] = (await sent) as [{ result: { values: unknown }; registration: Registration }];
      assert.deepEqual(event.result.values, { '/3/0/9': 87 });
      assert.equal(event.registration.endpoint, 'dev-1');
    } finally {
      await h.close();
    }
  });

  it('answers 4.04 to a Send of an object the client did not register, or from an unknown peer', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      const res = await h.device.request(CoapCode.POST, ['dp'], [], '[{"n":"/6/0/0","v":43.6}]', 110);
      assert.equal(code(res), '4.04');
      const stranger = h.newDevice('10.0.0.9');
      const res2 = await stranger.request(CoapCode.POST, ['dp'], [], '[{"n":"/3/0/9","v":1}]', 110);
      assert.equal(code(res2), '4.04');
    } finally {
      await h.close();
    }
  });

  it('refuses a Send after the server saw Mute Send = true', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      h.device.handler = () => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('1'),
      });
      await h.server.read('dev-1', '/1/0/23');
      const res = await h.device.request(CoapCode.POST, ['dp'], [], '[{"n":"/3/0/9","v":1}]', 110);
      assert.equal(code(res), '4.00');
    } finally {
      await h.close();
    }
  });
});

describe('LwM2mServer observations', () => {
  it('delivers notifications, ends them on De-register, and cancels proactively', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      let relation:
        { notify: (r: { code: number; options?: never[]; payload?: Uint8Array }) => void } | undefined;
      h.device.handler = (req) => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('50'),
        ...(observe(req.message) === 0 ? { observe: (r: typeof relation) => void (relation = r) } : {}),
      });
      const observation = await h.server.observe('dev-1', '/3/0/9');
      assert.deepEqual(observation.response.values, { '/3/0/9': 50 });
      assert.ok(relation);
      const seen: unknown[] = [];
      observation.on('notification', (n) => seen.push(n.result.values));
      const opts = new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build() as never[];
      relation.notify({ code: CoapCode.CONTENT, options: opts, payload: utf8.encode('49') });
      relation.notify({ code: CoapCode.CONTENT, options: opts, payload: utf8.encode('48') });
      await settle(10);
      assert.deepEqual(seen, [{ '/3/0/9': 49 }, { '/3/0/9': 48 }]);
      assert.deepEqual(h.server.observations('dev-1'), [observation]);

      const cancelled = await observation.cancel();
      assert.equal(cancelled?.code, '2.05');
      assert.equal(observe(h.device.received.at(-1)!), 1);
      assert.equal(observation.active, false);

      const second = await h.server.observe('dev-1', '/3/0/9');
      const ended = once(second, 'end');
      await h.device.deregister();
      assert.deepEqual(await ended, ['deregistered']);
      assert.deepEqual(h.server.observations('dev-1'), []);
    } finally {
      await h.close();
    }
  });

  it('re-observes a resumable observation after the client registers again', async () => {
    const h = await startHarness();
    try {
      await h.device.register(REGISTER_12);
      h.device.handler = (req) => ({
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('7'),
        ...(observe(req.message) === 0 ? { observe: () => undefined } : {}),
      });
      const observation = await h.server.observe('dev-1', '/3/0/9', { resume: true });
      const resumed = once(observation, 'resumed');
      const before = h.device.received.length;
      await h.device.register(REGISTER_12);
      await resumed;
      assert.equal(observation.active, true);
      assert.equal(observe(h.device.received[before]!), 0);
      assert.equal(observation.registrationId, h.device.location[1]);
    } finally {
      await h.close();
    }
  });
});

describe('LwM2mServer queue mode', () => {
  it('queues requests while the client sleeps and sends them one at a time when it wakes', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ queueMode: { awakeTime: 10_000, deadline: 60_000 } }, clock);
    try {
      const states: string[] = [];
      h.server.on('awake', () => states.push('awake'));
      h.server.on('sleeping', () => states.push('sleeping'));
      const reg = track(h.device.register(['ep=q', 'lt=600', 'lwm2m=1.2', 'Q']));
      await drive(clock, () => reg.settled, { network: h.network });
      assert.equal(h.server.isAwake('q'), true);
      clock.advance(10_001);
      await settle();
      assert.equal(h.server.isAwake('q'), false);
      let inFlight = 0;
      let maxInFlight = 0;
      h.device.handler = async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await settle(2);
        inFlight--;
        return {
          code: CoapCode.CONTENT,
          options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
          payload: utf8.encode('1'),
        };
      };
      const before = h.device.received.length;
      const reads = [track(h.server.read('q', '/3/0/9')), track(h.server.read('q', '/3/0/10'))];
      await settle(10);
      assert.equal(h.device.received.length, before, 'nothing sent while asleep');
      const up = track(h.device.update());
      await drive(clock, () => up.settled && reads.every((r) => r.settled), { network: h.network });
      assert.deepEqual(
        reads.map((r) => (r.value as { code: string } | undefined)?.code),
        ['2.05', '2.05'],
      );
      assert.equal(maxInFlight, 1, 'one request at a time');
      assert.deepEqual(states.slice(0, 3), ['awake', 'sleeping', 'awake']);
    } finally {
      await h.close();
    }
  });

  it('expires a queued request the client never wakes up for', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ queueMode: { awakeTime: 1_000, deadline: 5_000 } }, clock);
    try {
      const reg = track(h.device.register(['ep=q', 'lt=600', 'lwm2m=1.2', 'Q']));
      await drive(clock, () => reg.settled, { network: h.network });
      clock.advance(1_001);
      const read = track(h.server.read('q', '/3/0/9'));
      await settle();
      clock.advance(5_001);
      await settle();
      assert.ok(read.error instanceof ServerRequestError);
      assert.equal(read.error.reason, 'queue-expired');
    } finally {
      await h.close();
    }
  });
});

describe('LwM2mServer model', () => {
  it('knows Petrel Update Diagnostics (/33000) by default; a model given is used as it is', () => {
    const server = new LwM2mServer();
    assert.equal(server.model.object(33000)?.name, 'Petrel Update Diagnostics');
    assert.equal(server.model.resource(33000, 3)?.type, 'integer');
    assert.equal(server.model.resource(3, 0)?.name, 'Manufacturer');
    const own = createDefaultRegistry();
    assert.equal(new LwM2mServer({ model: own }).model, own);
    assert.equal(own.object(33000), undefined);
  });
});
