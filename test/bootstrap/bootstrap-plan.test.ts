import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseBootstrapConfig } from '../../src/bootstrap/bootstrap-config.js';
import {
  SecurityResource,
  ServerResource,
  bootstrapPackRecords,
  bootstrapWriteRequests,
  emptyInventory,
  inventoryFromDiscover,
  layoutInstances,
  resourceSince,
} from '../../src/bootstrap/bootstrap-plan.js';
import { writeFormatFor } from '../../src/bootstrap/bootstrap-server.js';
import { LwM2mPath } from '../../src/model/path.js';
import { parseDiscoverPayload } from '../../src/model/registration-payload.js';
import { readCapture } from '../support/captures.js';
import { requireShared } from '../support/shared.js';
import { describe as lines } from './bootstrap-peer.js';

const hexOf = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

const CONFIG = parseBootstrapConfig({
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://a.example:5684',
      lifetime: 600,
      defaultMinPeriod: 1,
      defaultMaxPeriod: 60,
      supportedServerVersions: ['1.2'],
      security: { mode: 'psk', identity: 'dev-1', key: '00112233' },
    },
    {
      shortServerId: 102,
      uri: 'coaps://b.example',
      security: {
        mode: 'x509',
        certificate: 'c1',
        privateKey: 'c2',
        serverCertificate: 'c3',
        certificateUsage: 3,
      },
    },
    {
      shortServerId: 103,
      uri: 'coaps://c.example',
      security: { mode: 'rpk', publicKey: 'd1', privateKey: 'd2', serverPublicKey: 'd3' },
    },
  ],
  bootstrapServer: {
    uri: 'coaps://bs.example',
    security: { mode: 'psk', identity: 'bs-id', key: 'ffee' },
    accountTimeout: 3600,
  },
});

function writesFor(version: string, bsAccounts = [0]) {
  const inventory = emptyInventory(version, bsAccounts);
  return bootstrapWriteRequests(CONFIG, inventory, layoutInstances(CONFIG, inventory));
}

