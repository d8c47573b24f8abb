import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import { devicePeerVerifier } from '../../src/server/device-peer-verifier.js';
import { certDer, chainOf, spkiDer } from '../support/dtls-fixtures.js';

const KEY = spkiDer('client-rpk');
const rpk = { type: 'rpk', publicKey: KEY } as const;

/** Runs the verifier, async or not, and returns its identity or the DtlsError it refused with. */
async function verdict(
  verifier: ReturnType<typeof devicePeerVerifier>,
  credential = rpk as Parameters<typeof verifier>[0],
) {
  try {
    return await verifier(credential, {});
  } catch (e) {
    assert.ok(e instanceof DtlsError, `got ${String(e)}`);
    return e;
  }
}

function refusedAsUnknown(result: unknown): void {
  assert.ok(result instanceof DtlsError, 'refused');
  assert.equal(result.reason, 'bad-certificate');
  assert.equal(result.alert, AlertDescription.access_denied);
  assert.match(result.message, /raw public key is not in the credential store/);
}

describe('devicePeerVerifier', () => {
  it('without a known-key check accepts any raw public key (the Register check decides)', async () => {
    assert.deepEqual(await verdict(devicePeerVerifier()), { rpk: KEY });
  });

  it('accepts a known raw public key and refuses an unknown one with access_denied, sync or async', async () => {
    const seen: string[] = [];
    const check = (known: boolean) => (spki: Uint8Array) => {
      seen.push(Buffer.from(spki).toString('hex'));
      return known;
    };
    assert.deepEqual(await verdict(devicePeerVerifier([], { knownRawKey: check(true) })), { rpk: KEY });
    refusedAsUnknown(await verdict(devicePeerVerifier([], { knownRawKey: check(false) })));
    assert.deepEqual(
      seen,
      [Buffer.from(KEY).toString('hex'), Buffer.from(KEY).toString('hex')],
      'asked with the SPKI',
    );
    const later = (known: boolean) => () => Promise.resolve(known);
    assert.deepEqual(await verdict(devicePeerVerifier([], { knownRawKey: later(true) })), { rpk: KEY });
    refusedAsUnknown(await verdict(devicePeerVerifier([], { knownRawKey: later(false) })));
  });

  it('does not ask the known-key check about certificates', async () => {
    const verifier = devicePeerVerifier([certDer('root-ca')], {
      knownRawKey: () => assert.fail('asked about a certificate'),
    });
    const result = await verdict(verifier, { type: 'x509', chain: chainOf('client') });
    assert.ok(result !== undefined && !(result instanceof DtlsError) && 'x509' in result);
    const noAnchors = await verdict(devicePeerVerifier([], { knownRawKey: () => true }), {
      type: 'x509',
      chain: chainOf('client'),
    });
    assert.ok(noAnchors instanceof DtlsError);
    assert.equal(noAnchors.alert, AlertDescription.unsupported_certificate);
  });
});
