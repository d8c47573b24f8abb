// The node tree (src/model/node-tree.ts) and the flat record form it is built from (src/model/records.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Value, valueToText } from '../../src/model/data-types.js';
import {
  NodeTreeError,
  buildTree,
  flattenNode,
  flattenTree,
  type InstanceNode,
  type NodeTree,
} from '../../src/model/node-tree.js';
import { LwM2mPath } from '../../src/model/path.js';
import { findConflict, sortRecords, type LwM2mRecord } from '../../src/model/records.js';
import { anyValueArb, compositeRecordsArb } from '../support/arbitraries.js';
import { rec } from '../support/records.js';
import { TEST_OBJECT, UNKNOWN_OBJECT } from '../support/test-model.js';

/** Records as comparable text: `/3/0/1=integer:5`, `/3/0` for a value-less one, `@t` for a time. */
function show(records: readonly LwM2mRecord[]): string[] {
  return records.map(
    (r) =>
      `${r.path.toString()}${r.value ? `=${r.value.type}:${valueToText(r.value)}` : ''}${r.time !== undefined ? `@${r.time}` : ''}`,
  );
}

function treeError(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof NodeTreeError, `expected NodeTreeError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_NODE_TREE');
    assert.match(e.message, pattern);
    return true;
  };
}

describe('buildTree', () => {
  it('places values as single and multiple resources', () => {
    const tree = buildTree([
      rec('/3/0/0', Value.string('Acme')),
      rec('/3/0/7/0', Value.integer(3800)),
      rec('/3/0/7/1', Value.integer(5000)),
      rec('/1/0/1', Value.integer(86400)),
      rec('/1/1/1', Value.integer(300)),
    ]);
    assert.deepEqual([...tree.keys()], [3, 1]);
    const device = tree.get(3)?.instances.get(0);
    assert.deepEqual(device?.resources.get(0), { kind: 'single', id: 0, value: Value.string('Acme') });
    const voltages = device?.resources.get(7);
    assert.equal(voltages?.kind, 'multiple');
    assert.deepEqual(voltages?.kind === 'multiple' ? [...voltages.instances] : [], [
      [0, Value.integer(3800)],
      [1, Value.integer(5000)],
    ]);
    assert.deepEqual([...(tree.get(1)?.instances.keys() ?? [])], [0, 1]);
  });

  it('keeps empty containers', () => {
    const tree = buildTree([rec('/5'), rec('/3/0'), rec('/4/0/1'), rec('/4/0/1/0', Value.string('x'))]);
    assert.equal(tree.get(5)?.instances.size, 0);
    assert.equal(tree.get(3)?.instances.get(0)?.resources.size, 0);
    const bearers = tree.get(4)?.instances.get(0)?.resources.get(1);
    assert.equal(bearers?.kind, 'multiple');
    assert.equal(bearers?.kind === 'multiple' ? bearers.instances.size : -1, 1);
    const empty = buildTree([rec('/3/0/11')])
      .get(3)
      ?.instances.get(0)
      ?.resources.get(11);
    assert.deepEqual(empty, { kind: 'multiple', id: 11, instances: new Map() });
  });

  it('refuses records that do not fit one tree', () => {
    const cases: [LwM2mRecord[], RegExp][] = [
      [[rec('/3/0/0', Value.string('a'), 10)], /carries a time/],
      [[rec('/')], /root/],
      [[rec('/3', Value.integer(1))], /object \/3 cannot hold a value/],
      [[rec('/3/0', Value.integer(1))], /instance \/3\/0 cannot hold a value/],
      [[rec('/3/0/0', Value.string('a')), rec('/3/0/0', Value.string('b'))], /\/3\/0\/0 appears twice/],
      [[rec('/3/0/7'), rec('/3/0/7', Value.integer(1))], /appears twice/],
      [[rec('/3/0/7', Value.integer(1)), rec('/3/0/7/0', Value.integer(2))], /both a single and a multiple/],
      [[rec('/3/0/7', Value.integer(1)), rec('/3/0/7')], /both a single and a multiple/],
      [[rec('/3/0/7/0', Value.integer(1)), rec('/3/0/7/0', Value.integer(2))], /\/3\/0\/7\/0 appears twice/],
      [[rec('/3/0/7/0')], /resource instance \/3\/0\/7\/0 has no value/],
    ];
    for (const [records, pattern] of cases)
      assert.throws(() => buildTree(records), treeError(pattern), show(records).join(' '));
  });
});

describe('flattening', () => {
  it('gives back the records a tree was built from', () => {
    const records = [
      rec('/1/0/0', Value.integer(101)),
      rec('/1/0/1', Value.integer(86400)),
      rec('/3/0'),
      rec('/3/1/6'),
      rec('/3/1/7/0', Value.integer(3800)),
      rec('/3/1/7/3', Value.integer(5000)),
      rec('/5'),
      rec('/6/0/4', Value.opaque(new Uint8Array([1]))),
    ];
    assert.deepEqual(show(flattenTree(buildTree(records))), show(records));
  });

  it('orders objects by id', () => {
    const tree = buildTree([rec('/9/0/0', Value.string('pkg')), rec('/3/0/0', Value.string('Acme'))]);
    assert.deepEqual(show(flattenTree(tree)), ['/3/0/0=string:Acme', '/9/0/0=string:pkg']);
  });

  it('flattens a single node at its path', () => {
    const tree = buildTree([rec('/3/0/0', Value.string('Acme')), rec('/3/0/11/0', Value.integer(0))]);
    const instance: InstanceNode = tree.get(3)!.instances.get(0)!;
    assert.deepEqual(show(flattenNode(LwM2mPath.of(3, 0), instance)), [
      '/3/0/0=string:Acme',
      '/3/0/11/0=integer:0',
    ]);
    const errors = instance.resources.get(11)!;
    assert.deepEqual(show(flattenNode(LwM2mPath.parse('/d01/3/0/11'), errors)), ['/d01/3/0/11/0=integer:0']);
    assert.deepEqual(show(flattenNode(LwM2mPath.of(3, 0, 0), instance.resources.get(0)!)), [
      '/3/0/0=string:Acme',
    ]);
  });

  it('round-trips arbitrary trees', () => {
    // Trees of known and unknown objects, every type, empty containers at every level.
    const records = compositeRecordsArb({
      objects: [0, 1, 3, TEST_OBJECT, UNKNOWN_OBJECT],
      executables: true,
      empty: { objects: true, instances: true, multiples: true },
      unknownValues: anyValueArb(),
    });
    fc.assert(
      fc.property(records, (unsorted) => {
        const sorted = sortRecords(unsorted);
        const tree: NodeTree = buildTree(sorted);
        assert.deepEqual(show(flattenTree(tree)), show(sorted));
        assert.deepEqual(buildTree(flattenTree(tree)), tree);
        assert.equal(findConflict(sorted), undefined);
      }),
      { numRuns: 200 },
    );
  });
});

describe('records', () => {
  it('finds duplicate records', () => {
    const dup = rec('/3/0/1', Value.string('b'));
    const found = findConflict([rec('/3/0/1', Value.string('a')), rec('/3/0/0', Value.string('x')), dup]);
    assert.equal(found?.reason, 'duplicate');
    assert.equal(found?.record, dup);
    assert.equal(findConflict([rec('/3/0'), rec('/3/0')])?.reason, 'duplicate', 'also two names of one path');
  });

  it('finds a value placed below another value', () => {
    const below = rec('/3/0/7/0', Value.integer(2));
    const found = findConflict([rec('/3/0/7', Value.integer(1)), below]);
    assert.deepEqual(found, { record: below, reason: 'overlap' });
    assert.equal(findConflict([below, rec('/3/0/7', Value.integer(1))])?.reason, 'overlap', 'in any order');
  });

  it('accepts a time series and names with values below them', () => {
    assert.equal(
      findConflict([
        rec('/3/0/9', Value.integer(80), 100),
        rec('/3/0/9', Value.integer(79), 160),
        rec('/3/0/9', Value.integer(78)),
      ]),
      undefined,
    );
    assert.equal(
      findConflict([rec('/3/0/7', Value.integer(1), 10), rec('/3/0/7/0', Value.integer(2), 20)]),
      undefined,
    );
    assert.equal(findConflict([rec('/3/0'), rec('/3/0/1', Value.string('a')), rec('/3')]), undefined);
    assert.equal(findConflict([]), undefined);
  });

  it('sorts into tree order, then by time, without touching the input', () => {
    const input = [
      rec('/3/0/9', Value.integer(2), 200),
      rec('/3/0/10', Value.integer(1)),
      rec('/3/0/9', Value.integer(1), 100),
      rec('/1/0'),
      rec('/3/0/7/1', Value.integer(1)),
      rec('/3/0/7/0', Value.integer(1)),
      rec('/3', undefined),
    ];
    const before = show(input);
    assert.deepEqual(show(sortRecords(input)), [
      '/1/0',
      '/3',
      '/3/0/7/0=integer:1',
      '/3/0/7/1=integer:1',
      '/3/0/9=integer:1@100',
      '/3/0/9=integer:2@200',
      '/3/0/10=integer:1',
    ]);
    assert.deepEqual(show(input), before);
  });
});
