/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call --
   The answers are untyped JSON; the assertions check them field by field. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture } from './api-fixture.js';
import type { ApiFixture } from './api-fixture.js';
import { TEST_OBJECT } from '../support/test-model.js';

describe('REST API: LwM2M operations against a real client', () => {
  let f: ApiFixture;
  let ep: string;
  before(async () => {
    f = await apiFixture();
    ep = f.rig.ep;
  });
  after(() => f.close());

  it('reads an instance: values, typed records, format, identity and latency', async () => {
    const { status, json } = await f.call('GET', `/api/clients/${ep}/3303/0`);
    assert.equal(status, 200);
    assert.equal(json.endpoint, ep);
    assert.equal(json.operation, 'read');
    assert.deepEqual(json.paths, ['/3303/0']);
    assert.equal(json.code, '2.05');
    assert.equal(json.success, true);
    assert.equal(json.format, 'senml-cbor');
    assert.deepEqual(json.values, { '/3303/0/5700': 21.5, '/3303/0/5701': 'Cel' });
    assert.deepEqual(json.records, [
      { path: '/3303/0/5700', type: 'float', value: 21.5 },
      { path: '/3303/0/5701', type: 'string', value: 'Cel' },
    ]);
    assert.match(json.identity.commandId, /^[0-9a-f]{16}$/);
    assert.match(json.identity.token, /^[0-9a-f]+$/);
    assert.equal(typeof json.identity.messageId, 'number');
    assert.equal(typeof json.latencyMs, 'number');
    assert.ok(json.latencyMs >= 0);
    const trace = await f.waitForEvent(
      (e) => e.type === 'response' && e.data.commandId === json.identity.commandId,
    );
    assert.equal(trace.data.token, json.identity.token);
  });

  it('reads with a chosen format, and every type in the JSON convention', async () => {
    const tlv = await f.call('GET', `/api/clients/${ep}/${TEST_OBJECT}/1?format=tlv`);
    assert.equal(tlv.json.format, 'tlv');
    assert.deepEqual(tlv.json.values, f.rig.values(`/${TEST_OBJECT}/1`));
    assert.equal(tlv.json.values[`/${TEST_OBJECT}/1/4`], '18446744073709551615');
    assert.equal(tlv.json.values[`/${TEST_OBJECT}/1/1`], '3:0');
    const byNumber = await f.call('GET', `/api/clients/${ep}/${TEST_OBJECT}/0/3?format=42`);
    assert.equal(byNumber.json.format, 'opaque');
    assert.deepEqual(byNumber.json.values, { [`/${TEST_OBJECT}/0/3`]: { hex: 'cafe' } });
    const unknown = await f.call('GET', `/api/clients/${ep}/3/0?format=yaml`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.code, 'BAD_REQUEST');
    assert.match(unknown.json.message, /yaml/);
  });

  it('answers a client error code as HTTP 200 success false', async () => {
    const { status, json } = await f.call('GET', `/api/clients/${ep}/3303/9`);
    assert.equal(status, 200);
    assert.equal(json.success, false);
    assert.equal(json.code, '4.04');
    assert.equal(typeof json.diagnostic, 'string');
    assert.equal(json.values, undefined);
  });

  it('writes a resource (replace) with typed values, and refuses a wrong type with BAD_VALUE', async () => {
    const ok = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/5`, { value: 'written by REST' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.operation, 'write');
    assert.equal(ok.json.code, '2.04');
    assert.equal(f.rig.values(`/${TEST_OBJECT}/0/5`)[`/${TEST_OBJECT}/0/5`], 'written by REST');

    const opaque = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/3`, { value: { hex: '0102ff' } });
    assert.equal(opaque.json.code, '2.04');
    assert.deepEqual(f.rig.values(`/${TEST_OBJECT}/0/3`)[`/${TEST_OBJECT}/0/3`], { hex: '0102ff' });

    const objlnk = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/1`, { value: '3303:0' });
    assert.equal(objlnk.json.code, '2.04');
    assert.equal(f.rig.values(`/${TEST_OBJECT}/0/1`)[`/${TEST_OBJECT}/0/1`], '3303:0');

    for (const [path, value, pattern] of [
      [`${TEST_OBJECT}/0/4`, 'abc', /unsigned/],
      [`${TEST_OBJECT}/0/4`, -1, /unsigned|negative|range/],
      [`${TEST_OBJECT}/0/2`, 'yes', /boolean|true\/false/],
      [`${TEST_OBJECT}/0/5`, 5, /string/],
      [`${TEST_OBJECT}/0/3`, { hex: 'xyz' }, /hex/],
      [`${TEST_OBJECT}/0/5`, { not: 'a value' }, /expected a string, number, boolean, null/],
      [`${TEST_OBJECT}/0/6`, 2 ** 60, /2\^53/],
    ] as const) {
      const bad = await f.call('PUT', `/api/clients/${ep}/${path}`, { value });
      assert.equal(bad.status, 400, `${path} ${JSON.stringify(value)}`);
      assert.equal(bad.json.code, 'BAD_VALUE', `${path} ${JSON.stringify(value)}`);
      assert.match(bad.json.message, pattern);
    }
  });

  it('writes several values with mode=update (write-update) and with replace', async () => {
    const update = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0?mode=update`, {
      values: { '5': 'partial', [`/${TEST_OBJECT}/0/7`]: 1_800_000_000 },
    });
    assert.equal(update.status, 200);
    assert.equal(update.json.operation, 'write-update');
    assert.equal(update.json.code, '2.04');
    const after = f.rig.values(`/${TEST_OBJECT}/0`);
    assert.equal(after[`/${TEST_OBJECT}/0/5`], 'partial');
    assert.equal(after[`/${TEST_OBJECT}/0/7`], 1_800_000_000);
    assert.deepEqual(after[`/${TEST_OBJECT}/0/15/0`], 'Red', 'update keeps the rest');

    const multi = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/15`, {
      values: { [`/${TEST_OBJECT}/0/15/0`]: 'Blue' },
    });
    assert.equal(multi.json.code, '2.04');
    const replaced = f.rig.values(`/${TEST_OBJECT}/0/15`);
    assert.deepEqual(replaced, { [`/${TEST_OBJECT}/0/15/0`]: 'Blue' }, 'replace drops Green');

    const single = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/5?mode=update`, { value: 'x' });
    assert.equal(single.status, 400);
    assert.equal(single.json.code, 'NOT_ALLOWED');

    const both = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/5`, { value: 'x', values: {} });
    assert.equal(both.status, 400);
    assert.equal(both.json.code, 'BAD_REQUEST');
    const badMode = await f.call('PUT', `/api/clients/${ep}/${TEST_OBJECT}/0/5?mode=merge`, { value: 'x' });
    assert.equal(badMode.status, 400);
    assert.match(badMode.json.message, /"replace", "update"/);
  });

  it('executes with arguments, and refuses execute on an object', async () => {
    const r = await f.call('POST', `/api/clients/${ep}/${TEST_OBJECT}/0/9/execute`, {
      arguments: "0='abc',1",
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.operation, 'execute');
    assert.equal(r.json.code, '2.04');
    assert.deepEqual(f.rig.executed.at(-1), {
      path: `/${TEST_OBJECT}/0/9`,
      args: [{ digit: 0, value: 'abc' }, { digit: 1 }],
    });
    const noBody = await f.call('POST', `/api/clients/${ep}/3303/0/5605/execute`);
    assert.equal(noBody.json.code, '2.04');
    assert.deepEqual(f.rig.executed.at(-1), { path: '/3303/0/5605', args: [] });

    const onObject = await f.call('POST', `/api/clients/${ep}/3303/execute`);
    assert.equal(onObject.status, 400);
    assert.equal(onObject.json.code, 'NOT_ALLOWED');
    const badArgs = await f.call('POST', `/api/clients/${ep}/3303/0/5605/execute`, { arguments: '12=x' });
    assert.equal(badArgs.status, 400);
    assert.equal(badArgs.json.code, 'BAD_REQUEST');
    assert.match(badArgs.json.message, /Execute arguments/);
    const stray = await f.call('POST', `/api/clients/${ep}/3303/0/5605/execute`, { instanceId: 3 });
    assert.equal(stray.status, 400);
    assert.match(stray.json.message, /Execute takes no "instanceId"/);
  });

  it('creates an instance with values, then deletes it', async () => {
    const T = TEST_OBJECT;
    const created = await f.call('POST', `/api/clients/${ep}/${T}`, {
      instanceId: 7,
      values: { '5': 'made by REST', [`/${T}/7/0`]: 1.5 },
    });
    assert.equal(created.status, 200);
    assert.equal(created.json.operation, 'create');
    assert.equal(created.json.code, '2.01');
    assert.deepEqual(created.json.paths, [`/${T}/7`]);
    const tree = f.rig.values(`/${T}/7`);
    assert.equal(tree[`/${T}/7/5`], 'made by REST');
    assert.equal(tree[`/${T}/7/0`], 1.5);
    const read = await f.call('GET', `/api/clients/${ep}/${T}/7/5`);
    assert.equal(read.json.values[`/${T}/7/5`], 'made by REST');

    const deleted = await f.call('DELETE', `/api/clients/${ep}/${T}/7`);
    assert.equal(deleted.status, 200);
    assert.equal(deleted.json.operation, 'delete');
    assert.equal(deleted.json.code, '2.02');
    const gone = await f.call('GET', `/api/clients/${ep}/${T}/7`);
    assert.equal(gone.json.code, '4.04');

    const clientPicks = await f.call('POST', `/api/clients/${ep}/${T}`, { values: { '5': 'any id' } });
    assert.equal(clientPicks.json.code, '2.01');
    assert.match(clientPicks.json.location, new RegExp(`^/${T}/[0-9]+$`));
    assert.equal(
      (await f.call('DELETE', `/api/clients/${ep}${clientPicks.json.location}`)).json.code,
      '2.02',
    );

    const wrongType = await f.call('POST', `/api/clients/${ep}/${T}`, { values: { '2': 'not a boolean' } });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.json.code, 'BAD_VALUE');
    const twice = await f.call('POST', `/api/clients/${ep}/${T}/8`, { instanceId: 8 });
    assert.equal(twice.status, 400);
    assert.equal(twice.json.code, 'BAD_REQUEST');
    const onResource = await f.call('POST', `/api/clients/${ep}/${T}/0/5`, {});
    assert.equal(onResource.status, 400);
    assert.equal(onResource.json.code, 'NOT_ALLOWED');
  });

  it('discovers with depth, with links and their params', async () => {
    const d = await f.call('GET', `/api/clients/${ep}/3303/discover?depth=2`);
    assert.equal(d.status, 200);
    assert.equal(d.json.operation, 'discover');
    assert.equal(d.json.code, '2.05');
    const targets = d.json.links.map((l: { target: string }) => l.target);
    assert.ok(targets.includes('/3303'));
    assert.ok(targets.includes('/3303/0'));
    assert.ok(targets.includes('/3303/0/5700'));
    const shallow = await f.call('GET', `/api/clients/${ep}/3303/discover?depth=1`);
    assert.ok(!shallow.json.links.some((l: { target: string }) => l.target === '/3303/0/5700'));
    const deep = await f.call('GET', `/api/clients/${ep}/3303/discover?depth=4`);
    assert.equal(deep.status, 400);
    assert.match(deep.json.message, /depth must be <= 3/);
    const depthOnRead = await f.call('GET', `/api/clients/${ep}/3303?depth=1`);
    assert.equal(depthOnRead.status, 400);
  });

  it('writes attributes (shown by Discover), and refuses broken rules with BAD_ATTRIBUTES', async () => {
    const w = await f.call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, {
      pmin: 5,
      pmax: 60,
      gt: 30.5,
    });
    assert.equal(w.status, 200);
    assert.equal(w.json.operation, 'write-attributes');
    assert.equal(w.json.code, '2.04');
    const d = await f.call('GET', `/api/clients/${ep}/3303/0/5700/discover`);
    const link = d.json.links.find((l: { target: string }) => l.target === '/3303/0/5700');
    assert.deepEqual(
      { pmin: link.params.pmin, pmax: link.params.pmax, gt: link.params.gt },
      { pmin: 5, pmax: 60, gt: 30.5 },
    );

    const cleared = await f.call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, { gt: null });
    assert.equal(cleared.json.code, '2.04');
    const d2 = await f.call('GET', `/api/clients/${ep}/3303/0/5700/discover`);
    assert.equal(
      d2.json.links.find((l: { target: string }) => l.target === '/3303/0/5700').params.gt,
      undefined,
    );

    for (const body of [{ lt: 50, gt: 10 }, { pmin: -1 }, { edge: 2 }, { gt: 1 }, {}]) {
      const path = 'gt' in body && !('lt' in body) ? '3303/0' : '3303/0/5700';
      const bad = await f.call('PUT', `/api/clients/${ep}/${path}/attributes`, body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.json.code, 'BAD_ATTRIBUTES', JSON.stringify(body));
    }
    const unknown = await f.call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, { pmean: 3 });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.code, 'BAD_REQUEST');
    assert.match(unknown.json.message, /"pmean"/);
    await f.call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, { pmin: null, pmax: null });
  });

  it('reads and writes composite', async () => {
    const r = await f.call('POST', `/api/clients/${ep}/composite/read`, {
      paths: ['/3303/0/5700', '/3/0/0'],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.operation, 'read-composite');
    assert.deepEqual(r.json.paths, ['/3303/0/5700', '/3/0/0']);
    assert.equal(r.json.code, '2.05');
    assert.deepEqual(r.json.values, { '/3303/0/5700': 21.5, '/3/0/0': 'Petrel' });

    const w = await f.call('POST', `/api/clients/${ep}/composite/write`, {
      values: { [`/${TEST_OBJECT}/0/5`]: 'composite', [`/${TEST_OBJECT}/1/2`]: false },
    });
    assert.equal(w.status, 200);
    assert.equal(w.json.operation, 'write-composite');
    assert.equal(w.json.code, '2.04');
    assert.equal(f.rig.values(`/${TEST_OBJECT}/0/5`)[`/${TEST_OBJECT}/0/5`], 'composite');
    assert.equal(f.rig.values(`/${TEST_OBJECT}/1/2`)[`/${TEST_OBJECT}/1/2`], false);

    const badPath = await f.call('POST', `/api/clients/${ep}/composite/read`, { paths: ['3/0'] });
    assert.equal(badPath.status, 400);
    assert.equal(badPath.json.code, 'BAD_PATH');
    const empty = await f.call('POST', `/api/clients/${ep}/composite/read`, { paths: [] });
    assert.equal(empty.status, 400);
    assert.match(empty.json.message, /body\/paths must NOT have fewer than 1 items/);
    const wrongType = await f.call('POST', `/api/clients/${ep}/composite/write`, {
      values: { [`/${TEST_OBJECT}/0/2`]: 'x' },
    });
    assert.equal(wrongType.json.code, 'BAD_VALUE');
  });

  it('observes, lists the observation with its notifications, and cancels it by path', async () => {
    const o = await f.call('POST', `/api/clients/${ep}/3303/0/5700/observe`, { attributes: { pmin: 0 } });
    assert.equal(o.status, 200);
    assert.equal(o.json.operation, 'observe');
    assert.equal(o.json.code, '2.05');
    assert.deepEqual(o.json.values, { '/3303/0/5700': 21.5 });
    const id = o.json.observationId;
    assert.match(id, /^[0-9a-f]{16}$/);

    f.rig.client.set('/3303/0/5700', 23.25);
    const n = await f.waitForEvent((e) => e.type === 'notification' && e.data.observationId === id);
    assert.deepEqual(n.data.values, { '/3303/0/5700': 23.25 });

    const list = await f.call('GET', `/api/clients/${ep}/observations`);
    assert.equal(list.status, 200);
    const mine = list.json.find((x: { id: string }) => x.id === id);
    assert.deepEqual(mine.paths, ['/3303/0/5700']);
    assert.equal(mine.composite, false);
    assert.deepEqual(mine.attributes, { pmin: 0 });
    assert.equal(mine.notifications, 1);
    assert.ok(Date.parse(mine.lastNotificationAt) >= Date.parse(mine.createdAt));
    assert.deepEqual(mine.lastValues, { '/3303/0/5700': 23.25 });
    assert.equal((await f.call('GET', `/api/clients/${ep}`)).json.observations, 1);

    const cancel = await f.call('DELETE', `/api/clients/${ep}/3303/0/5700/observe`);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.json.operation, 'cancel-observation');
    assert.equal(cancel.json.code, '2.05');
    assert.equal(cancel.json.observationId, id);
    assert.equal(cancel.json.cancelled, 1);
    assert.deepEqual((await f.call('GET', `/api/clients/${ep}/observations`)).json, []);

    const again = await f.call('DELETE', `/api/clients/${ep}/3303/0/5700/observe`);
    assert.equal(again.status, 404);
    assert.equal(again.json.code, 'UNKNOWN_OBSERVATION');
    const badAttr = await f.call('POST', `/api/clients/${ep}/3303/0/5700/observe`, {
      attributes: { pmin: 'x' },
    });
    assert.equal(badAttr.status, 400);
  });

  it('observes composite and cancels it by id', async () => {
    const o = await f.call('POST', `/api/clients/${ep}/composite/observe`, {
      paths: ['/3303/0/5700', `/${TEST_OBJECT}/0/5`],
      attributes: { pmin: 0 },
    });
    assert.equal(o.status, 200);
    assert.equal(o.json.operation, 'observe-composite');
    assert.equal(o.json.code, '2.05');
    assert.equal(o.json.values['/3303/0/5700'], f.rig.values('/3303/0/5700')['/3303/0/5700']);
    const id = o.json.observationId;
    f.rig.client.set(`/${TEST_OBJECT}/0/5`, 'changed');
    const n = await f.waitForEvent((e) => e.type === 'notification' && e.data.observationId === id);
    assert.equal((n.data.values as Record<string, unknown>)[`/${TEST_OBJECT}/0/5`], 'changed');
    const list = (await f.call('GET', `/api/clients/${ep}/observations`)).json;
    assert.deepEqual(list.find((x: { id: string }) => x.id === id).paths, [
      '/3303/0/5700',
      `/${TEST_OBJECT}/0/5`,
    ]);
    assert.equal(list.find((x: { id: string }) => x.id === id).composite, true);

    const notAllowed = await f.call('POST', `/api/clients/${ep}/composite/observe`, {
      paths: ['/3303/0/5700'],
      attributes: { gt: 3 },
    });
    assert.equal(notAllowed.status, 400);
    assert.equal(notAllowed.json.code, 'BAD_ATTRIBUTES');

    const cancel = await f.call('DELETE', `/api/clients/${ep}/observations/${id}`);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.json.observationId, id);
    assert.deepEqual(cancel.json.paths, ['/3303/0/5700', `/${TEST_OBJECT}/0/5`]);
    assert.equal(cancel.json.success, true);
    const unknown = await f.call('DELETE', `/api/clients/${ep}/observations/${id}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'UNKNOWN_OBSERVATION');
  });

  it('refuses malformed paths with BAD_PATH and wrong methods with NOT_ALLOWED', async () => {
    for (const url of ['3/x', '3/0/1/2/3', '65535', 'composite/3', 'tags/3/0', '3//0', '~5/0']) {
      const r = await f.call('GET', `/api/clients/${ep}/${url}`);
      assert.equal(r.status, 400, url);
      assert.equal(r.json.code, 'BAD_PATH', url);
    }
    const empty = await f.call('GET', `/api/clients/${ep}/`);
    assert.equal(empty.json.code, 'BAD_PATH');
    const execGet = await f.call('GET', `/api/clients/${ep}/3/0/4/execute`);
    assert.equal(execGet.status, 400);
    assert.equal(execGet.json.code, 'NOT_ALLOWED');
    assert.match(execGet.json.message, /POST …\/execute/);
    const observePut = await f.call('PUT', `/api/clients/${ep}/3/0/observe`, {});
    assert.equal(observePut.json.code, 'NOT_ALLOWED');
  });

  it('routes reserved words escaped with ~ to the gateway prefix, and URL-encoded paths', async () => {
    const r = await f.call('GET', `/api/clients/${ep}/~tags/3/0`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.paths, ['/tags/3/0']);
    assert.equal(r.json.success, false, 'the rig has no end device "tags"');
    const sent = await f.waitForEvent(
      (e) => e.type === 'request' && e.data.commandId === r.json.identity.commandId,
    );
    assert.deepEqual(sent.data.paths, ['/tags/3/0']);
    const escaped = await f.call('GET', `/api/clients/${ep}/~~x/3/discover`);
    assert.deepEqual(escaped.json.paths, ['/~x/3']);
    const encoded = await f.call('GET', `/api/clients/${ep}/3303%2F0%2F5700`);
    assert.deepEqual(encoded.json.paths, ['/3303/0/5700']);
    assert.equal(encoded.json.code, '2.05');
  });

  it('times out when the client does not answer (504 TIMEOUT), and bounds the timeout', async () => {
    const tooLong = await f.call('GET', `/api/clients/${ep}/3/0?timeout=300001`);
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.json.message, /timeout must be <= 300000/);
    const channel = f.rig.network.channel('10.0.0.40', 56830);
    await f.addClient('mute', '10.0.0.40', { channel });
    await channel.close(); // the client vanishes without de-registering
    const r = await f.call('GET', '/api/clients/mute/3/0?timeout=200');
    assert.equal(r.status, 504);
    assert.equal(r.json.code, 'TIMEOUT');
    assert.match(r.json.message, /mute/);
  });
});
