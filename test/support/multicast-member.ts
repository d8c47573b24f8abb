// A CoAP group member for the netns multicast tests, run inside a member namespace:
//   node --import tsx test/support/multicast-member.ts --name a --ipv4 10.213.1.2 \
//     [--ipv6 fd00:213::2 --iface eth0] [--leisure 300]
// Per address family: a unicast channel on the member's own address (port 5683) and a group channel
// bound to the group (224.0.1.187 / ff02::fd) joined on the member's interface. The unicast channel
// is bound to the specific address, not the wildcard: on Linux a wildcard socket on 5683 would also
// receive the group's datagrams (IP_MULTICAST_ALL) and answer them as unicast requests.
// Prints `REQ <json>` for each request the handler sees, `READY` once listening; exits on SIGTERM.
import { parseArgs } from 'node:util';
import { CoapEndpoint, type IncomingRequest } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { uriPath } from '../../src/coap/options.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

const COAP_PORT = 5683;
const GROUP_IPV4 = '224.0.1.187';
const GROUP_IPV6 = 'ff02::fd';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    ipv4: { type: 'string' },
    ipv6: { type: 'string' },
    iface: { type: 'string', default: 'eth0' },
    leisure: { type: 'string', default: '300' },
  },
});
const name = values.name ?? 'member';
const leisure = Number(values.leisure);

function handle({ peer, message, multicast }: IncomingRequest) {
  const path = uriPath(message).join('/');
  console.log(`REQ ${JSON.stringify({ path, multicast: multicast === true, from: peer.address })}`);
  if (message.code === CoapCode.GET && path === 'name') {
    return { code: CoapCode.CONTENT, payload: new TextEncoder().encode(name) };
  }
  return { code: CoapCode.NOT_FOUND };
}

const endpoints: CoapEndpoint[] = [];
const onError = (e: unknown): void => console.error(`${name}: ${String(e)}`);

if (values.ipv4) {
  const unicast = await UdpChannel.open({ address: values.ipv4, port: COAP_PORT });
  const group = await UdpChannel.open({ address: GROUP_IPV4, port: COAP_PORT });
  group.joinGroup(GROUP_IPV4, values.ipv4);
  endpoints.push(
    new CoapEndpoint({ channel: unicast, onError }).onRequest(handle).addGroupChannel(group, { leisure }),
  );
}
if (values.ipv6) {
  const unicast = await UdpChannel.open({ address: values.ipv6, port: COAP_PORT, ipv6Only: true });
  // ff02::fd is link-local in scope: binding it needs the interface as the zone (EINVAL otherwise).
  const group = await UdpChannel.open({
    address: `${GROUP_IPV6}%${values.iface}`,
    port: COAP_PORT,
    ipv6Only: true,
  });
  group.joinGroup(GROUP_IPV6, `::%${values.iface}`);
  endpoints.push(
    new CoapEndpoint({ channel: unicast, onError }).onRequest(handle).addGroupChannel(group, { leisure }),
  );
}

process.once('SIGTERM', () => {
  void Promise.all(endpoints.map((e) => e.close())).finally(() => process.exit(0));
});
console.log('READY');
