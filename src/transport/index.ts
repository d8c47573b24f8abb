// Transports: the Channel seam and its implementations (UDP, in-memory, fault injection).
export * from './channel.js';
export * from './udp-channel.js';
export * from './memory-channel.js';
export * from './lossy-channel.js';
export * from './tcp-channel.js';
export * from './tls-channel.js';
export {
  DEFAULT_STREAM_LIMITS,
  type StreamLimits,
  type StreamListenOptions,
  type StreamDialOptions,
} from './stream-connections.js';
