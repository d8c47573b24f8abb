import { describe, expect, it } from 'vitest';
import { clientUrl, parentPath, pathIds, pathSegments, pathUrl, queryString } from './api-paths.js';
import { checkExecuteArguments } from './execute-args.js';
import { codeClass, formatDuration, formatLatency, relativeTime } from './format.js';
import { parseRoute, routeHref } from './route.js';
import { parseTags } from './tags.js';

describe('API paths', () => {
  it('encodes endpoints and escapes reserved gateway prefixes with ~', () => {
    expect(clientUrl('urn:imei:123')).toBe('/api/clients/urn%3Aimei%3A123');
    expect(pathUrl('dev', '/3/0/7')).toBe('/api/clients/dev/3/0/7');
    expect(pathUrl('dev', '/3/0', 'discover')).toBe('/api/clients/dev/3/0/discover');
    expect(pathSegments('/tags/3/0')).toBe('~tags/3/0');
    expect(pathSegments('/~x/3')).toBe('~~x/3');
    expect(pathSegments('/dev1/3')).toBe('dev1/3');
    expect(pathUrl('gw', '/composite/3', 'observe')).toBe('/api/clients/gw/~composite/3/observe');
  });

  it('builds query strings from defined values, repeating arrays', () => {
    expect(queryString({ a: 'x y', b: undefined, c: '', d: 0, tag: ['p', 'q'] })).toBe(
      '?a=x+y&d=0&tag=p&tag=q',
    );
    expect(queryString({})).toBe('');
  });

  it('walks paths', () => {
    expect(parentPath('/3/0/7')).toBe('/3/0');
    expect(parentPath('/3')).toBe('/');
    expect(pathIds('/3/0/7')).toEqual([3, 0, 7]);
    expect(pathIds('/dev1/3303/0/5700')).toEqual([3303, 0, 5700]);
    expect(pathIds('/3/x')).toBeUndefined();
    expect(pathIds('/3/65536')).toBeUndefined();
  });
});

describe('execute arguments (Core §5.4.5)', () => {
  it('accepts the grammar', () => {
    for (const ok of ['', '5', "0='abc',1", "2='10.3'", "0='',9"])
      expect(checkExecuteArguments(ok), ok).toBeUndefined();
  });

  it('names what is wrong', () => {
    expect(checkExecuteArguments('a')).toMatch(/digit/);
    expect(checkExecuteArguments('1,1')).toMatch(/twice/);
    expect(checkExecuteArguments("0='a b'")).toMatch(/not allowed/);
    expect(checkExecuteArguments("0='abc")).toMatch(/not closed/);
    expect(checkExecuteArguments('0=abc')).toMatch(/expected '/);
    expect(checkExecuteArguments('0,')).toMatch(/after ","/);
    expect(checkExecuteArguments('01')).toMatch(/","/);
  });
});

describe('tags', () => {
  it('splits on spaces and commas, drops duplicates, checks the rules', () => {
    expect(parseTags('site:paris, beta  beta')).toEqual({ ok: true, value: ['site:paris', 'beta'] });
    expect(parseTags('')).toEqual({ ok: true, value: [] });
    expect(parseTags('é').ok).toBe(false);
    expect(parseTags('x'.repeat(65)).ok).toBe(false);
    expect(parseTags(Array.from({ length: 33 }, (_, i) => `t${i}`).join(' ')).ok).toBe(false);
  });
});

describe('routes', () => {
  it('round-trips pages through URLs', () => {
    for (const route of [
      { page: 'clients' },
      { page: 'server' },
      { page: 'security' },
      { page: 'client', endpoint: 'urn:imei:1/2 3' },
      { page: 'firmware' },
      { page: 'campaign', id: 'c1-mih3k2' },
      { page: 'campaign', id: 'a/b c' },
    ] as const)
      expect(parseRoute(routeHref(route))).toEqual(route);
    expect(parseRoute('/clients/')).toEqual({ page: 'clients' });
    expect(parseRoute('/nope')).toEqual({ page: 'not-found', path: '/nope' });
    expect(parseRoute('/clients/%E0%A4%A')).toEqual({ page: 'not-found', path: '/clients/%E0%A4%A' });
  });
});

describe('formatting', () => {
  it('says how long ago', () => {
    expect(relativeTime(0, 500)).toBe('just now');
    expect(relativeTime(0, 12_000)).toBe('12 s ago');
    expect(relativeTime(0, 5 * 60_000)).toBe('5 min ago');
    expect(relativeTime(10 * 3_600_000, 0)).toBe('in 10 h');
  });

  it('formats latencies, durations and code classes', () => {
    expect(formatLatency(3.24)).toBe('3.2 ms');
    expect(formatLatency(120.4)).toBe('120 ms');
    expect(formatLatency(12_500)).toBe('12.5 s');
    expect(formatLatency(undefined)).toBe('');
    expect(formatDuration(90_061)).toBe('1 d 1 h');
    expect(formatDuration(61)).toBe('1 min 1 s');
    expect(codeClass('2.05')).toBe('ok');
    expect(codeClass('4.04')).toBe('warn');
    expect(codeClass('5.00')).toBe('err');
  });
});
