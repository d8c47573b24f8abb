/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-explicit-any --
   The answers are untyped JSON; the assertions check them field by field. */
// /api/firmware against a real LwM2mServer and a real LwM2mClient with /5, the API listening on
// 127.0.0.1: images, the HTTP download with tokens and ranges (the client pulls over http), and
// campaigns with their SSE progress.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src/api/api-server.js';
import { MemoryFirmwareStore } from '../../src/client/firmware/firmware-store.js';
import { serverGateway } from '../../src/server/firmware/campaign-gateway.js';
import { FirmwareCampaigns } from '../../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../src/server/firmware/firmware-repository.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { clientRig } from '../support/client-rig.js';
import type { ClientRig } from '../support/client-rig.js';

const img = Uint8Array.from({ length: 6000 }, (_, i) => (i * 17 + 1) & 0xff);
const FAST = {
  pollInterval: 10,
  retryDelay: 10,
  timeouts: { request: 2000, download: 10_000, update: 10_000 },
};

describe('/api/firmware', () => {
  let rig: ClientRig;
  let app: FastifyInstance;
  let base: string;
  const store = new MemoryFirmwareStore({ maxSize: 256 * 1024 });
  const repository = new MemoryFirmwareRepository({ maxImageBytes: 64 * 1024 });
  let download: FirmwareDownloadService;
  let campaigns: FirmwareCampaigns;

  before(async () => {
    rig = await clientRig({
      client: {
        // HTTP only: a pull must come through the REST API's content route.
        firmware: {
          application: {
            store,
            protocols: [2],
            install: () => Promise.resolve({ ok: true, version: '3.0.0' }),
          },
        },
      },
    });
    download = new FirmwareDownloadService({ repository, udp: false });
    await download.start();
    campaigns = new FirmwareCampaigns({ gateway: serverGateway(rig.server), repository, download });
    app = await createApiServer({
      server: rig.server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 100 }), kind: 'memory' },
      firmware: { repository, campaigns, download, maxImageBytes: 64 * 1024 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    download.httpBase = base;
  });
  after(async () => {
    await campaigns.close();
    await app.close();
    await download.stop();
    await rig.close();
  });

  const upload = (body: Uint8Array | string, type = 'application/octet-stream') =>
    fetch(`${base}/api/firmware/images?label=app.bin`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
  const json = async (url: string, init?: RequestInit) => {
    const res = await fetch(`${base}${url}`, init);
    return {
      status: res.status,
      json: (await res.json().catch(() => undefined)) as any,
    };
  };
  const post = (url: string, body?: unknown) =>
    json(url, {
      method: 'POST',
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });

  let id: string;

  it('POST /api/firmware/images takes raw bytes and answers the facts', async () => {
    const res = await upload(img);
    assert.equal(res.status, 201);
    const info = (await res.json()) as { id: string; size: number; kind: string; label: string };
    assert.deepEqual([info.size, info.kind, info.label], [6000, 'plain', 'app.bin']);
    assert.match(info.id, /^[0-9a-f]{64}$/);
    id = info.id;
    const list = await json('/api/firmware/images');
    assert.deepEqual(
      list.json.map((i: { id: string }) => i.id),
      [id],
    );
    assert.equal((await json(`/api/firmware/images/${id}`)).json.size, 6000);
    assert.deepEqual((await json(`/api/firmware/images/${'0'.repeat(64)}`)).json.code, 'NOT_FOUND');
    const asJson = await upload('{"a":1}', 'application/json');
    assert.equal(asJson.status, 415);
    assert.equal(((await asJson.json()) as { code: string }).code, 'UNSUPPORTED_MEDIA_TYPE');
    const big = await upload(new Uint8Array(64 * 1024 + 1));
    assert.equal(big.status, 413);
    const empty = await upload(new Uint8Array(0));
    assert.deepEqual(await empty.json(), { code: 'BAD_VALUE', message: 'an empty image' });
  });

  it('GET …/content needs a download token; serves ranges', async () => {
    const url = `${base}/api/firmware/images/${id}/content`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { code: string }).code, 'UNAUTHORIZED');
    assert.equal((await fetch(`${url}?t=AAAAAAAAAAAAAAAAAAAAAA`)).status, 401);
    const grant = download.issue(id, 'someone');
    const whole = await fetch(`${url}?t=${grant.token}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    const etag = whole.headers.get('etag')!;
    assert.equal(etag, `"${id.slice(0, 16)}"`);
    assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), img);
    const part = await fetch(`${url}?t=${grant.token}`, {
      headers: { range: 'bytes=100-199', 'if-range': etag },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/6000');
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), img.subarray(100, 200));
    const tail = await fetch(`${url}?t=${grant.token}`, { headers: { range: 'bytes=-10' } });
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), img.subarray(5990));
    const stale = await fetch(`${url}?t=${grant.token}`, {
      headers: { range: 'bytes=100-', 'if-range': '"old"' },
    });
    assert.equal(stale.status, 200, 'another ETag: the whole image');
    await stale.arrayBuffer();
    const outside = await fetch(`${url}?t=${grant.token}`, { headers: { range: 'bytes=6000-' } });
    assert.equal(outside.status, 416);
    assert.equal(outside.headers.get('content-range'), 'bytes */6000');
    await outside.arrayBuffer();
  });

  it('a pull campaign over http, followed over SSE, and its report', async () => {
    const created = await post('/api/firmware/campaigns', {
      image: id,
      targets: [rig.ep],
      method: 'auto',
      name: 'r1',
      ...FAST,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const cid = created.json.id as string;
    const sse = await fetch(`${base}/api/firmware/campaigns/${cid}/events`);
    assert.match(sse.headers.get('content-type')!, /^text\/event-stream/);
    const text = await sse.text(); // the stream ends once the campaign completes
    const events = text
      .split('\n\n')
      .filter((m) => m.includes('data: '))
      .map((m) => ({ event: /event: (\w+)/.exec(m)?.[1], data: JSON.parse(/data: (.*)/.exec(m)![1]!) }));
    assert.equal(events[0]!.event, 'snapshot');
    const last = events.at(-1)!;
    assert.deepEqual(
      [last.event, last.data.status, last.data.totals.phases.succeeded],
      ['status', 'completed', 1],
    );
    assert.ok(events.some((e) => e.event === 'device' && e.data.device.phase === 'downloading'));
    // Byte progress of the pull comes as it is served (throttled), ending with the whole image.
    assert.ok(
      events.some(
        (e) =>
          e.event === 'device' &&
          e.data.device.phase === 'downloading' &&
          e.data.device.bytes === e.data.device.size,
      ),
      'a progress event with every byte served',
    );

    const report = await json(`/api/firmware/campaigns/${cid}`);
    const device = report.json.devices[0];
    const history = await json(`/api/firmware/devices/${encodeURIComponent(rig.ep)}/history`);
    assert.equal(history.status, 200);
    assert.deepEqual(
      history.json.updates.map((u: { campaign: string; device: { phase: string } }) => [
        u.campaign,
        u.device.phase,
      ]),
      [[cid, 'succeeded']],
    );
    assert.deepEqual(
      [device.phase, device.method, device.scheme, device.bytes, device.previousVersion, device.version],
      ['succeeded', 'pull', 'http', 6000, '1.0.0', '3.0.0'],
    );
    assert.equal(report.json.name, 'r1');
    assert.deepEqual(store.size, 0, 'installed and dropped');
    const list = await json('/api/firmware/campaigns');
    assert.deepEqual(
      list.json.map((c: { id: string; status: string }) => [c.id, c.status]),
      [[cid, 'completed']],
    );
    assert.equal(list.json[0].devices, undefined, 'the list has totals, not devices');
  });

  it('pause, resume, cancel; an image in use is not deleted', async () => {
    const c = await post('/api/firmware/campaigns', { image: id, targets: ['nobody-here'], ...FAST });
    assert.equal(c.status, 201);
    const cid = c.json.id as string;
    assert.equal((await post(`/api/firmware/campaigns/${cid}/pause`)).json.status, 'paused');
    assert.equal((await post(`/api/firmware/campaigns/${cid}/resume`)).json.status, 'running');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await json(`/api/firmware/campaigns/${cid}`)).json.devices[0].phase, 'waiting');
    const busy = await json(`/api/firmware/images/${id}`, { method: 'DELETE' });
    assert.deepEqual([busy.status, busy.json.code], [409, 'CONFLICT']);
    assert.equal((await post(`/api/firmware/campaigns/${cid}/cancel`)).json.status, 'cancelled');
    await campaigns.finished(cid);
    assert.equal((await json(`/api/firmware/campaigns/${cid}`)).json.devices[0].phase, 'cancelled');
    assert.equal((await fetch(`${base}/api/firmware/images/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await json(`/api/firmware/images/${id}`)).status, 404);
  });

  it('errors are {code, message} with the right status', async () => {
    assert.deepEqual((await post('/api/firmware/campaigns/nope/pause')).json.code, 'NOT_FOUND');
    assert.equal((await json('/api/firmware/campaigns/nope')).status, 404);
    const method = await post('/api/firmware/campaigns', { image: id, targets: ['x'], method: 'ftp' });
    assert.deepEqual([method.status, method.json.code], [400, 'BAD_REQUEST']);
    const unknown = await post('/api/firmware/campaigns', { image: 'f'.repeat(64), targets: ['x'] });
    assert.deepEqual([unknown.status, unknown.json.code], [400, 'BAD_VALUE']);
    const numbers = await post('/api/firmware/campaigns', { image: id, targets: [{}] });
    assert.deepEqual([numbers.status, numbers.json.code], [400, 'BAD_REQUEST']);
    const filter = await post('/api/firmware/campaigns', { image: id, targets: { site: 'paris' } });
    assert.equal(filter.status, 400);
    assert.equal((await json(`/api/firmware/campaigns/${'x'.repeat(200)}`)).status, 400);
    assert.equal((await json(`/api/firmware/images/../../etc/passwd`)).status, 404);
    const extra = await post('/api/firmware/campaigns', { image: id, targets: ['x'], colour: 'red' });
    assert.equal(extra.status, 400);
    const spec = (await json('/api/openapi.json')).json;
    assert.ok(spec.paths['/api/firmware/campaigns/{id}/events'], 'documented');
  });
});

