import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClientState, ClientStateErrorReason } from '../../src/client/client-state.js';
import {
  ClientStateError,
  FileClientStateStore,
  MemoryClientStateStore,
  decodeClientState,
  encodeClientState,
} from '../../src/client/client-state.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { plain, rec } from '../support/records.js';

const model = createDefaultRegistry();

const STATE: ClientState = {
  objects: [0, 1, 2],
  records: [
    rec('/0/0/0', Value.string('coaps://bs.example:5684')),
    rec('/0/0/1', Value.boolean(true)),
    rec('/0/0/2', Value.integer(0)),
    rec('/0/0/3', Value.opaque(new TextEncoder().encode('device-identity'))),
    rec('/0/0/5', Value.opaque(new Uint8Array([0x00, 0xff, 0x10, 0x80, 0x7f]))),
    rec('/0/0/11', Value.integer(10)),
    rec('/0/1/0', Value.string('coap://dm.example:5683')),
    rec('/0/1/1', Value.boolean(false)),
    rec('/0/1/2', Value.integer(3)),
    rec('/0/1/3', Value.opaque(new Uint8Array())),
    rec('/0/1/10', Value.integer(101)),
    rec('/1/0/0', Value.integer(101)),
    rec('/1/0/1', Value.integer(86400)),
    rec('/1/0/6', Value.boolean(true)),
    rec('/1/0/7', Value.string('UQ')),
    rec('/2/0/0', Value.integer(3)),
    rec('/2/0/1', Value.integer(0)),
    rec('/2/0/2/0', Value.integer(1)),
    rec('/2/0/2/101', Value.integer(31)),
    rec('/2/0/3', Value.integer(101)),
  ],
  sources: { '/0/0': 'factory', '/0/1': 'smartcard', '/1/0': 'network' },
};

function assertStateError(fn: () => unknown, reason: ClientStateErrorReason, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ClientStateError, `expected ClientStateError, got ${String(e)}`);
    assert.equal(e.reason, reason);
    assert.equal(e.code, `PETREL_ERR_CLIENT_STATE_${reason.toUpperCase()}`);
    assert.match(e.message, message);
    return true;
  });
}

async function assertStateRejects(p: Promise<unknown>, reason: ClientStateErrorReason, message: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ClientStateError, `expected ClientStateError, got ${String(e)}`);
    assert.equal(e.reason, reason);
    assert.match(e.message, message);
    return true;
  });
}

function assertSameState(actual: ClientState | undefined, expected: ClientState): void {
  assert.ok(actual);
  assert.deepEqual(actual.objects, expected.objects);
  assert.deepEqual(actual.sources, expected.sources);
  assert.deepEqual(plain(actual.records), plain(expected.records));
}

const doc = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    format: 'petrel-client-state',
    version: 1,
    objects: [0, 1],
    sources: {},
    records: { '/0/0/0': 'coap://x.example' },
    ...over,
  });

