import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  BootstrapAccountInfo,
  BootstrapEngineEvents,
  BootstrapEngineOptions,
} from '../../src/client/bootstrap-engine.js';
import { BootstrapEngine, DEFAULT_FINISH_TIMEOUT } from '../../src/client/bootstrap-engine.js';
import { BootstrapSession } from '../../src/client/bootstrap-session.js';
import {
  createDeviceInstance,
  createSecurityInstance,
  createServerInstance,
} from '../../src/client/core-instances.js';
import type { TreeResult } from '../../src/client/instance.js';
import { ObjectTree } from '../../src/client/object-tree.js';
import { FakeClock } from '../../src/clock.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import type {
  BootstrapPackRequest,
  BootstrapRequestRequest,
  DownlinkRequest,
  UplinkResponse,
} from '../../src/operations/requests.js';
import { plain, rec } from '../support/records.js';

const FINISH: DownlinkRequest = { kind: 'bootstrap-finish' };
const WRITE: DownlinkRequest = {
  kind: 'bootstrap-write',
  path: LwM2mPath.parse('/1/0/1'),
  records: [rec('/1/0/1', Value.integer(60))],
};
const PACK: LwM2mRecord[] = [
  rec('/0/1/0', Value.string('coap://dm.example')),
  rec('/0/1/10', Value.integer(1)),
  rec('/1/0/0', Value.integer(1)),
];

/** A session that records what the engine asks of it. */
class FakeSession {
  readonly calls: string[] = [];
  readonly handled: DownlinkRequest[] = [];
  packs: (readonly LwM2mRecord[])[] = [];
  checkResult: TreeResult<void> = { ok: true, value: undefined };
  packResult: TreeResult<void> = { ok: true, value: undefined };

  handle(request: DownlinkRequest) {
    this.handled.push(request);
    this.calls.push(`handle:${request.kind}`);
    return { response: { code: '2.04' as const } };
  }
  check(): TreeResult<void> {
    this.calls.push('check');
    return this.checkResult;
  }
  commit(): void {
    this.calls.push('commit');
  }
  rollback(): void {
    this.calls.push('rollback');
  }
  applyPack(records: readonly LwM2mRecord[]): TreeResult<void> {
    this.packs.push(records);
    this.calls.push('applyPack');
    return this.packResult;
  }
}

type Uplink = BootstrapRequestRequest | BootstrapPackRequest;
type Reply = UplinkResponse | Error | 'pending';

interface Rig {
  clock: FakeClock;
  engine: BootstrapEngine;
  sent: { request: Uplink; at: number }[];
  sessions: FakeSession[];
  committed: { session: BootstrapSession; mode: 'request' | 'pack' }[];
  events: string[];
  failed: BootstrapEngineEvents['failed'][0][];
  /** Answers to the next uplinks, in order; when empty, Bootstrap-Request gets 2.04. */
  replies: Reply[];
  /** Resolves the last 'pending' uplink. */
  release: (r: UplinkResponse | Error) => void;
  /** What the next opened session is set up with. */
  nextSession: (s: FakeSession) => void;
}

