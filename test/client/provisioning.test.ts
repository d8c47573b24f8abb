import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProvisioningErrorReason } from '../../src/client/provisioning.js';
import {
  FileSecureElement,
  ProvisioningError,
  factoryRecords,
  readFactoryConfig,
  smartcardRecords,
} from '../../src/client/provisioning.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { plain, rec } from '../support/records.js';

const model = createDefaultRegistry();
const codecs = createCodecRegistry();

function assertProvisioningError(fn: () => unknown, reason: ProvisioningErrorReason, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProvisioningError, `expected ProvisioningError, got ${String(e)}`);
    assert.equal(e.reason, reason);
    assert.equal(e.code, `PETREL_ERR_PROVISIONING_${reason.toUpperCase().replaceAll('-', '_')}`);
    assert.match(e.message, message);
    return true;
  });
}

/** path → value (opaque as hex) of the records of one instance. */
function instanceValues(records: readonly LwM2mRecord[], oid: number, iid: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of records)
    if (r.path.objectId === oid && r.path.instanceId === iid) {
      const v = r.value?.value;
      out[r.path.ids.slice(2).join('/')] = v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
    }
  return out;
}

function instancesOf(records: readonly LwM2mRecord[], oid: number): number[] {
  return [...new Set(records.filter((r) => r.path.objectId === oid).map((r) => r.path.instanceId!))].sort();
}

/** The /0 instance whose /0/x/10 is `ssid`, or whose /0/x/1 is true for 'bs'. */
function securityInstance(records: readonly LwM2mRecord[], which: number | 'bs'): number | undefined {
  for (const iid of instancesOf(records, 0)) {
    const v = instanceValues(records, 0, iid);
    if (which === 'bs' ? v['1'] === true : v['10'] === which) return iid;
  }
  return undefined;
}

const BS = {
  uri: 'coaps://bs.example:5684',
  security: { mode: 'psk', identity: 'dev-1', key: '000102030405060708090a0b0c0d0e0f' },
  clientHoldOffTime: 10,
  accountTimeout: 3600,
};

describe('factoryRecords', () => {
  it('a configuration with only bootstrapServer gives the Bootstrap-Server account', () => {
    const records = factoryRecords({ bootstrapServer: BS });
    assert.deepEqual(instancesOf(records, 1), []);
    assert.deepEqual(instancesOf(records, 0), [0]);
    assert.deepEqual(instanceValues(records, 0, 0), {
      '0': 'coaps://bs.example:5684',
      '1': true,
      '2': 0,
      '3': Buffer.from('dev-1').toString('hex'),
      '4': '',
      '5': '000102030405060708090a0b0c0d0e0f',
      '11': 10,
      '12': 3600,
    });
  });

  it('servers give a /0 and a /1 instance each, with ssid, uri, mode and keys', () => {
    const records = factoryRecords({
      servers: [
        { shortServerId: 101, uri: 'coap://dm1.example:5683', security: { mode: 'nosec' }, lifetime: 300 },
        {
          shortServerId: 102,
          uri: 'coaps://dm2.example:5684',
          security: { mode: 'psk', identity: 'dev-2', key: 'aabb' },
          binding: 'UQ',
        },
      ],
      bootstrapServer: BS,
    });
    const s101 = securityInstance(records, 101);
    const s102 = securityInstance(records, 102);
    const bs = securityInstance(records, 'bs');
    assert.ok(s101 !== undefined && s102 !== undefined && bs !== undefined);
    assert.equal(new Set([s101, s102, bs]).size, 3, 'distinct /0 instances');
    assert.deepEqual(instanceValues(records, 0, s101), {
      '0': 'coap://dm1.example:5683',
      '1': false,
      '2': 3,
      '3': '',
      '4': '',
      '5': '',
      '10': 101,
    });
    assert.deepEqual(instanceValues(records, 0, s102), {
      '0': 'coaps://dm2.example:5684',
      '1': false,
      '2': 0,
      '3': Buffer.from('dev-2').toString('hex'),
      '4': '',
      '5': 'aabb',
      '10': 102,
    });
    const servers = instancesOf(records, 1);
    assert.equal(servers.length, 2);
    const bySsid = new Map(
      servers.map((i) => [instanceValues(records, 1, i)['0'], instanceValues(records, 1, i)]),
    );
    assert.deepEqual(bySsid.get(101), { '0': 101, '1': 300, '6': true, '7': 'U' });
    assert.deepEqual(bySsid.get(102), { '0': 102, '1': 86400, '6': true, '7': 'UQ' });
    assert.ok(records.every((r) => r.path.objectId === 0 || r.path.objectId === 1));
    assert.ok(records.every((r) => r.path.depth >= 3 && r.value !== undefined));
  });

  it('leaves out resources the LwM2M version lacks', () => {
    const doc = {
      servers: [
        {
          shortServerId: 1,
          uri: 'coaps://dm.example',
          security: {
            mode: 'x509',
            certificate: '01',
            privateKey: '02',
            serverCertificate: '03',
            certificateUsage: 3,
          },
          supportedServerVersions: ['1.2'],
        },
      ],
    };
    const v12 = factoryRecords(doc, '1.2');
    assert.ok(v12.some((r) => r.path.toString() === '/0/0/15'));
    assert.ok(v12.some((r) => r.path.toString().startsWith('/1/0/25')));
    const v10 = factoryRecords(doc, '1.0');
    assert.ok(!v10.some((r) => r.path.toString() === '/0/0/15'));
    assert.ok(!v10.some((r) => r.path.resourceId === 25));
  });

  it('a bad configuration is a ProvisioningError naming the field', () => {
    assertProvisioningError(() => factoryRecords({}), 'bad-factory-config', /factory configuration: servers/);
    assertProvisioningError(() => factoryRecords(null), 'bad-factory-config', /factory configuration/);
    assertProvisioningError(
      () => factoryRecords({ bootstrapServer: { ...BS, uri: 'http://bs.example' } }),
      'bad-factory-config',
      /bootstrapServer\.uri/,
    );
    assertProvisioningError(
      () => factoryRecords({ servers: [{ shortServerId: 0, uri: 'coap://x', security: { mode: 'nosec' } }] }),
      'bad-factory-config',
      /servers\[0\]\.shortServerId/,
    );
    assertProvisioningError(
      () => factoryRecords({ bootstrapServer: BS, lifetme: 5 }),
      'bad-factory-config',
      /lifetme/,
    );
    assertProvisioningError(() => factoryRecords({ servers: [] }), 'bad-factory-config', /servers/);
  });

  it('the ProvisioningError keeps the configuration error as its cause', () => {
    try {
      factoryRecords({ servers: 'none' });
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof ProvisioningError);
      assert.ok(e.cause instanceof Error);
    }
  });
});