describe('client state: encode / decode', () => {
  it('round-trips opaque keys, multiple resources, booleans and sources', () => {
    const text = encodeClientState(STATE);
    const back = decodeClientState(text, model);
    assertSameState(back, STATE);
    const key = back.records.find((r) => r.path.toString() === '/0/0/5');
    assert.equal(key?.value?.type, 'opaque');
    assert.deepEqual(key?.value?.value, new Uint8Array([0x00, 0xff, 0x10, 0x80, 0x7f]));
  });

  it('round-trips an empty state and an empty multiple resource', () => {
    const empty: ClientState = { objects: [0, 1], records: [], sources: {} };
    assertSameState(decodeClientState(encodeClientState(empty), model), empty);
    const withEmpty: ClientState = {
      objects: [2],
      records: [
        rec('/2/0/0', Value.integer(3)),
        rec('/2/0/1', Value.integer(0)),
        rec('/2/0/2'),
        rec('/2/0/3', Value.integer(1)),
      ],
      sources: {},
    };
    assertSameState(decodeClientState(encodeClientState(withEmpty), model), withEmpty);
  });

  it('writes a self-describing JSON document ending in a newline', () => {
    const text = encodeClientState(STATE);
    assert.ok(text.endsWith('\n'));
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal(parsed.format, 'petrel-client-state');
    assert.equal(parsed.version, 1);
    assert.deepEqual(parsed.objects, [0, 1, 2]);
  });

  it('a document that is not JSON is corrupt, and the message names where', () => {
    assertStateError(
      () => decodeClientState('{"format":', model, '/var/lib/x.json'),
      'corrupt',
      /\/var\/lib\/x\.json/,
    );
    assertStateError(() => decodeClientState('', model), 'corrupt', /client state/);
  });

  it('JSON that is not an object is corrupt', () => {
    for (const text of ['null', '[]', '42', '"state"'])
      assertStateError(() => decodeClientState(text, model), 'corrupt', /not a JSON object/);
  });

  it('a wrong format or version is corrupt', () => {
    assertStateError(() => decodeClientState(doc({ format: 'other' }), model), 'corrupt', /format/);
    assertStateError(() => decodeClientState(doc({ version: 2 }), model), 'corrupt', /version 1/);
    assertStateError(() => decodeClientState(doc({ format: undefined }), model), 'corrupt', /format/);
  });

  it('bad objects are corrupt', () => {
    for (const objects of [undefined, 'all', [0, -1], [0, 1.5], [65535], ['0']])
      assertStateError(() => decodeClientState(doc({ objects }), model), 'corrupt', /objects/);
  });

  it('bad sources are corrupt and the message names the entry', () => {
    assertStateError(() => decodeClientState(doc({ sources: null }), model), 'corrupt', /sources/);
    assertStateError(() => decodeClientState(doc({ sources: [] }), model), 'corrupt', /sources/);
    assertStateError(
      () => decodeClientState(doc({ sources: { '/0/0': 'usb-stick' } }), model),
      'corrupt',
      /sources\["\/0\/0"\]/,
    );
    assertStateError(
      () => decodeClientState(doc({ sources: { '/0': 'factory' } }), model),
      'corrupt',
      /sources\["\/0"\]/,
    );
    assertStateError(
      () => decodeClientState(doc({ sources: { ['x'.repeat(10_000)]: 'factory' } }), model),
      'corrupt',
      /sources\["x{20}"\]/,
    );
  });

  it('records that are not records are corrupt', () => {
    assertStateError(() => decodeClientState(doc({ records: [] }), model), 'corrupt', /JSON object/);
    assertStateError(
      () => decodeClientState(doc({ records: { 'not a path': 1 } }), model),
      'corrupt',
      /client state/,
    );
    assertStateError(
      () => decodeClientState(doc({ records: { '/1/0/1': 'soon' } }), model),
      'corrupt',
      /\/1\/0\/1/,
    );
  });

  it('a record outside the objects listed, or above an instance, is corrupt', () => {
    assertStateError(
      () => decodeClientState(doc({ records: { '/3/0/0': 'Petrel' } }), model),
      'corrupt',
      /\/3\/0\/0 is not an instance value of the objects listed/,
    );
    assertStateError(
      () => decodeClientState(doc({ records: { '/0': null } }), model),
      'corrupt',
      /\/0 is not/,
    );
  });

  it('the memory store keeps a copy of what was saved', async () => {
    const store = new MemoryClientStateStore();
    assert.equal(await store.load(model), undefined);
    await store.save(STATE);
    assertSameState(await store.load(model), STATE);
  });
});

describe('client state: FileClientStateStore', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-client-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing file loads as undefined', async () => {
    const store = new FileClientStateStore(join(dir, 'missing', 'state.json'));
    assert.equal(await store.load(model), undefined);
  });

  it('saves and loads, in a folder it creates, mode 0600, no temporary file left', async () => {
    const path = join(dir, 'a', 'b', 'state.json');
    const store = new FileClientStateStore(path);
    await store.save(STATE);
    assertSameState(await store.load(model), STATE);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['state.json']);
    assert.equal(await readFile(path, 'utf8'), encodeClientState(STATE));
  });

  it('a second save replaces the first, and a file that was 0644 becomes 0600', async () => {
    const path = join(dir, 'replace.json');
    await writeFile(path, 'old', { mode: 0o644 });
    const store = new FileClientStateStore(path);
    await store.save(STATE);
    const next: ClientState = {
      objects: [0],
      records: [rec('/0/0/0', Value.string('coap://n.example'))],
      sources: {},
    };
    await store.save(next);
    assertSameState(await store.load(model), next);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('replace.json')),
      ['replace.json'],
    );
  });

  it('a corrupt file is a corrupt error naming the file', async () => {
    const path = join(dir, 'corrupt.json');
    await writeFile(
      path,
      '{"format": "petrel-client-state", "version": 1, "objects": [0], "sources": {}, "records": ',
    );
    await assertStateRejects(new FileClientStateStore(path).load(model), 'corrupt', /corrupt\.json/);
  });

  it('a file that cannot be read is an io error', async () => {
    const path = join(dir, 'is-a-dir');
    await mkdir(path);
    await assertStateRejects(new FileClientStateStore(path).load(model), 'io', /cannot read/);
  });

  it('a save whose rename fails is an io error, leaves the target as it was and no temporary file', async () => {
    const path = join(dir, 'target');
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'kept');
    const store = new FileClientStateStore(path);
    await assertStateRejects(store.save(STATE), 'io', /cannot save/);
    assert.ok((await stat(path)).isDirectory());
    assert.equal(await readFile(join(path, 'keep'), 'utf8'), 'kept');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('target')),
      ['target'],
    );
  });

  it('a failed save keeps the previous state file intact', async () => {
    const sub = join(dir, 'intact');
    const path = join(sub, 'state.json');
    const store = new FileClientStateStore(path);
    await store.save(STATE);
    const bytes = await readFile(path);
    // A state whose encoding throws (a value JSON cannot hold) fails before the rename.
    const bad = {
      objects: [0],
      records: [{ path: STATE.records[0]!.path, value: { type: 'opaque', value: null } }],
      sources: {},
    } as unknown as ClientState;
    await assert.rejects(store.save(bad));
    assert.deepEqual(await readFile(path), bytes);
    assert.deepEqual(await readdir(sub), ['state.json']);
  });
});