function rig(
  over: Partial<BootstrapEngineOptions> = {},
  account: BootstrapAccountInfo | null = {
    instanceId: 0,
    uri: 'coap://bs.example:5683',
    holdOffTime: 0,
    accountTimeout: 0,
  },
): Rig {
  const clock = new FakeClock(0);
  const r = {
    clock,
    sent: [],
    sessions: [],
    committed: [],
    events: [],
    failed: [],
    replies: [],
    release: () => assert.fail('nothing pending'),
    nextSession: () => undefined,
  } as unknown as Rig;
  r.engine = new BootstrapEngine({
    clock,
    endpoint: 'ep1',
    account: () => account ?? undefined,
    send: (request) => {
      r.sent.push({ request, at: clock.now() });
      const reply = r.replies.shift() ?? { code: request.kind === 'bootstrap-request' ? '2.04' : '4.04' };
      if (reply === 'pending')
        return new Promise<UplinkResponse>((resolve, reject) => {
          r.release = (x) => (x instanceof Error ? reject(x) : resolve(x));
        });
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
    openSession: () => {
      const s = new FakeSession();
      r.nextSession(s);
      r.sessions.push(s);
      return s as unknown as BootstrapSession;
    },
    onCommitted: (session, mode) => {
      r.committed.push({ session, mode });
      r.events.push(`committed:${mode}`);
      return Promise.resolve();
    },
    retry: { initial: 1000, max: 3000 },
    ...over,
  });
  for (const name of ['started', 'pack-fallback', 'succeeded', 'failed'] as const)
    r.engine.on(name, (info: { reason?: string; mode?: string }) => {
      r.events.push(`${name}${info.reason ? `:${info.reason}` : info.mode ? `:${info.mode}` : ''}`);
      if (name === 'failed') r.failed.push(info as BootstrapEngineEvents['failed'][0]);
    });
  r.engine.on('error', (e) => r.events.push(`error:${String(e)}`));
  return r;
}

/** Lets pending promise callbacks and setImmediate callbacks run. */
async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Starts a bootstrap and lets it reach the open session (Bootstrap-Request answered 2.04). */
async function startSession(
  r: Rig,
  trigger: Parameters<BootstrapEngine['request']>[0] = 'no-servers',
): Promise<{ done: Promise<boolean> }> {
  const done = r.engine.request(trigger);
  r.clock.advance(0);
  await flush();
  return { done }; // wrapped: an async function would otherwise wait for the run to end
}

describe('BootstrapEngine: Bootstrap-Request', () => {
  it('waits the Client Hold Off Time (/0/x/11) before the first send', async () => {
    const r = rig({}, { instanceId: 0, uri: 'coap://bs.example', holdOffTime: 5, accountTimeout: 0 });
    void r.engine.request('no-servers');
    assert.equal(r.engine.state, 'holding-off');
    r.clock.advance(4999);
    await flush();
    assert.equal(r.sent.length, 0);
    r.clock.advance(1);
    await flush();
    assert.equal(r.sent.length, 1);
    assert.equal(r.sent[0]!.at, 5000);
    assert.deepEqual(r.sent[0]!.request, {
      kind: 'bootstrap-request',
      endpoint: 'ep1',
      preferredFormat: undefined,
    });
    assert.equal(r.engine.state, 'in-session');
  });

  it('sends pct when given', async () => {
    const r = rig({ preferredFormat: 112 });
    void startSession(r);
    await flush();
    assert.deepEqual(r.sent[0]!.request, {
      kind: 'bootstrap-request',
      endpoint: 'ep1',
      preferredFormat: 112,
    });
  });

  it('Request 2.04, operations, Finish 2.04: commits after the answer, succeeds, resolves true', async () => {
    const r = rig();
    const { done } = await startSession(r);
    assert.equal(r.engine.inSession, true);
    assert.equal(r.engine.handle(WRITE).response.code, '2.04');
    const session = r.sessions[0]!;
    assert.deepEqual(session.handled, [WRITE]);
    const answer = r.engine.handle(FINISH);
    assert.equal(answer.response.code, '2.04');
    assert.deepEqual(session.calls, ['handle:bootstrap-write', 'check', 'commit']);
    assert.equal(r.committed.length, 0, 'the Finish answer leaves before the client acts on it');
    assert.equal(r.engine.inSession, false);
    await flush();
    assert.equal(r.committed.length, 1);
    assert.equal(r.committed[0]!.session, session as unknown as BootstrapSession);
    assert.equal(r.committed[0]!.mode, 'request');
    assert.equal(await done, true);
    assert.deepEqual(r.events, ['started:request', 'committed:request', 'succeeded:request']);
    assert.equal(r.engine.state, 'idle');
    assert.equal(r.clock.pending, 0, 'no timer left (the Finish timer is cleared)');
  });

  it('Finish whose checks fail: 4.06, rollback, failed "inconsistent", resolves false', async () => {
    const r = rig();
    r.nextSession = (s) => {
      s.checkResult = { ok: false, code: '4.06', message: '/1/0 (server 1) has no /0 instance' };
    };
    const { done } = await startSession(r);
    const answer = r.engine.handle(FINISH);
    assert.equal(answer.response.code, '4.06');
    assert.match(answer.response.diagnostic ?? '', /no \/0 instance/);
    assert.deepEqual(r.sessions[0]!.calls, ['check', 'rollback']);
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.reason, 'inconsistent');
    assert.equal(r.failed[0]?.code, '4.06');
    await flush();
    assert.equal(r.committed.length, 0);
    assert.equal(r.engine.inSession, false);
    assert.equal(r.engine.handle(FINISH).response.code, '4.01', 'the session is over');
  });

  it('no Finish within the Finish timeout: failed "finish-timeout" and rollback', async () => {
    const r = rig({ finishTimeout: 10_000 });
    const { done } = await startSession(r);
    r.clock.advance(6000);
    r.engine.handle(WRITE); // every request from the Bootstrap-Server re-arms the timer
    r.clock.advance(9999);
    assert.equal(r.failed.length, 0);
    r.clock.advance(1);
    assert.equal(r.failed[0]?.reason, 'finish-timeout');
    assert.deepEqual(r.sessions[0]!.calls, ['handle:bootstrap-write', 'rollback']);
    assert.equal(await done, false);
    assert.equal(r.engine.handle(FINISH).response.code, '4.01');
  });

  it('the default Finish timeout is EXCHANGE_LIFETIME (247 s)', async () => {
    assert.equal(DEFAULT_FINISH_TIMEOUT, 247_000);
    const r = rig({ retry: { initial: 1_000_000 } });
    await startSession(r);
    r.clock.advance(246_999);
    assert.equal(r.failed.length, 0);
    r.clock.advance(1);
    assert.equal(r.failed[0]?.reason, 'finish-timeout');
  });

  it('a rejected Bootstrap-Request retries after the initial delay, doubling up to the maximum', async () => {
    const r = rig();
    r.replies.push(
      { code: '4.00', diagnostic: 'unknown endpoint' },
      { code: '4.00' },
      { code: '4.00' },
      { code: '4.00' },
    );
    const { done } = await startSession(r);
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.reason, 'rejected');
    assert.equal(r.failed[0]?.code, '4.00');
    assert.match(r.failed[0]?.message ?? '', /unknown endpoint/);
    assert.deepEqual(r.sessions[0]!.calls, ['rollback']);
    assert.equal(r.engine.state, 'waiting-retry');
    for (const delay of [1000, 2000, 3000, 3000]) {
      const before = r.sent.length;
      r.clock.advance(delay - 1);
      await flush();
      assert.equal(r.sent.length, before, `nothing before ${delay} ms`);
      r.clock.advance(1);
      await flush();
      assert.equal(r.sent.length, before + 1, `a retry after ${delay} ms`);
    }
    assert.deepEqual(
      r.sent.map((s) => s.at),
      [0, 1000, 3000, 6000, 9000],
    );
    // The fifth attempt is answered 2.04 (no replies left) and succeeds: the delay starts over.
    r.engine.handle(FINISH);
    await flush();
    assert.equal(r.engine.state, 'idle');
    assert.equal(r.events.at(-1), 'succeeded:request');
  });

  it('an unreachable Bootstrap-Server counts as a failure and is retried', async () => {
    const r = rig();
    r.replies.push(new Error('CoAP timeout'));
    const { done } = await startSession(r);
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.reason, 'unreachable');
    assert.match(r.failed[0]?.message ?? '', /CoAP timeout/);
    assert.equal(r.engine.state, 'waiting-retry');
  });

  it('a server-initiated bootstrap that fails is not retried (the old configuration works)', async () => {
    const r = rig();
    r.replies.push({ code: '4.00' });
    const { done } = await startSession(r, 'server-initiated');
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.trigger, 'server-initiated');
    assert.equal(r.engine.state, 'idle');
    assert.equal(r.clock.pending, 0);
    r.clock.advance(10_000_000);
    await flush();
    assert.equal(r.sent.length, 1);
  });

  it('without a Bootstrap-Server account: failed "no-account", nothing sent, no retry', async () => {
    const r = rig({}, null);
    const done = r.engine.request('no-servers');
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.reason, 'no-account');
    assert.equal(r.engine.state, 'idle');
    assert.equal(r.clock.pending, 0);
    assert.equal(r.sent.length, 0);
  });

  it('the Bootstrap-Server may write before the 2.04 of the Bootstrap-Request arrives', async () => {
    const r = rig();
    r.replies.push('pending');
    const done = r.engine.request('application');
    r.clock.advance(0);
    await flush();
    assert.equal(r.engine.state, 'requesting');
    assert.equal(r.engine.handle(WRITE).response.code, '2.04');
    r.release({ code: '2.04' });
    await flush();
    assert.equal(r.engine.state, 'in-session');
    r.engine.handle(FINISH);
    assert.equal(await done, true);
  });

  it('a Finish before the 2.04 of the Bootstrap-Request still succeeds once', async () => {
    const r = rig();
    r.replies.push('pending');
    const done = r.engine.request('application');
    r.clock.advance(0);
    await flush();
    assert.equal(r.engine.handle(FINISH).response.code, '2.04');
    r.release({ code: '2.04' });
    await flush();
    assert.equal(await done, true);
    assert.deepEqual(r.events, ['started:request', 'committed:request', 'succeeded:request']);
    assert.equal(r.engine.state, 'idle');
  });

  it('a Finish already committed is not undone by a late failure of the Bootstrap-Request', async () => {
    const r = rig();
    r.replies.push('pending');
    const done = r.engine.request('no-servers');
    r.clock.advance(0);
    await flush();
    assert.equal(r.engine.handle(FINISH).response.code, '2.04');
    r.release(new Error('CoAP timeout'));
    await flush();
    assert.equal(await done, true);
    assert.deepEqual(r.failed, []);
    assert.equal(r.engine.state, 'idle');
  });

  it('an error from onCommitted is reported as an error event, the run still succeeds', async () => {
    const r = rig({ onCommitted: () => Promise.reject(new Error('save failed')) });
    const { done } = await startSession(r);
    r.engine.handle(FINISH);
    assert.equal(await done, true);
    assert.ok(r.events.includes('error:Error: save failed'), r.events.join(' '));
  });
});

