import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock, TimerHandle } from '../../src/clock.js';
import { FakeClock } from '../../src/clock.js';
import { dynamicProfileId } from '../../src/client/profile-hash.js';
import {
  RegistrationEngine,
  RegistrationEngineError,
  updateDelayMs,
  versionCandidates,
} from '../../src/client/registration-engine.js';
import type {
  BootstrapNeeded,
  RegistrationEngineOptions,
  SendReason,
} from '../../src/client/registration-engine.js';
import { accountsFromRecords } from '../../src/client/server-account.js';
import type { ServerAccount } from '../../src/client/server-account.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import type { RegistrationPayloadInput } from '../../src/model/registration-payload.js';
import type {
  DeregisterRequest,
  RegisterRequest,
  UpdateRequest,
  UplinkResponse,
} from '../../src/operations/requests.js';
import { seededRandom } from '../../src/random.js';

// ---- harness ----

/** A FakeClock that knows when its next timer is due, so a test can run to it and let promises settle. */
class SteppingClock implements Clock {
  readonly fake = new FakeClock();
  readonly #due = new Map<TimerHandle, number>();

  now(): number {
    return this.fake.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = this.fake.setTimeout(() => {
      this.#due.delete(handle);
      fn();
    }, ms);
    this.#due.set(handle, this.now() + Math.max(0, ms));
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#due.delete(handle);
    this.fake.clearTimeout(handle);
  }

  get pending(): number {
    return this.#due.size;
  }

