import { describe, expect, it } from 'vitest';
import { SseParseError, SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('parses named events, default events, comments and ids', () => {
    const p = new SseParser();
    const out = p.push(
      'retry: 3000\n\n: heartbeat\n\nevent: snapshot\ndata: {"a":1}\n\nid: 7\nevent: device\ndata: x\n\ndata: plain\n\n',
    );
    expect(out).toEqual([
      { event: 'snapshot', data: '{"a":1}' },
      { event: 'device', data: 'x', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });

  it('joins data lines with LF and keeps a value without its one leading space', () => {
    const p = new SseParser();
    expect(p.push('data:a\ndata:  b\ndata\n\n')).toEqual([{ event: 'message', data: 'a\n b\n' }]);
  });

  it('takes CRLF, CR and LF line ends, also split across chunks', () => {
    const whole = 'event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata: 3\n\n';
    const expected = [
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
      { event: 'c', data: '3' },
    ];
    expect(new SseParser().push(whole)).toEqual(expected);
    // Every split point, including between a CR and its LF.
    for (let i = 1; i < whole.length; i++) {
      const p = new SseParser();
      expect([...p.push(whole.slice(0, i)), ...p.push(whole.slice(i))]).toEqual(expected);
    }
    // One character at a time.
    const p = new SseParser();
    const out = [...whole].flatMap((c) => p.push(c));
    expect(out).toEqual(expected);
  });

  it('dispatches nothing for a message without data, and nothing before the blank line', () => {
    const p = new SseParser();
    expect(p.push('event: status\n\n')).toEqual([]);
    expect(p.push('event: status\ndata: 1\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'status', data: '1' }]);
  });

  it('refuses a message over the limit and starts clean after it', () => {
    const p = new SseParser({ maxMessageChars: 20 });
    expect(() => p.push(`data: ${'x'.repeat(30)}`)).toThrow(SseParseError);
    expect(p.push('data: ok\n\n')).toEqual([{ event: 'message', data: 'ok' }]);
    const q = new SseParser({ maxMessageChars: 20 });
    expect(() => q.push('data: 0123456789\ndata: 0123456789\n')).toThrow(SseParseError);
  });
});