describe('BootstrapEngine: Bootstrap-Pack-Request', () => {
  it('2.05 with records: applies the Pack, commits, no Bootstrap-Request', async () => {
    const r = rig({
      packFirst: true,
      packAccounts: () => [LwM2mPath.parse('/0/0')],
    });
    r.replies.push({ code: '2.05', records: PACK });
    const done = r.engine.request('no-servers');
    r.clock.advance(0);
    assert.equal(await done, true);
    assert.equal(r.sent.length, 1);
    assert.deepEqual(r.sent[0]!.request, {
      kind: 'bootstrap-pack-request',
      endpoint: 'ep1',
      accept: 112,
      accounts: [LwM2mPath.parse('/0/0')],
    });
    assert.deepEqual(r.sessions[0]!.packs, [PACK]);
    assert.deepEqual(r.sessions[0]!.calls, ['applyPack', 'check', 'commit']);
    assert.deepEqual(r.events, ['started:pack', 'committed:pack', 'succeeded:pack']);
    assert.equal(r.engine.inSession, false);
    assert.equal(r.engine.handle(FINISH).response.code, '4.01', 'a Pack has no Finish');
    assert.equal(r.clock.pending, 0);
  });

  it('packFormat sets Accept; an empty acc list is left out', async () => {
    const r = rig({ packFirst: true, packFormat: 110, packAccounts: () => [] });
    r.replies.push({ code: '2.05', records: PACK });
    const done = r.engine.request('application');
    r.clock.advance(0);
    await done;
    assert.deepEqual(r.sent[0]!.request, {
      kind: 'bootstrap-pack-request',
      endpoint: 'ep1',
      accept: 110,
      accounts: undefined,
    });
  });

  for (const [label, reply, code] of [
    ['a 4.00 answer', { code: '4.00' }, '4.00'],
    ['a 5.01 answer', { code: '5.01' }, '5.01'],
    ['2.05 without records', { code: '2.05' }, '2.05'],
    ['a thrown error', new Error('unreachable'), undefined],
  ] as const) {
    it(`${label}: pack-fallback, then Bootstrap-Request`, async () => {
      const r = rig({ packFirst: true });
      r.replies.push(reply);
      const infos: { code: string | undefined }[] = [];
      r.engine.on('pack-fallback', (info) => infos.push(info));
      const done = r.engine.request('no-servers');
      r.clock.advance(0);
      await flush();
      assert.deepEqual(
        r.sent.map((s) => s.request.kind),
        ['bootstrap-pack-request', 'bootstrap-request'],
      );
      assert.deepEqual(
        r.events.slice(0, 3).map((e) => e.split(':')[0]),
        ['started', 'pack-fallback', 'started'],
      );
      assert.deepEqual(
        infos.map((i) => i.code),
        [code],
      );
      r.engine.handle(FINISH);
      assert.equal(await done, true);
      assert.deepEqual(
        r.committed.map((c) => c.mode),
        ['request'],
      );
    });
  }

  it('the pack-fallback event carries the code and reason', async () => {
    const r = rig({ packFirst: true });
    r.replies.push({ code: '4.05', diagnostic: 'no packs here' });
    const infos: unknown[] = [];
    r.engine.on('pack-fallback', (info) => infos.push(info));
    void r.engine.request('no-servers');
    r.clock.advance(0);
    await flush();
    assert.deepEqual(infos, [{ code: '4.05', reason: 'no packs here' }]);
  });

  it('a Pack that cannot be applied, or fails the checks, is rolled back and falls back', async () => {
    for (const setup of [
      (s: FakeSession) => (s.packResult = { ok: false, code: '4.00', message: 'no server account' }),
      (s: FakeSession) => (s.checkResult = { ok: false, code: '4.06', message: 'duplicate ssid' }),
    ]) {
      const r = rig({ packFirst: true });
      r.replies.push({ code: '2.05', records: PACK });
      let first = true;
      r.nextSession = (s) => {
        if (first) setup(s);
        first = false;
      };
      const infos: { code: string | undefined; reason: string }[] = [];
      r.engine.on('pack-fallback', (info) => infos.push(info));
      void r.engine.request('no-servers');
      r.clock.advance(0);
      await flush();
      assert.equal(r.sessions[0]!.calls.at(-1), 'rollback');
      assert.ok(!r.sessions[0]!.calls.includes('commit'));
      assert.match(infos[0]?.reason ?? '', /no server account|duplicate ssid/);
      assert.equal(r.sent.at(-1)?.request.kind, 'bootstrap-request');
      assert.equal(r.committed.length, 0);
    }
  });
});

