// Every value payload in the real third-party captures decodes by its Content-Format, and the
// same Read answered in different formats gives the same paths and the same stable values.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { decodeCreatePayload, placeCreateInstance } from '../../src/content/create-payload.js';
import { lookupContentFormat } from '../../src/content/content-format.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import { CAPTURE_FILES, capturedPayloads, targetPath } from '../support/captures.js';
import { requireShared, sharedDir } from '../support/shared.js';

const codecs = createCodecRegistry();

function modelWithRegistry(shared: string) {
  const model = createDefaultRegistry();
  model.loadDirectory(join(shared, 'lwm2m-registry'));
  return model;
}

describe('captured payloads decode', () => {
  for (const file of CAPTURE_FILES) {
    it(`every value payload in ${file}`, (t) => {
      const shared = requireShared(t);
      if (!shared) return;
      const model = modelWithRegistry(shared);
      let decoded = 0;
      let expected = 0;
      for (const p of capturedPayloads(shared, file)) {
        const format = lookupContentFormat(p.contentFormat);
        assert.ok(format, `seq ${p.line.seq}: unknown content format ${p.contentFormat}`);
        if (format.name === 'link') continue;
        expected++;
        const path = targetPath(p);
        const isCreate = p.isRequest && p.requestCode === '0.02' && path.isObject();
        if (isCreate) {
          // A Create may carry an instance with no resources (Core 1.2: the client fills defaults).
          const instances = decodeCreatePayload(codecs, p.contentFormat, p.payload, { path, model });
          assert.ok(instances.length > 0, `seq ${p.line.seq} (${p.line.summary}) creates nothing`);
          for (const c of instances)
            for (const r of placeCreateInstance(path, c.instanceId ?? 0, c.resources))
              assert.ok(path.covers(r.path));
          decoded++;
          continue;
        }
        const records = codecs.decode(p.contentFormat, p.payload, { path, model });
        assert.ok(records.length > 0, `seq ${p.line.seq} (${p.line.summary}) decoded to nothing`);
        for (const r of records)
          assert.ok(
            path.covers(r.path),
            `seq ${p.line.seq}: ${r.path.toString()} is not below ${path.toString()}`,
          );
        decoded++;
      }
      assert.ok(expected > 0, `no value payloads found in ${file}`);
      assert.equal(decoded, expected);
    });
  }
});

describe('the same Read in different formats agrees', () => {
  const STABLE = ['/3/0/0', '/3/0/1', '/3/0/2', '/3/0/3', '/3/0/16', '/1/1/0', '/1/1/7', '/1/0/0', '/1/0/7'];
  for (const file of ['lwm2m-1.2-client-udp.jsonl', 'lwm2m-1.1-client-udp.jsonl']) {
    it(file, (t) => {
      const shared = sharedDir() ?? requireShared(t);
      if (!shared) return;
      const model = modelWithRegistry(shared);
      const byTarget = new Map<string, { format: string; json: Record<string, unknown> }[]>();
      for (const p of capturedPayloads(shared, file)) {
        if (p.isRequest || p.requestCode !== '0.01' || !p.line.code?.startsWith('2.05')) continue;
        if (p.line.options?.some((o) => o.number === 6)) continue; // notifications: values change
        const format = lookupContentFormat(p.contentFormat)!;
        if (format.name === 'link') continue;
        const path = LwM2mPath.parse(p.requestPath);
        const json = recordsToJson(codecs.decode(p.contentFormat, p.payload, { path, model }));
        const list = byTarget.get(p.requestPath) ?? [];
        list.push({ format: format.name, json });
        byTarget.set(p.requestPath, list);
      }
      let compared = 0;
      for (const [target, reads] of byTarget) {
        const [first, ...rest] = reads;
        for (const other of rest) {
          assert.deepEqual(
            Object.keys(other.json).sort(),
            Object.keys(first!.json).sort(),
            `${target}: ${other.format} and ${first!.format} name different paths`,
          );
          for (const key of STABLE)
            if (key in first!.json)
              assert.deepEqual(other.json[key], first!.json[key], `${target} ${key} in ${other.format}`);
          compared++;
        }
      }
      assert.ok(compared >= 10, `only ${compared} cross-format comparisons`);
    });
  }
});