describe('bootstrapWriteRequests', () => {
  it('writes each server /0 then /1, the BS account last, at fresh instance ids', () => {
    assert.deepEqual(
      writesFor('1.2').map((w) => w.path.toString()),
      ['/0/1', '/1/0', '/0/2', '/1/1', '/0/3', '/1/2', '/0/0'],
    );
  });

  it('sets each security mode and its keys (Core Appendix E.1)', () => {
    const [psk, , x509, , rpk, , bs] = writesFor('1.2').map((w) => lines(w.records));
    assert.deepEqual(psk, [
      '/0/1/0 string coaps://a.example:5684',
      '/0/1/1 boolean false',
      '/0/1/10 integer 101',
      '/0/1/2 integer 0',
      `/0/1/3 opaque ${hexOf('dev-1')}`,
      '/0/1/4 opaque ',
      '/0/1/5 opaque 00112233',
    ]);
    assert.ok(x509!.includes('/0/2/2 integer 2'));
    assert.ok(x509!.includes('/0/2/3 opaque c1'));
    assert.ok(x509!.includes('/0/2/4 opaque c3'));
    assert.ok(x509!.includes('/0/2/5 opaque c2'));
    assert.ok(x509!.includes('/0/2/15 unsigned 3'));
    assert.ok(rpk!.includes('/0/3/2 integer 1'));
    assert.ok(rpk!.includes('/0/3/3 opaque d1'));
    assert.ok(rpk!.includes('/0/3/4 opaque d3'));
    assert.ok(rpk!.includes('/0/3/5 opaque d2'));
    // The BS account: Bootstrap-Server true, no Short Server ID, its account timeout.
    assert.ok(bs!.includes('/0/0/1 boolean true'));
    assert.ok(bs!.includes('/0/0/12 integer 3600'));
    assert.ok(!bs!.some((l) => l.startsWith('/0/0/10 ')));
  });

  it('writes /1 with defaults (lifetime 86400, storing true, binding U)', () => {
    const server = lines(writesFor('1.2')[3]!.records);
    assert.deepEqual(server, [
      '/1/1/0 integer 102',
      '/1/1/1 integer 86400',
      '/1/1/6 boolean true',
      '/1/1/7 string U',
    ]);
    const first = lines(writesFor('1.2')[1]!.records);
    assert.ok(first.includes('/1/0/2 integer 1'));
    assert.ok(first.includes('/1/0/3 integer 60'));
    assert.ok(first.includes('/1/0/25/0 string 1.2'));
  });

  it('leaves out what the device version lacks (VER-COMP-001)', () => {
    const v11 = writesFor('1.1').flatMap((w) => lines(w.records));
    assert.ok(!v11.some((l) => l.startsWith('/1/0/25')));
    assert.ok(v11.includes('/0/2/15 unsigned 3'));
    const v10 = writesFor('1.0').flatMap((w) => lines(w.records));
    assert.ok(!v10.some((l) => l.startsWith('/0/2/15 ')));
    assert.ok(!v10.some((l) => l.startsWith('/1/0/25')));
    // An object version announced by `ver=` wins over the enabler's.
    const inventory = { ...emptyInventory('1.2', [0]), objectVersions: new Map([[1, '1.1']]) };
    const writes = bootstrapWriteRequests(CONFIG, inventory, layoutInstances(CONFIG, inventory));
    assert.ok(!writes.flatMap((w) => lines(w.records)).some((l) => l.startsWith('/1/0/25')));
  });

  it('passes the chosen format on every write', () => {
    const inventory = emptyInventory('1.1', [0]);
    const writes = bootstrapWriteRequests(CONFIG, inventory, layoutInstances(CONFIG, inventory), 110);
    assert.ok(writes.every((w) => w.format === 110));
  });

  it('uses resource ids and types of the registry /0 and /1 objects', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const registry = (oid: number): Map<number, { type: string; multiple: boolean }> => {
      const xml = readFileSync(join(dir, 'lwm2m-registry', `${oid}.xml`), 'utf8');
      const out = new Map<number, { type: string; multiple: boolean }>();
      for (const m of xml.matchAll(
        /<Item ID="(\d+)">[\s\S]*?<MultipleInstances>(\w+)<\/MultipleInstances>[\s\S]*?<Type>([^<]*)<\/Type>/g,
      ))
        out.set(Number(m[1]), { type: m[3]!, multiple: m[2] === 'Multiple' });
      return out;
    };
    const types: Record<string, string> = {
      string: 'String',
      integer: 'Integer',
      unsigned: 'Unsigned Integer',
      boolean: 'Boolean',
      opaque: 'Opaque',
    };
    const defs = [registry(0), registry(1)];
    for (const w of writesFor('1.2'))
      for (const r of w.records) {
        const def = defs[r.path.objectId!]!.get(r.path.resourceId!);
        assert.ok(def, `${r.path.toString()} is not in the registry`);
        assert.equal(def.type, types[r.value!.type], r.path.toString());
        assert.equal(def.multiple, r.path.isResourceInstance(), r.path.toString());
      }
    // The constants name the registry's resources.
    assert.equal(registry(0).get(SecurityResource.CERTIFICATE_USAGE)?.type, 'Unsigned Integer');
    assert.equal(registry(1).get(ServerResource.SUPPORTED_SERVER_VERSIONS)?.multiple, true);
    // resourceSince: 1.2 /1 resources are 24..27 and /0 18..30, which 1.xml/0.xml end at.
    assert.equal(Math.max(...registry(1).keys()), 27);
    assert.equal(Math.max(...registry(0).keys()), 30);
    assert.equal(resourceSince(1, 25), '1.2');
    assert.equal(resourceSince(1, 23), '1.1');
    assert.equal(resourceSince(0, 15), '1.1');
    assert.equal(resourceSince(0, 12), '1.0');
  });
});

