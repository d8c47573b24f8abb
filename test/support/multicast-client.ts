// The client side of the netns multicast tests, run inside the client namespace:
//   node --import tsx test/support/multicast-client.ts --bind 10.213.1.1 --group 224.0.1.187 \
//     --path name [--timeout 1500] [--iface eth0] [--repeat 1]
// Sends GET to the group with groupRequest, --repeat times one after the other, and prints one JSON
// line per round: {"round","responses":[{"address","port","code","type","payload","at"}]}
// (at: ms after sending).
import { parseArgs } from 'node:util';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber } from '../../src/coap/options.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

const { values } = parseArgs({
  options: {
    bind: { type: 'string' },
    group: { type: 'string' },
    port: { type: 'string', default: '5683' },
    path: { type: 'string', default: 'name' },
    timeout: { type: 'string', default: '1500' },
    iface: { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
if (!values.bind || !values.group) {
  console.error('--bind and --group are required');
  process.exit(2);
}
const ipv6 = values.bind.includes(':');
const channel = await UdpChannel.open({ address: values.bind, port: 0, ...(ipv6 ? { ipv6Only: true } : {}) });
// Which interface group sends leave by: for IPv6 a link-local group needs it (no route otherwise).
if (values.iface) channel.setMulticastInterface(ipv6 ? `::%${values.iface}` : values.bind);
const endpoint = new CoapEndpoint({ channel, onError: (e) => console.error(String(e)) });
const target = { address: values.group, port: Number(values.port) };
const options = values.path
  .split('/')
  .map((s) => ({ number: OptionNumber.URI_PATH, value: new TextEncoder().encode(s) }));
for (let round = 0; round < Number(values.repeat); round++) {
  const arrivals = new Map<object, number>();
  const started = Date.now();
  const responses = await endpoint.groupRequest(
    target,
    { code: CoapCode.GET, options },
    { timeout: Number(values.timeout), onResponse: (r) => arrivals.set(r, Date.now() - started) },
  );
  console.log(
    JSON.stringify({
      round,
      responses: responses.map((r) => ({
        address: r.peer.address,
        port: r.peer.port,
        code: r.message.code,
        type: r.message.type,
        payload: new TextDecoder().decode(r.message.payload),
        at: arrivals.get(r),
      })),
    }),
  );
}
await endpoint.close();
