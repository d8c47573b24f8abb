/**
 * CoAP over TCP (RFC 8323) as a ConnectionChannel: a listening channel that sends over the
 * connections it accepted, or a dialling one that connects on the first send to a peer. Each
 * delivery is one whole frame, cut from the stream by StreamConnections.
 */
import net from 'node:net';
import { ChannelSocketError } from './channel.js';
import {
  checkLocalAddress,
  listenOn,
  resolveStreamLimits,
  StreamChannel,
  StreamConnections,
  systemCode,
  type Dial,
  type StreamDialOptions,
  type StreamLimits,
  type StreamListenOptions,
} from './stream-connections.js';

/** The default port of coap+tcp (RFC 8323 §8.1). */
export const COAP_TCP_PORT = 5683;

export type TcpListenOptions = StreamListenOptions & StreamLimits;
export type TcpDialOptions = StreamDialOptions & StreamLimits;

export class TcpChannel extends StreamChannel {
  private constructor(table: StreamConnections, server?: net.Server) {
    super('tcp', table, server);
  }

  /** Listens; resolves once listening. Rejects with ChannelConfigError or ChannelBindError. */
  static async listen(options: TcpListenOptions = {}): Promise<TcpChannel> {
    const limits = resolveStreamLimits(options);
    const table = new StreamConnections(limits);
    const server = net.createServer({ allowHalfOpen: false, pauseOnConnect: false });
    server.on('connection', (socket) => table.accept(socket));
    await listenOn(server, options, COAP_TCP_PORT);
    const channel = new TcpChannel(table, server);
    server.on('error', (e) =>
      table.events.error(new ChannelSocketError(e.message, { systemCode: systemCode(e), cause: e })),
    );
    return channel;
  }

  /** A channel that listens nowhere and connects on the first send to a peer without a connection. */
  static dialer(options: TcpDialOptions = {}): TcpChannel {
    const limits = resolveStreamLimits(options);
    const localAddress = checkLocalAddress(options.localAddress);
    const dial: Dial = (target) => ({
      socket: net.connect({ host: target.address, port: target.port, noDelay: true, localAddress }),
      readyEvent: 'connect',
    });
    return new TcpChannel(new StreamConnections(limits, dial));
  }
}