describe('readFactoryConfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-provisioning-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a JSON file', async () => {
    const path = join(dir, 'factory.json');
    await writeFile(path, JSON.stringify({ bootstrapServer: BS }));
    const records = await readFactoryConfig(path);
    assert.deepEqual(plain(records), plain(factoryRecords({ bootstrapServer: BS })));
  });

  it('a missing file is io, a file that is not JSON is bad-factory-config', async () => {
    await assert.rejects(readFactoryConfig(join(dir, 'nope.json')), (e: unknown) => {
      assert.ok(e instanceof ProvisioningError);
      assert.equal(e.reason, 'io');
      return true;
    });
    const path = join(dir, 'bad.json');
    await writeFile(path, '{ servers: [');
    await assert.rejects(readFactoryConfig(path), (e: unknown) => {
      assert.ok(e instanceof ProvisioningError);
      assert.equal(e.reason, 'bad-factory-config');
      assert.match(e.message, /bad\.json is not JSON/);
      return true;
    });
  });
});

describe('smartcardRecords', () => {
  const ctx = { path: LwM2mPath.ROOT, model };
  const CARD: LwM2mRecord[] = [
    rec('/0/0/0', Value.string('coaps://bs.example:5684')),
    rec('/0/0/1', Value.boolean(true)),
    rec('/0/0/2', Value.integer(0)),
    rec('/0/0/3', Value.opaque(new TextEncoder().encode('card-id'))),
    rec('/0/0/5', Value.opaque(new Uint8Array([9, 8, 7, 6]))),
    rec('/0/1/0', Value.string('coap://dm.example:5683')),
    rec('/0/1/1', Value.boolean(false)),
    rec('/0/1/2', Value.integer(3)),
    rec('/0/1/10', Value.integer(7)),
    rec('/1/0/0', Value.integer(7)),
    rec('/1/0/1', Value.integer(600)),
    rec('/1/0/7', Value.string('U')),
  ];

  it('reads /0 and /1 instances from SenML CBOR', () => {
    const bytes = codecs.encode(112, CARD, ctx);
    const records = smartcardRecords(bytes, codecs, model);
    assert.deepEqual(plain(records), plain(CARD));
  });

  it('data with another object is bad-smartcard-data naming the path', () => {
    const bytes = codecs.encode(112, [...CARD, rec('/3/0/0', Value.string('Petrel'))], ctx);
    assertProvisioningError(() => smartcardRecords(bytes, codecs, model), 'bad-smartcard-data', /\/3\/0\/0/);
  });

  it('garbage, empty bytes and an empty pack are bad-smartcard-data', () => {
    for (const bytes of [
      new Uint8Array([0xff, 0x00, 0x13, 0x37]),
      new TextEncoder().encode('{"not":"cbor"}'),
      new Uint8Array([0x9f]),
      new Uint8Array(),
    ])
      assertProvisioningError(
        () => smartcardRecords(bytes, codecs, model),
        'bad-smartcard-data',
        /smartcard/,
      );
    const empty = codecs.encode(112, [], ctx);
    assertProvisioningError(() => smartcardRecords(empty, codecs, model), 'bad-smartcard-data', /empty/);
  });
});

describe('FileSecureElement', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-smartcard-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing file is no card', async () => {
    assert.equal(await new FileSecureElement(join(dir, 'absent.cbor')).readBootstrapData(), undefined);
  });

  it('a present file gives its bytes', async () => {
    const path = join(dir, 'card.cbor');
    const bytes = new Uint8Array([0x81, 0xa1, 0x00, 0x61, 0x78]);
    await writeFile(path, bytes);
    const data = await new FileSecureElement(path).readBootstrapData();
    assert.ok(data instanceof Uint8Array);
    assert.deepEqual(data, bytes);
    assert.equal(new FileSecureElement(path).path, path);
  });

  it('a file that cannot be read is an io error', async () => {
    const path = join(dir, 'a-dir');
    await mkdir(path);
    await assert.rejects(new FileSecureElement(path).readBootstrapData(), (e: unknown) => {
      assert.ok(e instanceof ProvisioningError);
      assert.equal(e.reason, 'io');
      assert.match(e.message, /a-dir/);
      return true;
    });
  });
});