describe('BootstrapEngine: sessions and control', () => {
  it('handle() outside a session answers 4.01', () => {
    const r = rig();
    assert.equal(r.engine.handle(WRITE).response.code, '4.01');
    assert.equal(r.engine.handle(FINISH).response.code, '4.01');
    assert.equal(r.sessions.length, 0);
  });

  it('handle() during the hold-off answers 4.01 (no Bootstrap-Request yet)', () => {
    const r = rig({}, { instanceId: 0, uri: 'coap://bs.example', holdOffTime: 5, accountTimeout: 0 });
    void r.engine.request('no-servers');
    assert.equal(r.engine.handle(WRITE).response.code, '4.01');
  });

  it('stop() during a session rolls back, fails with "stopped" and does not retry', async () => {
    const r = rig();
    const states: string[] = [];
    r.engine.on('state', ({ to }) => states.push(to));
    const { done } = await startSession(r);
    r.engine.handle(WRITE);
    r.engine.stop();
    assert.equal(await done, false);
    assert.equal(r.failed[0]?.reason, 'stopped');
    assert.deepEqual(r.sessions[0]!.calls, ['handle:bootstrap-write', 'rollback']);
    assert.equal(r.engine.state, 'idle');
    assert.equal(states.at(-1), 'idle');
    assert.equal(r.clock.pending, 0);
    assert.equal(r.engine.handle(FINISH).response.code, '4.01');
  });

  it('stop() during the hold-off cancels the send', async () => {
    const r = rig({}, { instanceId: 0, uri: 'coap://bs.example', holdOffTime: 5, accountTimeout: 0 });
    const done = r.engine.request('no-servers');
    r.engine.stop();
    assert.equal(await done, false);
    r.clock.advance(10_000);
    await flush();
    assert.equal(r.sent.length, 0);
  });

  it('stop() while waiting to retry cancels the retry', async () => {
    const r = rig();
    r.replies.push({ code: '4.03' });
    await startSession(r);
    assert.equal(r.engine.state, 'waiting-retry');
    r.engine.stop();
    assert.equal(r.engine.state, 'idle');
    r.clock.advance(100_000);
    await flush();
    assert.equal(r.sent.length, 1);
  });

  it('stop() when idle does nothing', () => {
    const r = rig();
    r.engine.stop();
    assert.deepEqual(r.events, []);
  });

  it('request() while a run is going joins it: one send, both resolve', async () => {
    const r = rig({}, { instanceId: 0, uri: 'coap://bs.example', holdOffTime: 1, accountTimeout: 0 });
    const a = r.engine.request('no-servers');
    const b = r.engine.request('application');
    r.clock.advance(1000);
    await flush();
    const c = r.engine.request('application'); // in-session
    r.engine.handle(FINISH);
    assert.deepEqual(await Promise.all([a, b, c]), [true, true, true]);
    assert.equal(r.sent.length, 1);
    assert.equal(r.sessions.length, 1);
  });

  it('request() while waiting to retry starts over at once (after the hold-off)', async () => {
    const r = rig();
    r.replies.push({ code: '4.00' });
    await startSession(r);
    assert.equal(r.engine.state, 'waiting-retry');
    const again = r.engine.request('application');
    r.clock.advance(0);
    await flush();
    assert.equal(r.sent.length, 2);
    r.engine.handle(FINISH);
    assert.equal(await again, true);
    r.clock.advance(100_000);
    await flush();
    assert.equal(r.sent.length, 2, 'the old retry timer is gone');
  });

  it('stop() while the Bootstrap-Request is on its way: a late 2.04 opens nothing', async () => {
    const r = rig();
    r.replies.push('pending');
    const done = r.engine.request('no-servers');
    r.clock.advance(0);
    await flush();
    r.engine.stop();
    assert.equal(await done, false);
    r.release({ code: '2.04' });
    await flush();
    assert.equal(r.engine.state, 'idle');
    assert.equal(r.engine.inSession, false);
    assert.equal(r.engine.handle(FINISH).response.code, '4.01');
    assert.deepEqual(r.sessions[0]!.calls, ['rollback']);
  });

  it('request() from a "succeeded" listener starts a run whose promise waits for that run', async () => {
    const r = rig();
    let next: Promise<boolean> | undefined;
    r.engine.once('succeeded', () => {
      next = r.engine.request('application');
    });
    const { done } = await startSession(r);
    r.engine.handle(FINISH);
    assert.equal(await done, true);
    assert.ok(next);
    let settled = false;
    void next.then(() => (settled = true));
    await flush();
    assert.equal(settled, false, 'the second run has not even sent its Bootstrap-Request');
  });

  it('request() from a "failed" listener is not answered with the failure it reacts to', async () => {
    const r = rig({ retry: { initial: 60_000 } });
    r.replies.push({ code: '4.00' });
    let next: Promise<boolean> | undefined;
    r.engine.once('failed', () => {
      next = r.engine.request('application');
    });
    const { done } = await startSession(r);
    assert.equal(await done, false);
    assert.ok(next);
    let settled = false;
    void next.then(() => (settled = true));
    await flush();
    assert.equal(settled, false);
  });

  it('state goes idle → holding-off → requesting → in-session → idle', async () => {
    const r = rig();
    const states: string[] = [];
    r.engine.on('state', ({ from, to }) => states.push(`${from}>${to}`));
    const { done } = await startSession(r);
    r.engine.handle(FINISH);
    await done;
    assert.deepEqual(states, [
      'idle>holding-off',
      'holding-off>requesting',
      'requesting>in-session',
      'in-session>idle',
    ]);
  });
});

