// The baselines of the firmware benchmark: the same image moved to the same devices with the same
// concurrency, by plain CoAP Block2 (RFC 7959) and nothing else.
//   raw dgram   a socket answering "GET /fw, Block2 n" with block n (1 KiB), and a device that asks
//               for block 0, 1, 2 ... in lock-step (one socket per device), hashing what it gets:
//               the floor of a lock-step CoAP transfer on this machine.
//   node-coap   the `coap` package's server answering GET /fw with the whole image (it cuts the
//               Block2 blocks itself) and its agent fetching it (one agent, i.e. socket, per device).
// The servers run in the benchmark's process and the devices in the device process, like the
// LwM2M server and the LwM2mClients they are compared with.
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import * as nodeCoap from 'coap';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, block2, encodeBlock, encodeUint } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';

export interface Address {
  readonly address: string;
  readonly port: number;
}

/** What a baseline transfer run reports (device side). */
export interface TransferReport {
  readonly devices: number;
  /** Devices that got the whole image with the right SHA-256. */
  readonly completed: number;
  readonly failed: number;
  readonly bytes: number;
  readonly retransmissions: number;
  readonly elapsedMs: number;
}

export interface TransferCommand {
  readonly server: Address;
  /** Device addresses are spread over 127.0.0.2 .. 127.0.0.251. */
  readonly devices: number;
  readonly concurrency: number;
  readonly size: number;
  readonly sha256: string;
}

const BLOCK_SZX = 6; // 1024 bytes
const BLOCK = 1024;
const ACK_TIMEOUT = 2000;
const MAX_RETRANSMIT = 4;
const FW_PATH = [{ number: OptionNumber.URI_PATH, value: new TextEncoder().encode('fw') }];

export const deviceAddress = (i: number): string => `127.0.0.${2 + (i % 250)}`;

/** Runs `transfer` for devices 0..devices-1, `concurrency` at a time. */
async function runDevices(
  command: TransferCommand,
  transfer: (device: number) => Promise<{ ok: boolean; bytes: number; retransmissions: number }>,
): Promise<TransferReport> {
  let next = 0;
  let completed = 0;
  let failed = 0;
  let bytes = 0;
  let retransmissions = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(command.concurrency, command.devices) }, async () => {
      while (next < command.devices) {
        const r = await transfer(next++);
        if (r.ok) completed++;
        else failed++;
        bytes += r.bytes;
        retransmissions += r.retransmissions;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  return { devices: command.devices, completed, failed, bytes, retransmissions, elapsedMs };
}

async function bound(address: string): Promise<Socket> {
  const socket = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** Raw dgram server: block n of `image` for each GET carrying Block2 n. */
export async function rawBlock2Server(
  image: Uint8Array,
  address: string,
): Promise<Address & { close(): void }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  socket.on('message', (buf, from) => {
    const m = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const num = block2(m)?.num ?? 0;
    const start = num * BLOCK;
    const more = start + BLOCK < image.length;
    socket.send(
      encodeCoapUdp({
        type: 'ACK',
        code: start < image.length ? CoapCode.CONTENT : CoapCode.BAD_OPTION,
        messageId: m.messageId,
        token: m.token,
        options: [
          { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(42) },
          { number: OptionNumber.BLOCK2, value: encodeBlock({ num, more, szx: BLOCK_SZX }) },
        ],
        payload: image.subarray(start, start + BLOCK),
      }),
      from.port,
      from.address,
    );
  });
  const { port } = socket.address();
  return { address, port, close: () => socket.close() };
}

/** Device side of the raw baseline: lock-step Block2 GETs, CON with RFC 7252 retransmission. */
export function rawBlock2Fetch(command: TransferCommand): Promise<TransferReport> {
  return runDevices(command, async (device) => {
    const socket = await bound(deviceAddress(device));
    const hash = createHash('sha256');
    const token = Uint8Array.of(device >>> 24, (device >>> 16) & 255, (device >>> 8) & 255, device & 255);
    let mid = Math.floor(Math.random() * 0xffff);
    let num = 0;
    let bytes = 0;
    let retransmissions = 0;
    try {
      const ok = await new Promise<boolean>((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        let attempts = 0;
        let datagram: Uint8Array;
        const send = (): void => {
          socket.send(datagram, command.server.port, command.server.address);
          timer = setTimeout(
            () => {
              if (attempts >= MAX_RETRANSMIT) return resolve(false);
              attempts++;
              retransmissions++;
              send();
            },
            ACK_TIMEOUT * (1 + Math.random() / 2) * 2 ** attempts,
          );
        };
        const ask = (): void => {
          mid = (mid + 1) & 0xffff;
          attempts = 0;
          datagram = encodeCoapUdp({
            type: 'CON',
            code: CoapCode.GET,
            messageId: mid,
            token,
            options: [
              ...FW_PATH,
              { number: OptionNumber.BLOCK2, value: encodeBlock({ num, more: false, szx: BLOCK_SZX }) },
            ],
            payload: new Uint8Array(0),
          });
          send();
        };
        socket.on('message', (buf) => {
          const m = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
          if (m.messageId !== mid) return; // a duplicate answer to a retransmission
          clearTimeout(timer);
          const b = block2(m);
          if (m.code !== CoapCode.CONTENT || b?.num !== num) return resolve(false);
          hash.update(m.payload);
          bytes += m.payload.length;
          if (!b.more) return resolve(true);
          num++;
          ask();
        });
        ask();
      });
      const complete = ok && bytes === command.size && hash.digest('hex') === command.sha256;
      return { ok: complete, bytes, retransmissions };
    } finally {
      socket.close();
    }
  });
}

interface NodeCoapResponse {
  code: string;
  setOption(name: string, value: Buffer | string | number): void;
  end(payload?: Buffer): void;
}

/** node-coap server: GET /fw answers the whole image; node-coap sends it in Block2 blocks. */
export async function nodeCoapBlock2Server(
  image: Uint8Array,
  address: string,
): Promise<Address & { close(): void }> {
  const body = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const server = nodeCoap.createServer({ type: 'udp4' });
  server.on('request', (_req: unknown, res: NodeCoapResponse) => {
    res.setOption('Content-Format', 'application/octet-stream');
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, address, () => resolve()));
  const { port } = (server as unknown as { _sock: Socket })._sock.address();
  return { address, port, close: () => server.close() };
}

interface NodeCoapIncoming {
  code: string;
  payload: Buffer;
}

/** Device side of the node-coap baseline: one agent (socket) per device, Block2 handled by it. */
export function nodeCoapBlock2Fetch(command: TransferCommand): Promise<TransferReport> {
  return runDevices(command, async (device) => {
    // The device's own socket on its own address (an agent given a socket leaves it open).
    const socket = await bound(deviceAddress(device));
    const agent = new nodeCoap.Agent({ socket });
    try {
      const res = await new Promise<NodeCoapIncoming | undefined>((resolve) => {
        const req = nodeCoap.request({
          hostname: command.server.address,
          port: command.server.port,
          pathname: '/fw',
          agent,
        });
        req.on('response', (r: NodeCoapIncoming) => resolve(r));
        req.on('error', () => resolve(undefined));
        req.on('timeout', () => resolve(undefined));
        req.end();
      });
      const bytes = res?.payload.length ?? 0;
      const ok =
        res?.code === '2.05' &&
        bytes === command.size &&
        createHash('sha256').update(res.payload).digest('hex') === command.sha256;
      return { ok, bytes, retransmissions: 0 };
    } finally {
      agent.close();
      socket.close();
    }
  });
}
