import type { Channel } from '../../src/transport/channel.js';

/** A channel that passes everything through and keeps a copy of each datagram it sends. */
export function recordingChannel(inner: Channel, sent: Uint8Array[]): Channel {
  return {
    kind: inner.kind,
    get local() {
      return inner.local;
    },
    send: (peer, bytes) => {
      sent.push(bytes.slice());
      inner.send(peer, bytes);
    },
    onReceive: (h) => inner.onReceive(h),
    onError: (h) => inner.onError?.(h),
    close: () => inner.close(),
  };
}