  /** Runs `seconds` of time, timer by timer, settling promises after each. */
  async run(seconds: number): Promise<void> {
    const end = this.now() + seconds * 1000;
    for (;;) {
      await settle();
      const next = Math.min(...this.#due.values());
      if (!(next <= end)) break;
      this.fake.advance(next - this.now());
    }
    this.fake.advance(end - this.now());
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

type AnyRequest = RegisterRequest | UpdateRequest | DeregisterRequest;
type Reply = UplinkResponse | 'timeout' | ((req: AnyRequest) => UplinkResponse | 'timeout');

interface Sent {
  /** Seconds since the test began. */
  readonly t: number;
  readonly ssid: number;
  readonly request: AnyRequest;
  readonly reason: SendReason;
}

/**
 * A fake network: per SSID a queue of replies, one per request; when the queue is empty the
 * request succeeds (2.01 with a fresh id, 2.04, 2.02).
 */
function fakeNetwork(clock: SteppingClock) {
  const log: Sent[] = [];
  const script = new Map<number, Reply[]>();
  let n = 0;
  const send: RegistrationEngineOptions['send'] = (account, request, context) => {
    log.push({ t: clock.now() / 1000, ssid: account.shortServerId, request, reason: context.reason });
    const reply = script.get(account.shortServerId)?.shift();
    if (reply !== undefined) return Promise.resolve(typeof reply === 'function' ? reply(request) : reply);
    if (request.kind === 'register')
      return Promise.resolve({ code: '2.01', registrationId: `r${account.shortServerId}-${++n}` });
    return Promise.resolve({ code: request.kind === 'update' ? '2.04' : '2.02' });
  };
  return {
    log,
    send,
    reply(ssid: number, ...replies: Reply[]) {
      script.set(ssid, [...(script.get(ssid) ?? []), ...replies]);
    },
    of(ssid: number, kind?: AnyRequest['kind']) {
      return log.filter((s) => s.ssid === ssid && (kind === undefined || s.request.kind === kind));
    },
  };
}

const OBJECTS: RegistrationPayloadInput = {
  objects: [
    { id: 1, instances: [0, 1] },
    { id: 3, instances: [0] },
    { id: 3303, version: '1.1', instances: [0] },
  ],
};

function account(ssid: number, extra: Partial<ServerAccount> = {}): ServerAccount {
  return { shortServerId: ssid, uri: `coap://server-${ssid}`, lifetime: 86400, binding: 'U', ...extra };
}

function setup(accounts: ServerAccount[], options: Partial<RegistrationEngineOptions> = {}) {
  const clock = new SteppingClock();
  const net = fakeNetwork(clock);
  const bootstraps: BootstrapNeeded[] = [];
  const state = { accounts, objects: OBJECTS };
  const engine = new RegistrationEngine({
    clock,
    endpoint: 'urn:dev:ops:petrel-test',
    accounts: () => state.accounts,
    objects: () => state.objects,
    send: net.send,
    onBootstrapNeeded: (b) => bootstraps.push(b),
    ...options,
  });
  return { clock, net, engine, bootstraps, state };
}

const register = (s: Sent): RegisterRequest => {
  assert.equal(s.request.kind, 'register');
  return s.request;
};
const update = (s: Sent): UpdateRequest => {
  assert.equal(s.request.kind, 'update');
  return s.request;
};

/** The Update's parameters other than kind and registration id. */
function updateParams(s: Sent): string[] {
  const { kind: _k, registrationId: _r, ...rest } = update(s);
  return Object.keys(rest).sort();
}

// ---- pure helpers ----

describe('versionCandidates', () => {
  it('offers 1.2, 1.1, 1.0 below the preferred version', () => {
    assert.deepEqual(versionCandidates(), ['1.2', '1.1', '1.0']);
    assert.deepEqual(versionCandidates('1.1'), ['1.1', '1.0']);
  });

  it('narrows to /1/x/25 Supported Server Versions, reading 1.2.1 as 1.2', () => {
    assert.deepEqual(versionCandidates('1.2', ['1.1']), ['1.1']);
    assert.deepEqual(versionCandidates('1.2', ['1.0', '1.2.1']), ['1.2', '1.0']);
  });

  it('keeps all of ours when /1/x/25 names only other or malformed versions', () => {
    assert.deepEqual(versionCandidates('1.2', ['1.3', 'x']), ['1.2', '1.1', '1.0']);
  });
});

describe('updateDelayMs', () => {
  it('is lt − max(lt/10, 10 s), at least lt/2, none for lt 0', () => {
    assert.equal(updateDelayMs(86400), 77_760_000);
    assert.equal(updateDelayMs(300), 270_000);
    assert.equal(updateDelayMs(60), 50_000);
    assert.equal(updateDelayMs(15), 7_500);
    assert.equal(updateDelayMs(0), undefined);
    assert.equal(updateDelayMs(300, 2), 240_000);
  });
});

describe('accountsFromRecords', () => {
  const rec = (path: string, value: ReturnType<typeof Value.string>): LwM2mRecord => ({
    path: LwM2mPath.parse(path),
    value,
  });

  it('joins /0 and /1 by Short Server ID, skips the Bootstrap-Server and orphans, reads the /1 settings', () => {
    const records = [
      rec('/0/0/0', Value.string('coaps://bs.example')),
      rec('/0/0/1', Value.boolean(true)),
      rec('/0/1/0', Value.string('coap://dm.example')),
      rec('/0/1/1', Value.boolean(false)),
      rec('/0/1/10', Value.integer(101)),
      rec('/0/2/0', Value.string('coap://orphan.example')),
      rec('/0/2/10', Value.integer(303)),
      rec('/1/0/0', Value.integer(101)),
      rec('/1/0/1', Value.integer(300)),
      rec('/1/0/5', Value.integer(60)),
      rec('/1/0/7', Value.string('UQ')),
      rec('/1/0/13', Value.unsigned(2)),
      rec('/1/0/14', Value.unsigned(30)),
      rec('/1/0/15', Value.boolean(true)),
      rec('/1/0/16', Value.boolean(false)),
      rec('/1/0/17', Value.unsigned(3)),
      rec('/1/0/18', Value.unsigned(10)),
      rec('/1/0/19', Value.unsigned(600)),
      rec('/1/0/20', Value.unsigned(2)),
      rec('/1/0/23', Value.boolean(true)),
      rec('/1/0/25/0', Value.string('1.1')),
      rec('/1/0/25/1', Value.string('1.2')),
      rec('/1/0/26', Value.integer(1)),
    ];
    assert.deepEqual(accountsFromRecords(records, { sms: '4915112345678' }), [
      {
        shortServerId: 101,
        uri: 'coap://dm.example',
        lifetime: 300,
        binding: 'U',
        queueMode: true,
        priorityOrder: 2,
        initialDelay: 30,
        failureBlock: true,
        bootstrapOnFailure: false,
        retryCount: 3,
        retryTimer: 10,
        sequenceDelay: 600,
        sequenceRetryCount: 2,
        supportedVersions: ['1.1', '1.2'],
        sms: '4915112345678',
        disableTimeout: 60,
        muteSend: true,
        defaultNotificationMode: 1,
      },
    ]);
  });

  it('defaults missing mandatory /1 values and skips a binding that does not parse', () => {
    const records = [
      rec('/0/0/0', Value.string('coap://a')),
      rec('/0/0/10', Value.integer(1)),
      rec('/1/0/0', Value.integer(1)),
      rec('/0/1/0', Value.string('coap://b')),
      rec('/0/1/10', Value.integer(2)),
      rec('/1/1/0', Value.integer(2)),
      rec('/1/1/7', Value.string('XZ')),
    ];
    assert.deepEqual(accountsFromRecords(records), [
      { shortServerId: 1, uri: 'coap://a', lifetime: 86400, binding: 'U' },
    ]);
  });
});

// ---- the engine ----

describe('RegistrationEngine: ordered and unordered procedures', () => {
  it('registers ordered servers in ascending priority, each after the previous completed plus its initial delay', async () => {
    const { clock, net, engine } = setup([
      account(1, { priorityOrder: 2, initialDelay: 30 }),
      account(2, { priorityOrder: 1, initialDelay: 10 }),
      account(3, { initialDelay: 5 }),
    ]);
    net.reply(2, 'timeout'); // server 2 completes only at its second attempt, 60 s after the first
    engine.start();
    assert.equal(engine.state(2), 'registering');
    assert.equal(engine.status(2)?.nextAttemptAt, 10_000);
    assert.equal(engine.state(1), 'idle', 'waits for its turn');
    await clock.run(1000);
    assert.deepEqual(
      net.log.map((s) => [s.t, s.ssid, s.request.kind]),
      [
        [5, 3, 'register'],
        [10, 2, 'register'],
        [70, 2, 'register'],
        [100, 1, 'register'],
      ],
    );
    assert.deepEqual(
      [1, 2, 3].map((ssid) => engine.state(ssid)),
      ['registered', 'registered', 'registered'],
    );
  });

  it('Registration Failure Block: a failed ordered server blocks the later ones and asks for a bootstrap', async () => {
    const { clock, net, engine, bootstraps } = setup([
      account(1, { priorityOrder: 1, failureBlock: true }),
      account(2, { priorityOrder: 2 }),
    ]);
    net.reply(1, { code: '4.03' });
    engine.start();
    await clock.run(10);
    assert.equal(engine.state(1), 'failed');
    assert.equal(engine.status(1)?.lastError?.code, '4.03');
    assert.equal(engine.state(2), 'idle');
    assert.equal(engine.status(2)?.blockedBy, 1);
    assert.equal(net.of(2).length, 0);
    assert.deepEqual(
      bootstraps.map((b) => [b.shortServerId, b.reason]),
      [[1, 'rejected']],
    );
  });

  it('without Failure Block the order moves on, and no bootstrap is asked for', async () => {
    const { clock, net, engine, bootstraps } = setup([
      account(1, { priorityOrder: 1, retryCount: 1 }),
      account(2, { priorityOrder: 2 }),
    ]);
    net.reply(1, 'timeout');
    engine.start();
    await clock.run(10);
    assert.equal(engine.state(1), 'failed');
    assert.equal(engine.state(2), 'registered');
    assert.deepEqual(bootstraps, []);
  });

  it('an unordered server asks for a bootstrap when rejected, unless Bootstrap on Failure is false', async () => {
    const { clock, net, engine, bootstraps } = setup([account(1), account(2, { bootstrapOnFailure: false })]);
    net.reply(1, { code: '4.00', diagnostic: 'bad ep' });
    net.reply(2, { code: '4.03' });
    engine.start();
    await clock.run(10);
    assert.equal(engine.state(1), 'failed');
    assert.equal(engine.state(2), 'failed');
    assert.equal(net.of(1).length, 1, 'a rejection is not retried');
    assert.deepEqual(
      bootstraps.map((b) => [b.shortServerId, b.reason, b.failure.message]),
      [[1, 'rejected', 'bad ep']],
    );
  });
});

describe('RegistrationEngine: retries', () => {
  it('retries at 60, 120, 240, 480 s, waits the sequence delay, then fails and asks for a bootstrap', async () => {
    const { clock, net, engine, bootstraps } = setup([account(1, { sequenceRetryCount: 2 })]);
    net.reply(1, ...Array<Reply>(10).fill('timeout'));
    const states: string[] = [];
    engine.on('state', (c) => states.push(c.to));
    engine.start();
    await clock.run(1);
    assert.equal(engine.state(1), 'waiting-retry');
    assert.deepEqual(
      [engine.status(1)?.attempt, engine.status(1)?.sequence, engine.status(1)?.nextAttemptAt],
      [2, 1, 60_000],
    );
    await clock.run(200_000);
    const first = [0, 60, 180, 420, 900];
    const second = first.map((t) => t + 900 + 86400);
    assert.deepEqual(
      net.of(1).map((s) => s.t),
      [...first, ...second],
    );
    assert.equal(engine.state(1), 'failed');
    assert.equal(engine.status(1)?.lastError?.code, 'timeout');
    assert.deepEqual(
      bootstraps.map((b) => [b.shortServerId, b.reason]),
      [[1, 'failed']],
    );
    assert.deepEqual(states.slice(0, 3), ['registering', 'waiting-retry', 'registering']);
    assert.equal(clock.pending, 0);
  });

  it('counts attempts from 1 again in each sequence, with custom timers; a 5.03 is a failed attempt', async () => {
    const { clock, net, engine } = setup([
      account(1, { retryCount: 2, retryTimer: 10, sequenceDelay: 100, sequenceRetryCount: 3 }),
    ]);
    const attempts: [number, number][] = [];
    engine.on('attempt-failed', (f) => attempts.push([f.sequence, f.attempt]));
    net.reply(1, { code: '5.03' }, 'timeout', 'timeout', 'timeout', 'timeout');
    engine.start();
    await clock.run(1000);
    assert.deepEqual(
      net.of(1).map((s) => s.t),
      [0, 10, 110, 120, 220, 230],
    );
    assert.deepEqual(attempts, [
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
      [3, 1],
    ]);
    assert.deepEqual([engine.status(1)?.sequence, engine.status(1)?.attempt], [3, 2]);
    assert.equal(engine.state(1), 'registered');
  });

  it('waits as long as an overloaded server asks (5.03 Max-Age), never less than its own back-off', async () => {
    const { clock, net, engine } = setup([account(1, { retryTimer: 10 })]);
    net.reply(1, { code: '5.03', retryAfter: 45 }, { code: '5.03', retryAfter: 5 });
    engine.start();
    await clock.run(200);
    // 45 s (the server's wish, above the 10 s back-off), then 20 s (the back-off, above 5 s).
    assert.deepEqual(
      net.of(1).map((s) => s.t),
      [0, 45, 65],
    );
    assert.equal(engine.state(1), 'registered');
  });

  it('4.29 Too Many Requests is a "later": a Register is retried after its Max-Age, an Update too, without a Register', async () => {
    const { clock, net, engine } = setup([account(1, { retryTimer: 10, lifetime: 600 })]);
    net.reply(1, { code: '4.29', retryAfter: 30 });
    engine.start();
    await clock.run(31);
    assert.equal(engine.state(1), 'registered', 'not rejected');
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind]),
      [
        [0, 'register'],
        [30, 'register'],
      ],
    );
    net.reply(1, { code: '4.29', retryAfter: 20 });
    void engine.update(1);
    await clock.run(25);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind]),
      [
        [0, 'register'],
        [30, 'register'],
        [31, 'update'],
        [51, 'update'],
      ],
    );
    assert.equal(engine.state(1), 'registered');
  });

  it('a send that throws is a failed attempt, not a crash', async () => {
    const { clock, net, engine } = setup([account(1, { retryTimer: 5 })]);
    net.reply(1, () => {
      throw new Error('socket closed');
    });
    engine.start();
    await clock.run(1);
    assert.equal(engine.status(1)?.lastError?.message, 'socket closed');
    await clock.run(10);
    assert.equal(engine.state(1), 'registered');
  });
});

