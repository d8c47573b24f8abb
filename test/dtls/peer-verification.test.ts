// The verifier factories: raw public keys, the LwM2M Certificate Usage rules (0-3) with every
// matching type, path validation (signatures, dates, CA flags), names, and the alert of each failure.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { AlertDescription } from '../../src/dtls/alert.js';
import type { PeerCredential, PeerVerifier } from '../../src/dtls/dtls-credentials.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import {
  anyRawPublicKeyVerifier,
  rawPublicKeyVerifier,
  subjectCommonName,
  x509ChainValidator,
  x509Verifier,
  type MatchingType,
} from '../../src/dtls/peer-verification.js';
import type { PeerIdentity } from '../../src/transport/channel.js';
import { certDer, chainOf, spkiDer, type FixtureName } from '../support/dtls-fixtures.js';

const x509 = (...names: FixtureName[]): PeerCredential => ({ type: 'x509', chain: names.map(certDer) });
const SERVER_CHAIN: PeerCredential = { type: 'x509', chain: chainOf('server') };
const hash = (alg: string, der: Uint8Array): Uint8Array =>
  new Uint8Array(createHash(alg).update(der).digest());
/** /0/x/4 for a certificate under a matching type. */
function trustOf(name: FixtureName, matching: MatchingType): Uint8Array {
  const der = certDer(name);
  return matching === 0 ? der : hash(['', 'sha256', 'sha384', 'sha512'][matching]!, der);
}

async function accepts(v: PeerVerifier, c: PeerCredential, serverName?: string): Promise<PeerIdentity> {
  const id = await v(c, { serverName });
  assert.ok(id, 'verifier returned undefined');
  return id;
}

async function refuses(
  v: PeerVerifier,
  c: PeerCredential,
  alert: number,
  message?: RegExp,
  serverName?: string,
): Promise<void> {
  await assert.rejects(
    async () => v(c, { serverName }),
    (e: unknown) => {
      assert.ok(e instanceof DtlsError, `not a DtlsError: ${String(e)}`);
      assert.equal(e.alert, alert, `alert ${e.alert} (${e.message})`);
      if (message) assert.match(e.message, message);
      return true;
    },
  );
}

const SERVER_IDENTITY = { x509: { subject: 'O=Petrel Test, CN=localhost', der: certDer('server') } };

describe('rawPublicKeyVerifier / anyRawPublicKeyVerifier', () => {
  it('accepts exactly the configured key, with the key as identity', async () => {
    const v = rawPublicKeyVerifier(spkiDer('server-rpk'));
    assert.deepEqual(await accepts(v, { type: 'rpk', publicKey: spkiDer('server-rpk') }), {
      rpk: spkiDer('server-rpk'),
    });
    await refuses(
      v,
      { type: 'rpk', publicKey: spkiDer('client-rpk') },
      AlertDescription.bad_certificate,
      /not the configured/,
    );
    await refuses(v, SERVER_CHAIN, AlertDescription.unsupported_certificate, /X\.509/);
  });

  it('anyRawPublicKeyVerifier reports any key and refuses X.509', async () => {
    const v = anyRawPublicKeyVerifier();
    assert.deepEqual(await accepts(v, { type: 'rpk', publicKey: spkiDer('client-rpk') }), {
      rpk: spkiDer('client-rpk'),
    });
    await refuses(v, SERVER_CHAIN, AlertDescription.unsupported_certificate);
  });
});

describe('x509Verifier: certificate usage 3 (domain-issued certificate)', () => {
  for (const matching of [0, 1, 2, 3] as const) {
    it(`matches the leaf by matching type ${matching}, and nothing else`, async () => {
      const v = x509Verifier({ trust: trustOf('server', matching), matchingType: matching });
      assert.deepEqual(await accepts(v, SERVER_CHAIN), SERVER_IDENTITY);
      await refuses(v, x509('other-server'), AlertDescription.bad_certificate, /does not match/);
      // The intermediate matching is not enough: usage 3 looks at the leaf only.
      const onCa = x509Verifier({ trust: trustOf('intermediate-ca', matching), matchingType: matching });
      await refuses(onCa, SERVER_CHAIN, AlertDescription.bad_certificate);
    });
  }

  it('is the default, and checks no path, dates or names (RFC 7671 §5.1)', async () => {
    const v = x509Verifier({ trust: certDer('expired') });
    assert.ok(await accepts(v, x509('expired'), 'example.com'));
  });
});