describe('/api/firmware behind an API token', () => {
  it('the content route takes a device download token without the bearer; the rest needs the bearer', async (t) => {
    const repository = new MemoryFirmwareRepository({ maxImageBytes: 64 * 1024 });
    const download = new FirmwareDownloadService({ repository, udp: false });
    await download.start();
    const rig = await clientRig();
    const campaigns = new FirmwareCampaigns({ gateway: serverGateway(rig.server), repository, download });
    const app = await createApiServer({
      server: rig.server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 10 }), kind: 'memory' },
      firmware: { repository, campaigns, download, maxImageBytes: 64 * 1024 },
      token: 'operator-secret',
    });
    t.after(async () => {
      await app.close();
      await campaigns.close();
      await download.stop();
      await rig.close();
    });
    const { id } = await repository.add(img);
    const grant = download.issue(id, 'dev-1');
    const content = await app.inject({ url: `/api/firmware/images/${id}/content?t=${grant.token}` });
    assert.equal(content.statusCode, 200);
    assert.deepEqual(new Uint8Array(content.rawPayload), img);
    assert.equal((await app.inject({ url: `/api/firmware/images/${id}/content` })).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/api/firmware/images' })).statusCode,
      401,
      'listing needs the bearer',
    );
    const listed = await app.inject({
      url: '/api/firmware/images',
      headers: { authorization: 'Bearer operator-secret' },
    });
    assert.equal(listed.statusCode, 200);
    // A campaign's event stream takes ?token= (EventSource sets no header); other routes do not.
    const stream = (q: string) => app.inject({ url: `/api/firmware/campaigns/c9-none/events${q}` });
    assert.equal((await stream('?token=operator-secret')).statusCode, 404, 'past the auth: no such campaign');
    assert.equal((await stream('?token=wrong')).statusCode, 401);
    assert.equal((await stream('')).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/api/firmware/campaigns?token=operator-secret' })).statusCode,
      401,
    );
  });
});
