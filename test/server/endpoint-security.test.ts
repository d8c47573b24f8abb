import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UplinkContext } from '../../src/binding/binding.js';
import { OperationError } from '../../src/operations/result-code.js';
import { createEndpointSecurity } from '../../src/server/endpoint-security.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import type { PeerIdentity } from '../../src/transport/channel.js';

function context(identity?: PeerIdentity): UplinkContext {
  return {
    peer: { address: '10.0.0.2', port: 5684, ...(identity === undefined ? {} : { identity }) },
    transport: identity === undefined ? 'udp' : 'dtls',
    identity: { token: '01' },
  };
}

async function refusal(check: Promise<void>, reason?: RegExp): Promise<string | undefined> {
  try {
    await check;
    return undefined;
  } catch (e) {
    assert.ok(e instanceof OperationError, `got ${String(e)}`);
    if (reason) assert.match(e.message, reason);
    return e.resultCode;
  }
}

describe('createEndpointSecurity with a PSK being rotated in (nextPsk)', () => {
  async function setup() {
    const credentials = new MemoryCredentialStore();
    await credentials.put({
      endpoint: 'dev-a',
      psk: { identity: 'id-a', key: '01' },
      nextPsk: { identity: 'id-a-next', key: '02' },
    });
    await credentials.put({ endpoint: 'dev-b', psk: { identity: 'id-b', key: '03' } });
    await credentials.put({ endpoint: 'dev-n', nextPsk: { identity: 'id-n-next', key: '04' } });
    const check = createEndpointSecurity({ credentials, store: new MemoryRegistrationStore() });
    return { credentials, check };
  }

  it('binds the nextPsk identity to its endpoint exactly like the psk identity', async () => {
    const { check } = await setup();
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a' }))), undefined, 'current identity');
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a-next' }))), undefined, 'next identity');
    assert.equal(
      await refusal(check('dev-b', context({ psk: 'id-a-next' }))),
      '4.00',
      'not another endpoint',
    );
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-b' }))), '4.00', "not another's identity");
    assert.equal(await refusal(check('dev-a', context({ psk: 'unknown' }))), '4.00', 'not an unknown one');
  });

  it('after promotion the old identity no longer binds; after cancelling the next one does not', async () => {
    const { credentials, check } = await setup();
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a-next', key: '02' } });
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a-next' }))), undefined, 'promoted');
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a' }))), '4.00', 'retired');
    await credentials.put({
      endpoint: 'dev-a',
      psk: { identity: 'id-a-next', key: '02' },
      nextPsk: { identity: 'id-a-3', key: '05' },
    });
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a-3' }))), undefined, 'a second rotation');
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a-next', key: '02' } });
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a-3' }))), '4.00', 'cancelled');
    assert.equal(await refusal(check('dev-a', context({ psk: 'id-a-next' }))), undefined, 'current kept');
  });

  it('an endpoint whose only credential is a nextPsk has credentials: no NoSec Register, no certificate', async () => {
    const { check } = await setup();
    assert.equal(await refusal(check('dev-n', context({ psk: 'id-n-next' }))), undefined);
    assert.equal(await refusal(check('dev-n', context())), '4.03', 'NoSec');
    assert.equal(
      await refusal(check('dev-n', context({ x509: { subject: 'CN=dev-n', der: new Uint8Array() } }))),
      '4.00',
      'a certificate with the right CN, for an endpoint that has a PSK',
    );
    assert.equal(await refusal(check('dev-free', context())), undefined, 'an endpoint without credentials');
  });
});