describe('x509Verifier: certificate usage 2 (trust anchor assertion)', () => {
  it('validates the chain up to /0/x/4 (root or intermediate), in full DER', async () => {
    for (const anchor of ['root-ca', 'intermediate-ca'] as const) {
      const v = x509Verifier({ trust: certDer(anchor), certificateUsage: 2 });
      assert.deepEqual(await accepts(v, SERVER_CHAIN), SERVER_IDENTITY);
      assert.ok(await accepts(v, x509('server', 'intermediate-ca', 'root-ca')));
    }
  });

  it('finds a hashed anchor among the presented certificates, or fails with unknown_ca', async () => {
    for (const matching of [1, 2, 3] as const) {
      const v = x509Verifier({
        trust: trustOf('root-ca', matching),
        certificateUsage: 2,
        matchingType: matching,
      });
      assert.ok(await accepts(v, x509('server', 'intermediate-ca', 'root-ca')));
      await refuses(v, SERVER_CHAIN, AlertDescription.unknown_ca, /trust anchor/);
    }
  });

  it('refuses a chain from another CA with unknown_ca', async () => {
    const v = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    await refuses(v, x509('other-server', 'other-ca'), AlertDescription.unknown_ca, /no trusted CA/);
    await refuses(v, x509('server'), AlertDescription.unknown_ca); // the intermediate is missing
  });

  it('refuses an expired leaf (certificate_expired) and one not yet valid (bad_certificate)', async () => {
    const v = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    await refuses(
      v,
      { type: 'x509', chain: chainOf('expired') },
      AlertDescription.certificate_expired,
      /expired on/,
    );
    const early = x509Verifier({
      trust: certDer('root-ca'),
      certificateUsage: 2,
      now: () => Date.parse('2020-01-01'),
    });
    await refuses(early, SERVER_CHAIN, AlertDescription.bad_certificate, /not valid before/);
    const late = x509Verifier({
      trust: certDer('root-ca'),
      certificateUsage: 2,
      now: () => Date.parse('2200-01-01'),
    });
    await refuses(late, SERVER_CHAIN, AlertDescription.certificate_expired);
  });

  it('refuses a path through a certificate that is not a CA', async () => {
    const v = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    await refuses(
      v,
      x509('by-leaf', 'server', 'intermediate-ca'),
      AlertDescription.bad_certificate,
      /not a CA/,
    );
  });

  it('checks the server name (DNS or IP) from the options or the SNI context', async () => {
    const v = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    assert.ok(await accepts(v, SERVER_CHAIN, 'localhost'));
    assert.ok(await accepts(v, SERVER_CHAIN, '127.0.0.1'));
    await refuses(
      v,
      SERVER_CHAIN,
      AlertDescription.bad_certificate,
      /not valid for "example\.com"/,
      'example.com',
    );
    await refuses(v, SERVER_CHAIN, AlertDescription.bad_certificate, /10\.0\.0\.1/, '10.0.0.1');
    const named = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2, serverName: 'example.com' });
    await refuses(named, SERVER_CHAIN, AlertDescription.bad_certificate);
  });
});

describe('x509Verifier: certificate usage 1 (service certificate constraint)', () => {
  for (const matching of [0, 1, 2, 3] as const) {
    it(`needs the leaf to match (matching type ${matching}) and the chain to validate`, async () => {
      const v = x509Verifier({
        trust: trustOf('server', matching),
        certificateUsage: 1,
        matchingType: matching,
      });
      assert.deepEqual(await accepts(v, SERVER_CHAIN, 'localhost'), SERVER_IDENTITY);
      const other = x509Verifier({
        trust: trustOf('client', matching),
        certificateUsage: 1,
        matchingType: matching,
      });
      await refuses(other, SERVER_CHAIN, AlertDescription.bad_certificate, /does not match/);
    });
  }

  it('validates against trustAnchors when given', async () => {
    const ok = x509Verifier({
      trust: certDer('server'),
      certificateUsage: 1,
      trustAnchors: [certDer('root-ca')],
    });
    assert.ok(await accepts(ok, SERVER_CHAIN));
    const wrong = x509Verifier({
      trust: certDer('server'),
      certificateUsage: 1,
      trustAnchors: [certDer('other-ca')],
    });
    await refuses(wrong, SERVER_CHAIN, AlertDescription.unknown_ca);
  });

  it('refuses a chain that is not in issuing order or has a stranger in it, and an expired leaf', async () => {
    const v = x509Verifier({ trust: certDer('server'), certificateUsage: 1 });
    await refuses(v, x509('server', 'other-ca'), AlertDescription.bad_certificate, /issuing order/);
    const exp = x509Verifier({ trust: certDer('expired'), certificateUsage: 1 });
    await refuses(exp, { type: 'x509', chain: chainOf('expired') }, AlertDescription.certificate_expired);
    // The wrong name also counts under usage 1.
    await refuses(v, SERVER_CHAIN, AlertDescription.bad_certificate, /not valid for/, 'example.com');
  });
});

