import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, getUint } from '../../src/coap/options.js';
import { seededRandom } from '../../src/random.js';
import { RegisterAdmission } from '../../src/server/admission.js';
import { code, startHarness, text } from './server-harness.js';

const LT = ['lt=300', 'lwm2m=1.2', 'b=U'];

describe('RegisterAdmission', () => {
  it('admits a burst, then registerRate per second; refusals say when to come back, spread over [r, 2r)', () => {
    const clock = new FakeClock(0);
    const a = new RegisterAdmission(
      { registerRate: 5, registerBurst: 10, retryAfter: 20 },
      clock,
      seededRandom(3),
    );
    const first = Array.from({ length: 12 }, () => a.admit(0, false));
    for (const v of first) if (v.admitted) a.done();
    assert.equal(first.filter((v) => v.admitted).length, 10);
    const refused = first.filter((v) => !v.admitted);
    assert.deepEqual(
      refused.map((v) => v.reason),
      ['rate', 'rate'],
    );
    for (const v of refused)
      assert.ok(v.retryAfter! >= 20 && v.retryAfter! < 40, `retryAfter ${v.retryAfter}`);
    clock.advance(1000); // five tokens back
    const next = Array.from({ length: 6 }, () => a.admit(0, false).admitted);
    assert.deepEqual(next, [true, true, true, true, true, false]);
    assert.deepEqual(a.stats, { admitted: 15, refused: { registrations: 0, rate: 3, pending: 0 } });
  });

  it('caps the registrations held, but lets a registered endpoint register again', () => {
    const a = new RegisterAdmission({ maxRegistrations: 100 }, new FakeClock(0), seededRandom(1));
    assert.equal(a.admit(99, false).admitted, true);
    a.done();
    assert.deepEqual([a.admit(100, false).admitted, a.admit(100, false).reason], [false, 'registrations']);
    assert.equal(a.admit(100, true).admitted, true, 're-registering does not grow the count');
  });

  it('caps the Registers in progress until done() is called', () => {
    const a = new RegisterAdmission({ maxPendingRegisters: 2 }, new FakeClock(0), seededRandom(1));
    assert.equal(a.admit(0, false).admitted, true);
    assert.equal(a.admit(0, false).admitted, true);
    assert.equal(a.admit(0, false).reason, 'pending');
    a.done();
    assert.equal(a.admit(0, false).admitted, true);
  });

  it('refuses nonsense limits with a message naming them', () => {
    assert.throws(
      () => new RegisterAdmission({ registerRate: 0 }, new FakeClock(0), seededRandom(1)),
      /admission\.registerRate must be a number above 0/,
    );
    assert.throws(
      () => new RegisterAdmission({ maxRegistrations: Number.NaN }, new FakeClock(0), seededRandom(1)),
      /admission\.maxRegistrations/,
    );
  });
});

describe('LwM2mServer under overload (admission)', () => {
  it('past maxRegistrations answers 5.03 with Max-Age, and keeps serving the registered clients', async () => {
    const h = await startHarness({ admission: { maxRegistrations: 2, retryAfter: 60 } });
    try {
      const a = h.newDevice('10.0.1.1');
      const b = h.newDevice('10.0.1.2');
      const c = h.newDevice('10.0.1.3');
      assert.equal(code(await a.register(['ep=dev-a', ...LT])), '2.01');
      assert.equal(code(await b.register(['ep=dev-b', ...LT])), '2.01');
      const refused = await c.register(['ep=dev-c', ...LT]);
      assert.equal(code(refused), '5.03');
      const maxAge = getUint(refused, OptionNumber.MAX_AGE);
      assert.ok(maxAge !== undefined && maxAge >= 60 && maxAge < 120, `Max-Age ${maxAge}`);
      assert.match(text(refused), /as many registrations as it may/);
      assert.equal(await h.server.getRegistration('dev-c'), undefined);
      // Registered clients: Update and a fresh Register of the same endpoint still go through.
      assert.equal(code(await a.update(['lt=600'])), '2.04');
      assert.equal(code(await b.register(['ep=dev-b', ...LT])), '2.01');
      assert.equal(code(await a.deregister()), '2.02');
      // Room again: the third device gets in.
      assert.equal(code(await c.register(['ep=dev-c', ...LT])), '2.01');
      assert.deepEqual(h.server.admissionStats?.refused, { registrations: 1, rate: 0, pending: 0 });
    } finally {
      await h.close();
    }
  });

  it('a registration storm beyond registerRate: the burst is admitted, the rest told to come back', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ admission: { registerRate: 4, retryAfter: 10 } }, clock);
    try {
      const devices = Array.from({ length: 10 }, (_, i) => h.newDevice(`10.0.2.${i + 1}`));
      const answers = await Promise.all(devices.map((d, i) => d.register([`ep=storm-${i}`, ...LT])));
      const codes = answers.map((m) => m.code);
      assert.equal(codes.filter((c) => c === CoapCode.CREATED).length, 4);
      assert.equal(codes.filter((c) => c === CoapCode.SERVICE_UNAVAILABLE).length, 6);
      for (const m of answers.filter((x) => x.code === CoapCode.SERVICE_UNAVAILABLE))
        assert.ok(getUint(m, OptionNumber.MAX_AGE)! >= 10);
      assert.equal((await h.server.registrations()).length, 4);
    } finally {
      await h.close();
    }
  });
});