describe('RegistrationEngine: version negotiation', () => {
  it('falls back from 1.2 to 1.1 on 4.12 at once, and remembers 1.1', async () => {
    const { clock, net, engine, state } = setup([account(1)]);
    net.reply(1, { code: '4.12' });
    const fallbacks: string[] = [];
    engine.on('version-fallback', (f) => fallbacks.push(`${f.from}->${f.to}`));
    engine.start();
    await clock.run(1);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, register(s).lwm2mVersion]),
      [
        [0, '1.2'],
        [0, '1.1'],
      ],
    );
    assert.equal(engine.versionFor(1), '1.1');
    assert.deepEqual(fallbacks, ['1.2->1.1']);
    // A later Register (after a 4.04 to an Update) starts from the version in use.
    net.reply(1, { code: '4.04' });
    state.accounts = [account(1, { lifetime: 300 })];
    await engine.update(1);
    await clock.run(1);
    assert.deepEqual(
      net.of(1, 'register').map((s) => register(s).lwm2mVersion),
      ['1.2', '1.1', '1.1'],
    );
  });

  it('uses /1/x/25 first, and fails as rejected when no version is left', async () => {
    const { clock, net, engine, bootstraps } = setup([account(1, { supportedVersions: ['1.1', '1.0'] })]);
    net.reply(1, { code: '4.12' }, { code: '4.12' });
    engine.start();
    await clock.run(1);
    assert.deepEqual(
      net.of(1).map((s) => register(s).lwm2mVersion),
      ['1.1', '1.0'],
    );
    assert.equal(engine.state(1), 'failed');
    assert.equal(bootstraps[0]?.reason, 'rejected');
  });
});

