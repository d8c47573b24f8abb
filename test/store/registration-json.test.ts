import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registrationFromJson, registrationToJson } from '../../src/store/registration-json.js';
import { fullRegistration } from './registration-store-contract.js';

describe('registration JSON', () => {
  it('keeps the bytes of a Buffer (Buffer.toJSON would otherwise run before the replacer)', () => {
    const cid = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const reg = fullRegistration({ peer: { address: '192.0.2.7', port: 5684, connectionId: cid } });
    const back = registrationFromJson(registrationToJson(reg));
    assert.deepEqual(back.peer.connectionId, Uint8Array.from(cid));
  });

  it('keeps an infinite expiry (lifetime 0)', () => {
    const reg = fullRegistration({ lifetime: 0, expiresAt: Infinity });
    assert.equal(registrationFromJson(registrationToJson(reg)).expiresAt, Infinity);
  });
});
