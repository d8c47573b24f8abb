import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, isQueued } from './api.js';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

function fakeFetch(status: number, body: unknown, calls: Call[]): typeof fetch {
  return ((url: string, init: RequestInit) => {
    calls.push({
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
    });
    return Promise.resolve(new Response(body === undefined ? '' : JSON.stringify(body), { status }));
  }) as typeof fetch;
}

describe('ApiClient', () => {
  it('sends the token as a Bearer header and JSON bodies', async () => {
    const calls: Call[] = [];
    const api = new ApiClient({
      getToken: () => 's3cret',
      fetch: fakeFetch(200, { endpoint: 'd', tags: ['a'] }, calls),
    });
    await api.setTags('urn:x', ['a']);
    expect(calls[0]).toMatchObject({
      url: '/api/clients/urn%3Ax/tags',
      method: 'PUT',
      body: '{"tags":["a"]}',
    });
    expect(calls[0]?.headers.authorization).toBe('Bearer s3cret');
    expect(calls[0]?.headers['content-type']).toBe('application/json');
  });

  it('builds operation URLs and bodies per the contract', async () => {
    const calls: Call[] = [];
    const api = new ApiClient({ getToken: () => undefined, fetch: fakeFetch(200, {}, calls) });
    await api.read('d', '/3/0/9', { format: 'tlv' });
    await api.write('d', '/3/0/7', { values: { '/3/0/7/0': 1 } }, { mode: 'update' });
    await api.execute('d', '/3/0/4');
    await api.execute('d', '/3/0/4', "0='x'");
    await api.discover('d', '/3', 2);
    await api.observe('d', '/3303/0/5700', { pmin: 1 });
    await api.observe('d', '/3303/0/5700', {});
    await api.cancelObserve('d', '/3303/0/5700');
    await api.observeComposite('d', ['/3/0/9', '/1/0/1'], undefined, 'senml-cbor');
    await api.create('d', '/3303', { values: { '5700': 1 } });
    await api.clients({ search: 'a', tags: ['x', 'y'], status: '', offset: 0, limit: 50 });
    expect(calls.map((c) => `${c.method} ${c.url}${c.body === undefined ? '' : ` ${c.body}`}`)).toEqual([
      'GET /api/clients/d/3/0/9?format=tlv',
      'PUT /api/clients/d/3/0/7?mode=update {"values":{"/3/0/7/0":1}}',
      'POST /api/clients/d/3/0/4/execute {}',
      `POST /api/clients/d/3/0/4/execute {"arguments":"0='x'"}`,
      'GET /api/clients/d/3/discover?depth=2',
      'POST /api/clients/d/3303/0/5700/observe {"attributes":{"pmin":1}}',
      'POST /api/clients/d/3303/0/5700/observe {}',
      'DELETE /api/clients/d/3303/0/5700/observe',
      'POST /api/clients/d/composite/observe {"paths":["/3/0/9","/1/0/1"],"format":"senml-cbor"}',
      'POST /api/clients/d/3303 {"values":{"5700":1}}',
      'GET /api/clients?search=a&tag=x&tag=y&offset=0&limit=50',
    ]);
    expect(calls[0]?.headers.authorization).toBeUndefined();
  });

  it('calls the security routes', async () => {
    const calls: Call[] = [];
    const api = new ApiClient({ getToken: () => undefined, fetch: fakeFetch(200, {}, calls) });
    await api.securityClients();
    await api.setSecurity('urn:x/1', { psk: { identity: 'i', key: 'aa' } });
    await api.setSecurity('d', { x509: {} });
    await api.removeSecurity('urn:x/1');
    await api.generatePsk();
    await api.generatePsk(32);
    await api.generateKeyPair();
    await api.serverSecurity();
    expect(calls.map((c) => `${c.method} ${c.url}${c.body === undefined ? '' : ` ${c.body}`}`)).toEqual([
      'GET /api/security/clients',
      'PUT /api/security/clients/urn%3Ax%2F1 {"psk":{"identity":"i","key":"aa"}}',
      'PUT /api/security/clients/d {"x509":{}}',
      'DELETE /api/security/clients/urn%3Ax%2F1',
      'POST /api/security/generate/psk',
      'POST /api/security/generate/psk?bytes=32',
      'POST /api/security/generate/keypair',
      'GET /api/security/server',
    ]);
  });

  it('turns error bodies into ApiError and reports 401', async () => {
    let unauthorized = 0;
    const api = new ApiClient({
      getToken: () => undefined,
      onUnauthorized: () => unauthorized++,
      fetch: fakeFetch(401, { code: 'UNAUTHORIZED', message: 'token needed' }, []),
    });
    const e = await api.server().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: 'UNAUTHORIZED', message: 'token needed' });
    expect(unauthorized).toBe(1);
    const plain = new ApiClient({ getToken: () => undefined, fetch: fakeFetch(502, undefined, []) });
    await expect(plain.server()).rejects.toMatchObject({ status: 502, code: 'HTTP_502' });
  });

  it('tells queued answers apart and puts the token in the event stream URL', () => {
    expect(isQueued({ queued: true, requestId: 'r', endpoint: 'd', operation: 'read', paths: [] })).toBe(
      true,
    );
    expect(isQueued({ endpoint: 'd', operation: 'read', paths: [], code: '2.05', success: true })).toBe(
      false,
    );
    const api = new ApiClient({ getToken: () => 'a b', baseUrl: 'http://h:1' });
    expect(api.eventsUrl({ lastEventId: 7 })).toBe('http://h:1/api/events?lastEventId=7&token=a+b');
  });

  it('firmware: raw uploads, campaign routes, and the progress stream with the bearer header', async () => {
    const calls: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = [];
    const api = new ApiClient({
      getToken: () => 'tok',
      fetch: ((url: string, init: RequestInit) => {
        calls.push({
          url,
          method: init.method ?? 'GET',
          headers: init.headers as Record<string, string>,
          body: init.body,
        });
        if (url.endsWith('/events') && url.includes('gone'))
          return Promise.resolve(
            new Response('{"code":"NOT_FOUND","message":"no campaign gone"}', { status: 404 }),
          );
        if (url.endsWith('/events'))
          return Promise.resolve(new Response('event: snapshot\ndata: {}\n\n', { status: 200 }));
        return Promise.resolve(new Response('{}', { status: 200 }));
      }) as typeof fetch,
    });
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    await api.uploadFirmwareImage(bytes, 'app v1.bin');
    await api.createFirmwareCampaign({ image: 'ab', targets: ['d'] });
    await api.campaignAction('c1', 'pause');
    await api.deleteFirmwareImage('ab');
    const res = await api.campaignEvents('c1', new AbortController().signal);
    expect(await res.text()).toBe('event: snapshot\ndata: {}\n\n');
    await expect(api.campaignEvents('gone', new AbortController().signal)).rejects.toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/firmware/images?label=app+v1.bin',
      'POST /api/firmware/campaigns',
      'POST /api/firmware/campaigns/c1/pause',
      'DELETE /api/firmware/images/ab',
      'GET /api/firmware/campaigns/c1/events',
      'GET /api/firmware/campaigns/gone/events',
    ]);
    expect(calls[0]!.body).toBe(bytes);
    expect(calls[0]!.headers['content-type']).toBe('application/octet-stream');
    expect(calls[1]!.body).toBe('{"image":"ab","targets":["d"]}');
    expect(calls[4]!.headers).toMatchObject({ accept: 'text/event-stream', authorization: 'Bearer tok' });
  });
});