describe('RegistrationEngine: Profile ID', () => {
  const PID = dynamicProfileId(OBJECTS.objects);

  it('sends pid + list first, then only the pid, and recovers from 4.09 with the full list and no pid', async () => {
    const { clock, net, engine } = setup([account(1)], { profileId: 'dynamic' });
    const cycle = async (...replies: Reply[]): Promise<void> => {
      await engine.stop();
      net.reply(1, ...replies);
      engine.start();
      await clock.run(1);
    };
    engine.start();
    await clock.run(1);
    await cycle();
    await cycle({ code: '4.09' });
    await cycle();
    const registers = net.of(1, 'register').map(register);
    assert.deepEqual(
      registers.map((r) => [r.profileIds, r.objects === undefined ? 'no list' : r.objects.objects.length]),
      [
        [[PID], 3], // first: the server learns the pid
        [[PID], 'no list'], // the server knows it
        [[PID], 'no list'], // …or says it does not: 4.09
        [[], 3], // at once: full list, no pid
        [[PID], 3], // the next Register teaches the pid again
      ],
    );
    assert.equal(engine.state(1), 'registered');
  });

  it('never omits the list when it carries a root link, and sends no pid below 1.2', async () => {
    const withRoot = { ...OBJECTS, contentFormats: [110, 112] };
    const { clock, net, engine } = setup([account(1), account(2, { supportedVersions: ['1.1'] })], {
      profileId: 'dynamic',
      objects: () => withRoot,
    });
    engine.start();
    await clock.run(1);
    await engine.stop();
    engine.start();
    await clock.run(1);
    assert.deepEqual(
      net.of(1, 'register').map((s) => [register(s).profileIds, register(s).objects?.contentFormats]),
      [
        [[dynamicProfileId(OBJECTS.objects)], [110, 112]],
        [[dynamicProfileId(OBJECTS.objects)], [110, 112]],
      ],
    );
    assert.deepEqual(
      net.of(2, 'register').map((s) => register(s).profileIds),
      [[], []],
    );
  });

  it('a pre-configured id is sent alone; a dynamic-looking one is refused as an option', async () => {
    const { clock, net, engine } = setup([account(1)], { profileId: 'oma:basic-sensor' });
    engine.start();
    await clock.run(1);
    const r = register(net.of(1)[0]!);
    assert.deepEqual([r.profileIds, r.objects], [['oma:basic-sensor'], undefined]);
    assert.throws(() => setup([], { profileId: '6:abcdef12' }), RegistrationEngineError);
    assert.throws(() => setup([], { profileId: 'nonsense' }), { reason: 'bad-option' });
  });
});