describe('BootstrapEngine with a real BootstrapSession', () => {
  function tree(): ObjectTree {
    const t = new ObjectTree({ model: createDefaultRegistry() });
    t.addObject(0).addObject(1).addObject(3);
    t.addInstance(
      createSecurityInstance({ instanceId: 0, serverUri: 'coap://bs.example:5683', bootstrapServer: true }),
    );
    t.addInstance(
      createSecurityInstance({ instanceId: 1, serverUri: 'coap://old.example:5683', shortServerId: 1 }),
    );
    t.addInstance(createServerInstance({ instanceId: 0, shortServerId: 1 }));
    t.addInstance(createDeviceInstance({ now: () => 0 }));
    return t;
  }
  const records = (t: ObjectTree, path: string): LwM2mRecord[] => {
    const read = t.read(LwM2mPath.parse(path));
    assert.ok(read.ok, read.ok ? '' : read.message);
    return read.value;
  };
  const dump = (t: ObjectTree) => ['/0', '/1'].map((p) => plain(records(t, p)));
  const NEW_ACCOUNT: DownlinkRequest[] = [
    { kind: 'bootstrap-delete', path: LwM2mPath.ROOT },
    {
      kind: 'bootstrap-write',
      path: LwM2mPath.parse('/0/1'),
      records: [
        rec('/0/1/0', Value.string('coap://new.example:5683')),
        rec('/0/1/1', Value.boolean(false)),
        rec('/0/1/2', Value.integer(3)),
        rec('/0/1/10', Value.integer(2)),
      ],
    },
    {
      kind: 'bootstrap-write',
      path: LwM2mPath.parse('/1/0'),
      records: [
        rec('/1/0/0', Value.integer(2)),
        rec('/1/0/1', Value.integer(60)),
        rec('/1/0/7', Value.string('U')),
      ],
    },
  ];

  function realRig(t: ObjectTree) {
    return rig({
      openSession: () => new BootstrapSession({ tree: t, lwm2mVersion: '1.2', sourceOf: () => undefined }),
    });
  }

  it('a good session is kept after Finish', async () => {
    const t = tree();
    const r = realRig(t);
    const { done } = await startSession(r);
    for (const req of NEW_ACCOUNT) assert.match(r.engine.handle(req).response.code, /^2\./);
    assert.equal(r.engine.handle(FINISH).response.code, '2.04');
    assert.equal(await done, true);
    assert.equal(r.committed[0]!.session.removedServers.has(1), true);
    assert.deepEqual(dump(t)[0]?.[0], { path: '/0/0/0', type: 'string', value: 'coap://bs.example:5683' });
    assert.deepEqual(t.instanceIds(0), [0, 1]);
    assert.deepEqual(records(t, '/0/1/0')[0]?.value, Value.string('coap://new.example:5683'));
    assert.deepEqual(t.instanceIds(1), [0]);
    assert.deepEqual(records(t, '/1/0/0')[0]?.value, Value.integer(2));
  });

  it('a Finish answered 4.06 leaves the configuration as it was before the session', async () => {
    const t = tree();
    const before = dump(t);
    const r = realRig(t);
    const { done } = await startSession(r);
    // The /1 is missing: the account is unusable.
    for (const req of NEW_ACCOUNT.slice(0, 2)) r.engine.handle(req);
    assert.notDeepEqual(dump(t), before);
    const answer = r.engine.handle(FINISH);
    assert.equal(answer.response.code, '4.06');
    assert.equal(await done, false);
    assert.deepEqual(dump(t), before);
  });

  it('a Finish timeout leaves the configuration as it was', async () => {
    const t = tree();
    const before = dump(t);
    const r = realRig(t);
    const { done } = await startSession(r);
    for (const req of NEW_ACCOUNT) r.engine.handle(req);
    r.clock.advance(DEFAULT_FINISH_TIMEOUT);
    assert.equal(await done, false);
    assert.deepEqual(dump(t), before);
  });
});
