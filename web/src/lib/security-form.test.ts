import { describe, expect, it } from 'vitest';
import {
  EMPTY_FORM,
  clientSecurityText,
  credentialBody,
  credentialIdentity,
  normalizeHex,
  publicKeyHex,
  rotateForm,
  shortHex,
} from './security-form.js';

// A P-256 SubjectPublicKeyInfo (91 bytes) and the same key as PEM.
const SPKI =
  '3059301306072a8648ce3d020106082a8648ce3d03010703420004' +
  '7c54c82c74f85c8b0c9611c31520f9119cb46e4fef7109dff7e49801dd1133e6' +
  'b15c87c865555f1a6de06a42893bf1732407bee662a56bd03ee8bccf9b3374f4';
const base64 = btoa(String.fromCharCode(...SPKI.match(/../g)!.map((b) => parseInt(b, 16))));
const PEM = `-----BEGIN PUBLIC KEY-----\n${base64.slice(0, 64)}\n${base64.slice(64)}\n-----END PUBLIC KEY-----\n`;

describe('credentialBody', () => {
  const psk = { ...EMPTY_FORM, endpoint: 'dev-1', identity: 'dev-1-id', key: '00:01:0A 0b' };

  it('makes a PSK body with the key as lower-case hex', () => {
    expect(credentialBody(psk)).toEqual({
      ok: true,
      value: { psk: { identity: 'dev-1-id', key: '00010a0b' } },
    });
  });

  it('refuses what the API would refuse, saying what is wrong', () => {
    const cases: [Partial<typeof psk>, RegExp][] = [
      [{ endpoint: ' ' }, /endpoint name is empty/],
      [{ identity: '' }, /identity is empty/],
      [{ identity: 'é'.repeat(65) }, /longer than 128 bytes/],
      [{ key: '' }, /key is empty/],
      [{ key: 'abc' }, /odd number/],
      [{ key: 'zz' }, /hex digits/],
      [{ key: 'ab'.repeat(65) }, /longer than 64 bytes/],
    ];
    for (const [patch, error] of cases) {
      const r = credentialBody({ ...psk, ...patch });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(error);
    }
    expect(credentialBody({ ...psk, identity: 'x'.repeat(128), key: 'ab'.repeat(64) }).ok).toBe(true);
  });

  it('makes RPK bodies from hex or PEM, and X.509 bodies with nothing in them', () => {
    const rpk = { ...EMPTY_FORM, endpoint: 'dev-2', mode: 'rpk' as const };
    expect(credentialBody({ ...rpk, publicKey: SPKI.toUpperCase() })).toEqual({
      ok: true,
      value: { rpk: { publicKey: SPKI } },
    });
    expect(credentialBody({ ...rpk, publicKey: PEM })).toEqual({
      ok: true,
      value: { rpk: { publicKey: SPKI } },
    });
    expect(credentialBody({ ...rpk, publicKey: '' }).ok).toBe(false);
    expect(credentialBody({ ...EMPTY_FORM, endpoint: 'dev-3', mode: 'x509', key: 'ignored' })).toEqual({
      ok: true,
      value: { x509: {} },
    });
  });
});

describe('publicKeyHex', () => {
  it('reads PEM, refusing bad base64 and oversize keys', () => {
    expect(publicKeyHex(PEM)).toEqual({ ok: true, value: SPKI });
    expect(publicKeyHex('-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----').ok).toBe(false);
    const big = btoa('x'.repeat(600));
    expect(publicKeyHex(`-----BEGIN PUBLIC KEY-----\n${big}\n-----END PUBLIC KEY-----`)).toEqual({
      ok: false,
      error: 'the public key is longer than 512 bytes',
    });
  });

  it('normalizes pasted hex', () => {
    expect(normalizeHex(' 0xAB:cd ef\n01 ')).toBe('abcdef01');
  });
});

describe('display', () => {
  it('shows a credential by its identity, never a key', () => {
    expect(credentialIdentity({ endpoint: 'a', mode: 'psk', psk: { identity: 'id-a', keyLength: 16 } })).toBe(
      'id-a (16-byte key)',
    );
    expect(credentialIdentity({ endpoint: 'b', mode: 'rpk', rpk: { publicKey: SPKI } })).toBe(
      '30593013…9b3374f4',
    );
    expect(credentialIdentity({ endpoint: 'c', mode: 'x509', x509: { commonName: 'c' } })).toBe('CN=c');
    expect(credentialIdentity({ endpoint: 'd', mode: 'none' })).toBe('');
  });

  it('shows a client’s security in one line', () => {
    expect(clientSecurityText(undefined)).toBe('');
    expect(clientSecurityText({ mode: 'nosec' })).toBe('NoSec');
    expect(clientSecurityText({ mode: 'psk', identity: 'dev-1-id' })).toBe('PSK dev-1-id');
    expect(clientSecurityText({ mode: 'rpk', identity: SPKI })).toBe('RPK 30593013…9b3374f4');
    expect(clientSecurityText({ mode: 'x509', identity: 'CN=dev-1' })).toBe('X.509 CN=dev-1');
  });

  it('shortens only what is long', () => {
    expect(shortHex('abcdef')).toBe('abcdef');
    expect(shortHex('0123456789abcdef0')).toBe('0123456789abcdef0');
    expect(shortHex('0123456789abcdef01')).toBe('01234567…abcdef01');
  });

  it('prefills a rotation with the endpoint, mode and PSK identity, but no key', () => {
    expect(rotateForm({ endpoint: 'a', mode: 'psk', psk: { identity: 'id-a', keyLength: 16 } })).toEqual({
      ...EMPTY_FORM,
      endpoint: 'a',
      identity: 'id-a',
    });
    expect(rotateForm({ endpoint: 'b', mode: 'rpk', rpk: { publicKey: SPKI } })).toMatchObject({
      endpoint: 'b',
      mode: 'rpk',
      publicKey: '',
    });
    expect(rotateForm({ endpoint: 'c', mode: 'none' }).mode).toBe('psk');
  });
});