describe('RegistrationEngine: Updates', () => {
  it('schedules the lifetime Update at lt − 10 %, again after each Update, never for lt 0', async () => {
    const { clock, net, engine } = setup([account(1, { lifetime: 300 }), account(2, { lifetime: 0 })]);
    engine.start();
    await clock.run(1000);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind, s.reason]),
      [
        [0, 'register', 'register'],
        [270, 'update', 'lifetime'],
        [540, 'update', 'lifetime'],
        [810, 'update', 'lifetime'],
      ],
    );
    assert.deepEqual(updateParams(net.of(1)[1]!), [], 'a lifetime Update carries no parameters');
    assert.equal(net.of(2).length, 1);
    assert.equal(engine.status(1)?.nextUpdateAt, 1_080_000);
    assert.equal(engine.status(2)?.nextUpdateAt, undefined);
  });

  it('spreads Update times with a RandomSource, within [lt − 2·margin, lt − margin]', async () => {
    const { clock, net, engine } = setup([account(1, { lifetime: 1000 })], { random: seededRandom(7) });
    engine.start();
    await clock.run(1000);
    const t = net.of(1, 'update')[0]!.t;
    assert.ok(t >= 800 && t <= 900, `update at ${t}`);
  });

  it('sends only what changed: lt, b, Q, sms, the object list; nothing for a refresh', async () => {
    const { clock, net, engine, state } = setup([account(1, { lifetime: 300 })]);
    engine.start();
    await clock.run(1);
    await engine.update(1);
    state.accounts = [account(1, { lifetime: 600 })];
    await engine.update(1);
    state.accounts = [account(1, { lifetime: 600, binding: 'UT', queueMode: true, sms: '4915112345678' })];
    await engine.update();
    await engine.update(1);
    state.objects = { objects: [...OBJECTS.objects, { id: 4, instances: [0] }] };
    await engine.update(1);
    await engine.update(1, { lifetime: 900 });
    const updates = net.of(1, 'update');
    assert.deepEqual(updates.map(updateParams), [
      [],
      ['lifetime'],
      ['binding', 'queueMode', 'sms'],
      [],
      ['objects'],
      ['lifetime'],
    ]);
    assert.equal(update(updates[1]!).lifetime, 600);
    assert.deepEqual(
      [update(updates[2]!).binding, update(updates[2]!).queueMode, update(updates[2]!).sms],
      ['UT', true, '4915112345678'],
    );
    assert.deepEqual(
      update(updates[4]!).objects?.objects.map((o) => o.id),
      [1, 3, 4, 3303],
    );
    assert.equal(update(updates[5]!).lifetime, 900);
    assert.ok(updates.every((u) => update(u).registrationId === engine.status(1)?.registrationId));
  });

  it('a 1.0 registration writes queue mode into the binding of the Update', async () => {
    const { clock, net, engine, state } = setup([account(1, { supportedVersions: ['1.0'] })]);
    engine.start();
    await clock.run(1);
    state.accounts = [account(1, { supportedVersions: ['1.0'], queueMode: true })];
    await engine.update(1);
    const u = update(net.of(1, 'update')[0]!);
    assert.deepEqual([u.binding, u.queueMode], ['U', true]);
  });

  it('leaving queue mode from 1.1 on takes a new Register (Q cannot be unset by an Update)', async () => {
    const { clock, net, engine, state } = setup([account(1, { queueMode: true })]);
    engine.start();
    await clock.run(1);
    state.accounts = [account(1, { queueMode: false })];
    await engine.update(1);
    await clock.run(1);
    assert.deepEqual(
      net.of(1).map((s) => [s.request.kind, s.request.kind === 'register' ? s.request.queueMode : '-']),
      [
        ['register', true],
        ['register', false],
      ],
    );
  });

  it('objectsChanged sends the full new list to every registered server, with the new pid', async () => {
    const { clock, net, engine, state } = setup([account(1), account(2)], { profileId: 'dynamic' });
    engine.start();
    await clock.run(1);
    const objects = [...OBJECTS.objects, { id: 6, instances: [0] }];
    state.objects = { objects };
    await engine.objectsChanged();
    for (const ssid of [1, 2]) {
      const u = update(net.of(ssid, 'update')[0]!);
      assert.deepEqual(
        u.objects?.objects.map((o) => o.id),
        [1, 3, 6, 3303],
      );
      assert.deepEqual(u.profileIds, [dynamicProfileId(objects)]);
    }
    // The server learnt the new pid with the list: the next Register may omit the list.
    await engine.stop();
    engine.start();
    await clock.run(1);
    assert.equal(register(net.of(1, 'register')[1]!).objects, undefined);
  });

  it('a 4.04 to an Update starts a full Register at once; so does an Update timeout', async () => {
    const { clock, net, engine } = setup([account(1, { lifetime: 100 })]);
    engine.start();
    await clock.run(1);
    const first = engine.status(1)?.registrationId;
    net.reply(1, { code: '4.04' });
    await clock.run(100);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind]),
      [
        [0, 'register'],
        [90, 'update'],
        [90, 'register'],
      ],
    );
    assert.ok(register(net.of(1)[2]!).objects !== undefined, 'full Register with the object list');
    assert.notEqual(engine.status(1)?.registrationId, first);
    assert.equal(engine.status(1)?.lastError?.code, '4.04');
    net.reply(1, 'timeout');
    await clock.run(90);
    assert.deepEqual(
      net
        .of(1)
        .map((s) => [s.t, s.request.kind])
        .slice(3),
      [
        [180, 'update'],
        [180, 'register'],
      ],
    );
    assert.equal(engine.state(1), 'registered');
  });
});