describe('x509Verifier: certificate usage 0 (CA constraint)', () => {
  for (const matching of [0, 1, 2, 3] as const) {
    it(`needs a CA of the path to match /0/x/4 (matching type ${matching})`, async () => {
      const v = x509Verifier({
        trust: trustOf('intermediate-ca', matching),
        certificateUsage: 0,
        matchingType: matching,
      });
      assert.deepEqual(await accepts(v, SERVER_CHAIN, 'localhost'), SERVER_IDENTITY);
      const other = x509Verifier({
        trust: trustOf('other-ca', matching),
        certificateUsage: 0,
        matchingType: matching,
      });
      await refuses(other, SERVER_CHAIN, AlertDescription.unknown_ca, /CA/);
      // The leaf itself is no CA constraint.
      const leaf = x509Verifier({
        trust: trustOf('server', matching),
        certificateUsage: 0,
        matchingType: matching,
      });
      await refuses(leaf, SERVER_CHAIN, AlertDescription.unknown_ca);
    });
  }

  it('accepts /0/x/4 = the root that the chain leads to without presenting it', async () => {
    const v = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 0 });
    assert.ok(await accepts(v, SERVER_CHAIN));
  });

  it('with trustAnchors, the chain must reach one of them and contain /0/x/4', async () => {
    const v = x509Verifier({
      trust: certDer('intermediate-ca'),
      certificateUsage: 0,
      trustAnchors: [certDer('root-ca')],
    });
    assert.ok(await accepts(v, SERVER_CHAIN));
    const foreign = x509Verifier({
      trust: certDer('intermediate-ca'),
      certificateUsage: 0,
      trustAnchors: [certDer('other-ca')],
    });
    await refuses(foreign, SERVER_CHAIN, AlertDescription.unknown_ca);
  });

  it('refuses raw keys, garbage and empty chains with the right alerts', async () => {
    const v = x509Verifier({ trust: certDer('intermediate-ca'), certificateUsage: 0 });
    await refuses(
      v,
      { type: 'rpk', publicKey: spkiDer('server-rpk') },
      AlertDescription.unsupported_certificate,
    );
    await refuses(
      v,
      { type: 'x509', chain: [Uint8Array.of(0x30, 0x03, 1, 2, 3)] },
      AlertDescription.bad_certificate,
      /does not parse/,
    );
    await refuses(v, { type: 'x509', chain: [] }, AlertDescription.bad_certificate, /empty/);
  });

  it('refuses bad options at construction', () => {
    assert.throws(() => x509Verifier({ trust: certDer('root-ca'), certificateUsage: 4 as 0 }), DtlsError);
    assert.throws(
      () => x509Verifier({ trust: Uint8Array.of(1, 2), certificateUsage: 2 }),
      /not a DER X\.509/,
    );
  });
});

describe('x509ChainValidator (server side)', () => {
  it('validates a client chain to a trust anchor; the identity carries the subject', async () => {
    const v = x509ChainValidator({ trustAnchors: [certDer('other-ca'), certDer('root-ca')] });
    const id = await accepts(v, { type: 'x509', chain: chainOf('client') });
    assert.deepEqual(id, { x509: { subject: 'O=Petrel Test, CN=petrel-dev-1', der: certDer('client') } });
    assert.equal(subjectCommonName((id as { x509: { subject: string } }).x509.subject), 'petrel-dev-1');
    assert.ok(
      await accepts(x509ChainValidator({ trustAnchors: [certDer('intermediate-ca')] }), x509('client')),
    );
  });

  it('refuses unknown CAs, expired chains, raw keys', async () => {
    const v = x509ChainValidator({ trustAnchors: [certDer('root-ca')] });
    await refuses(v, x509('other-server', 'other-ca'), AlertDescription.unknown_ca);
    await refuses(v, x509('client'), AlertDescription.unknown_ca);
    await refuses(v, { type: 'x509', chain: chainOf('expired') }, AlertDescription.certificate_expired);
    await refuses(
      v,
      { type: 'rpk', publicKey: spkiDer('client-rpk') },
      AlertDescription.unsupported_certificate,
    );
    const late = x509ChainValidator({
      trustAnchors: [certDer('root-ca')],
      now: () => Date.parse('2300-01-01'),
    });
    await refuses(late, { type: 'x509', chain: chainOf('client') }, AlertDescription.certificate_expired);
    assert.throws(() => x509ChainValidator({ trustAnchors: [] }), DtlsError);
  });

  it('subjectCommonName takes the most specific CN', () => {
    assert.equal(subjectCommonName('O=Petrel Test, CN=a, CN=b'), 'b');
    assert.equal(subjectCommonName('O=Petrel Test'), undefined);
  });
});