describe('inventoryFromDiscover and layoutInstances', () => {
  it('reads the captured 1.1 Bootstrap-Discover answer', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const line = readCapture(dir, 'bootstrap-1.1-client.jsonl').find(
      (l) => l.dir === 'client->server' && l.payloadText?.startsWith('</>;lwm2m='),
    )!;
    const inventory = inventoryFromDiscover(parseDiscoverPayload(line.payloadText!));
    assert.equal(inventory.lwm2mVersion, '1.1');
    assert.deepEqual(inventory.bootstrapAccounts, [0]);
    assert.deepEqual([...inventory.securityBySsid], [[1, 1]]);
    assert.deepEqual([...inventory.serverBySsid], [[1, 1]]);
    assert.equal(inventory.objectVersions.get(1), '1.1');
    assert.equal(inventory.objectVersions.get(31024), '1.0');
  });

  it('reads the legacy 1.0 form', () => {
    const inventory = inventoryFromDiscover(
      parseDiscoverPayload('lwm2m="1.0",</0/0>,</0/4>;ssid=9,</1/2>;ssid=9'),
    );
    assert.equal(inventory.lwm2mVersion, '1.0');
    assert.deepEqual(inventory.bootstrapAccounts, [0]);
    assert.deepEqual(inventory.securityInstances, [0, 4]);
    assert.deepEqual(inventory.serverInstances, [2]);
  });

  it('without deleteFirst, keeps the ids an SSID already has and takes free ones for new SSIDs', () => {
    const inventory = inventoryFromDiscover(
      parseDiscoverPayload(
        '</>;lwm2m=1.2,</0/0>;ssid=102;uri="coaps://b",</0/1>,</0/2>;ssid=5;uri="coap://x",</1/0>;ssid=5,</1/3>;ssid=102',
      ),
    );
    const layout = layoutInstances({ ...CONFIG, deleteFirst: false }, inventory);
    assert.equal(layout.security.get(102), 0);
    assert.equal(layout.server.get(102), 3);
    assert.equal(layout.security.get(101), 3);
    assert.equal(layout.server.get(101), 1);
    assert.equal(layout.security.get(103), 4);
    assert.equal(layout.bootstrapAccount, 1);
  });

  it('with deleteFirst, only the BS account keeps its id', () => {
    const inventory = inventoryFromDiscover(
      parseDiscoverPayload('</>;lwm2m=1.2,</0/3>,</0/0>;ssid=1;uri="coap://x",</1/0>;ssid=1'),
    );
    const layout = layoutInstances(CONFIG, inventory);
    assert.deepEqual([...layout.security.values()], [0, 1, 2]);
    assert.deepEqual([...layout.server.values()], [0, 1, 2]);
    assert.equal(layout.bootstrapAccount, 3);
  });
});

describe('bootstrapPackRecords', () => {
  it('holds every server /0 and /1 instance for a 1.2 device, but not the BS account', () => {
    const records = bootstrapPackRecords(CONFIG, layoutInstances(CONFIG, emptyInventory('1.2', [0])));
    const instances = new Set(
      records.map((r) => LwM2mPath.of(r.path.objectId!, r.path.instanceId!).toString()),
    );
    assert.deepEqual([...instances].sort(), ['/0/1', '/0/2', '/0/3', '/1/0', '/1/1', '/1/2']);
    assert.ok(lines(records).includes('/1/0/25/0 string 1.2'));
  });
});

describe('writeFormatFor', () => {
  it('follows pct when the version has the format, else TLV (1.0/1.1) or SenML CBOR (1.2)', () => {
    assert.equal(writeFormatFor(110, '1.1'), 110);
    assert.equal(writeFormatFor(112, '1.2'), 112);
    assert.equal(writeFormatFor(11544, '1.2'), 11544);
    assert.equal(writeFormatFor(11544, '1.1'), 11542);
    assert.equal(writeFormatFor(112, '1.0'), 11542);
    assert.equal(writeFormatFor(11542, '1.2'), 11542);
    assert.equal(writeFormatFor(undefined, '1.2'), 112);
    assert.equal(writeFormatFor(undefined, '1.1'), 11542);
  });
});