describe('RegistrationEngine: triggers, Disable, queue mode, stop', () => {
  it('Registration Update Trigger sends an Update and records a binding argument of /1/x/7', async () => {
    const { clock, net, engine } = setup([account(1, { binding: 'UT' })]);
    const requested: string[] = [];
    engine.on('binding-requested', (b) => requested.push(b.binding));
    engine.start();
    await clock.run(1);
    await engine.registrationUpdateTrigger(1, 'T');
    assert.deepEqual(
      net.of(1, 'update').map((s) => [s.reason, updateParams(s).length]),
      [['trigger', 0]],
    );
    assert.equal(engine.status(1)?.requestedBinding, 'T');
    assert.deepEqual(requested, ['T']);
    await assert.rejects(engine.registrationUpdateTrigger(1, 'S'), { reason: 'bad-binding' });
    await assert.rejects(engine.registrationUpdateTrigger(9), { reason: 'unknown-server' });
  });

  it('a trigger while waiting for a retry attempts at once', async () => {
    const { clock, net, engine } = setup([account(1)]);
    net.reply(1, 'timeout');
    engine.start();
    await clock.run(5);
    await engine.registrationUpdateTrigger(1);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind]),
      [
        [0, 'register'],
        [5, 'register'],
      ],
    );
    assert.equal(engine.state(1), 'registered');
  });

  it('Disable: De-register, silent for the Disable Timeout, then Register again without the initial delay', async () => {
    const { clock, net, engine } = setup([
      account(1, { disableTimeout: 50, initialDelay: 20, lifetime: 30 }),
    ]);
    engine.start();
    await clock.run(20);
    const id = engine.status(1)?.registrationId;
    await engine.disable(1);
    assert.equal(engine.state(1), 'disabled');
    assert.equal(engine.status(1)?.nextAttemptAt, 70_000);
    await engine.update(1);
    await engine.registrationUpdateTrigger(1);
    await clock.run(49);
    assert.deepEqual(
      net.of(1).map((s) => [s.t, s.request.kind]),
      [
        [20, 'register'],
        [20, 'deregister'],
      ],
      'silent while disabled, no lifetime Update either',
    );
    assert.deepEqual(net.of(1)[1]!.request, { kind: 'deregister', registrationId: id });
    await clock.run(1);
    assert.deepEqual(net.of(1).at(-1)?.t, 70);
    assert.equal(engine.state(1), 'registered');
  });

  it('waits timers longer than the host maximum (2^31−1 ms) exactly', async () => {
    const { clock, net, engine } = setup([account(1, { disableTimeout: 30 * 86400, lifetime: 0 })]);
    engine.start();
    await clock.run(1);
    await engine.disable(1);
    await clock.run(30 * 86400 - 1);
    assert.equal(engine.state(1), 'disabled');
    await clock.run(1);
    assert.equal(engine.state(1), 'registered');
    assert.equal(net.of(1).at(-1)?.t, 30 * 86400 + 1);
  });

  it('an objects() that throws fails the Register attempt, and an Update keeps the last list', async () => {
    let broken = true;
    const { clock, net, engine } = setup([account(1, { retryTimer: 10, lifetime: 60 })], {
      objects: () => {
        if (broken) throw new Error('tree unavailable');
        return OBJECTS;
      },
    });
    engine.start();
    await clock.run(1);
    assert.equal(engine.state(1), 'waiting-retry');
    assert.equal(engine.status(1)?.lastError?.message, 'tree unavailable');
    assert.equal(net.log.length, 0);
    broken = false;
    await clock.run(10);
    assert.equal(engine.state(1), 'registered');
    broken = true;
    await engine.objectsChanged();
    assert.deepEqual(updateParams(net.of(1, 'update')[0]!), []);
    assert.equal(engine.state(1), 'registered');
  });

  it('wake sends an Update to every registered server', async () => {
    const { clock, net, engine } = setup([account(1, { queueMode: true }), account(2, { queueMode: true })]);
    const events: string[] = [];
    engine.on('sleep', () => events.push('sleep'));
    engine.on('wake', () => events.push('wake'));
    engine.start();
    await clock.run(1);
    engine.sleep();
    assert.equal(engine.asleep, true);
    await engine.wake();
    assert.equal(engine.asleep, false);
    assert.deepEqual(
      net.log.filter((s) => s.request.kind === 'update').map((s) => [s.ssid, s.reason]),
      [
        [1, 'wake'],
        [2, 'wake'],
      ],
    );
    assert.deepEqual(events, ['sleep', 'wake']);
  });

  it('stop de-registers every server and cancels every timer; a Register answered after stop is undone', async () => {
    const { clock, net, engine } = setup([account(1), account(2, { retryTimer: 10 })]);
    net.reply(2, 'timeout');
    engine.start();
    await clock.run(1);
    assert.equal(engine.state(2), 'waiting-retry');
    await engine.stop();
    assert.deepEqual(
      net.log.filter((s) => s.request.kind === 'deregister').map((s) => s.ssid),
      [1],
    );
    assert.deepEqual([engine.state(1), engine.state(2)], ['idle', 'idle']);
    assert.equal(clock.pending, 0);
    // A Register still in flight when stop() is called is undone once its 2.01 arrives.
    let answer: ((r: UplinkResponse) => void) | undefined;
    const requests: AnyRequest[] = [];
    const slow = setup([account(3)], {
      send: (_a, req) => {
        requests.push(req);
        return req.kind === 'register'
          ? new Promise((resolve) => (answer = resolve))
          : Promise.resolve({ code: '2.02' });
      },
    });
    slow.engine.start();
    await slow.engine.stop();
    answer!({ code: '2.01', registrationId: 'late' });
    await settle();
    assert.equal(slow.engine.state(3), 'idle');
    assert.deepEqual(
      requests.map((r) => r.kind),
      ['register', 'deregister'],
    );
    assert.deepEqual(requests[1], { kind: 'deregister', registrationId: 'late' });
  });

  it('deregister(ssid) leaves that server idle; accountsChanged adds, drops and updates servers', async () => {
    const { clock, net, engine, state } = setup([account(1), account(2)]);
    engine.start();
    await clock.run(1);
    await engine.deregister(1);
    assert.deepEqual([engine.state(1), engine.state(2)], ['idle', 'registered']);
    state.accounts = [account(2, { lifetime: 120 }), account(3)];
    await engine.accountsChanged();
    await clock.run(1);
    assert.equal(engine.state(1), undefined);
    assert.equal(engine.state(3), 'registered');
    assert.deepEqual(updateParams(net.of(2, 'update')[0]!), ['lifetime']);
  });
});
