// CoAP group communication (RFC 7252 §8) over real multicast: one client and three members, each in
// its own network namespace on a shared bridge (test/support/netns.ts). The members run
// test/support/multicast-member.ts; our client runs test/support/multicast-client.ts, and libcoap's
// coap-client-notls plays a third-party client. Needs root and `ip netns`; skips otherwise (fails
// under CI=true).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoapCode } from '../../src/coap/message.js';
import {
  createLab,
  canUseNetns,
  requireNetns,
  type Lab,
  type LabNode,
  type LabProcess,
} from '../support/netns.js';
import { requirePeer } from '../support/peers.js';

const MEMBER_SCRIPT = 'test/support/multicast-member.ts';
const CLIENT_SCRIPT = 'test/support/multicast-client.ts';
const MEMBERS = ['a', 'b', 'c'] as const;
/** Small, so the test is quick; large enough to see the spread (RFC 7252 §8.2 default: 5 s). */
const LEISURE_MS = 300;
const COLLECT_MS = 1_000;
const ROUNDS = 3;
const STARTUP_MS = 20_000;

interface Round {
  round: number;
  responses: { address: string; port: number; code: number; type: string; payload: string; at: number }[];
}

let lab: Lab | undefined;
const members = new Map<string, LabProcess>();

async function runClient(args: string[]): Promise<Round[]> {
  assert.ok(lab);
  const client = lab.spawnNode(lab.node('client'), CLIENT_SCRIPT, args);
  const code = await client.exited(STARTUP_MS + ROUNDS * COLLECT_MS);
  assert.equal(code, 0, `client failed: ${client.stderr()}`);
  return client.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Round);
}

/** Waits until every member logged a request for `path` coming through its group channel. */
async function membersSaw(path: string, from: RegExp): Promise<void> {
  const line = new RegExp(`^REQ \\{"path":"${path}","multicast":true,"from":"${from.source}"\\}$`);
  await Promise.all([...members.values()].map((m) => m.waitForLine(line, 5_000)));
}

/** Every member answered exactly once per round, from its own unicast address, within the leisure. */
function assertAllMembersAnswered(rounds: Round[], addressOf: (n: LabNode) => string): void {
  assert.ok(lab);
  assert.equal(rounds.length, ROUNDS);
  const expected = MEMBERS.map((m) => ({ address: addressOf(lab!.node(m)), payload: m })).sort((x, y) =>
    x.payload.localeCompare(y.payload),
  );
  for (const { responses } of rounds) {
    const got = responses
      .map(({ address, payload }) => ({ address, payload }))
      .sort((x, y) => x.payload.localeCompare(y.payload));
    assert.deepEqual(got, expected);
    for (const r of responses) {
      assert.equal(r.port, 5683);
      assert.equal(r.code, CoapCode.CONTENT);
      assert.equal(r.type, 'NON');
      assert.ok(r.at < LEISURE_MS + 500, `answer after ${r.at} ms, leisure is ${LEISURE_MS} ms`);
    }
  }
  // §8.2: each member waits a random time within the leisure. Immediate answers would all land
  // within a few ms; with nine uniform delays over 300 ms a spread under 30 ms has odds ~1e-7.
  const times = rounds.flatMap((r) => r.responses.map((x) => x.at));
  const spread = Math.max(...times) - Math.min(...times);
  assert.ok(spread >= 30, `responses not spread over the leisure: ${times.join(', ')} ms`);
}

describe('CoAP multicast between network namespaces (RFC 7252 §8)', () => {
  before(async () => {
    if (!canUseNetns()) return; // each test skips (or fails under CI) with the reason
    lab = createLab(['client', ...MEMBERS]);
    for (const name of MEMBERS) {
      const node = lab.node(name);
      const args = ['--name', name, '--ipv4', node.ipv4, '--ipv6', node.ipv6, '--iface', node.iface];
      members.set(name, lab.spawnNode(node, MEMBER_SCRIPT, [...args, '--leisure', String(LEISURE_MS)]));
    }
    await Promise.all([...members.values()].map((m) => m.waitForLine('READY', STARTUP_MS)));
  });

  after(async () => {
    await Promise.all([...members.values()].map((m) => m.stop()));
    lab?.teardown();
  });

  it('IPv4: GET /name to 224.0.1.187 is answered once by every member, spread over the leisure', async (t) => {
    if (!requireNetns(t) || !lab) return;
    const client = lab.node('client');
    const rounds = await runClient([
      ...['--bind', client.ipv4, '--group', '224.0.1.187', '--path', 'name'],
      ...['--timeout', String(COLLECT_MS), '--repeat', String(ROUNDS)],
    ]);
    assertAllMembersAnswered(rounds, (n) => n.ipv4);
  });

  it('IPv4: GET /missing reaches every member, and no 4.04 comes back (§8.2)', async (t) => {
    if (!requireNetns(t) || !lab) return;
    const client = lab.node('client');
    const rounds = await runClient([
      ...['--bind', client.ipv4, '--group', '224.0.1.187', '--path', 'missing'],
      ...['--timeout', String(COLLECT_MS)],
    ]);
    await membersSaw('missing', new RegExp(client.ipv4.replaceAll('.', '\\.')));
    assert.deepEqual(rounds, [{ round: 0, responses: [] }]);
  });

  it('IPv6: GET /name to ff02::fd on the link is answered by every member', async (t) => {
    if (!requireNetns(t) || !lab) return;
    const client = lab.node('client');
    const rounds = await runClient([
      ...['--bind', client.ipv6, '--group', 'ff02::fd', '--iface', client.iface, '--path', 'name'],
      ...['--timeout', String(COLLECT_MS), '--repeat', String(ROUNDS)],
    ]);
    assertAllMembersAnswered(rounds, (n) => n.ipv6);
  });

  it('IPv6: GET /missing to ff02::fd%eth0 gets no error responses', async (t) => {
    if (!requireNetns(t) || !lab) return;
    const client = lab.node('client');
    const rounds = await runClient([
      ...['--bind', client.ipv6, '--group', `ff02::fd%${client.iface}`, '--path', 'missing'],
      ...['--timeout', String(COLLECT_MS)],
    ]);
    await membersSaw('missing', new RegExp(client.ipv6));
    assert.deepEqual(rounds, [{ round: 0, responses: [] }]);
  });

  it("libcoap's coap-client-notls multicast GET (IPv4 and IPv6) gets every member's name", async (t) => {
    if (!requireNetns(t) || !lab) return;
    const program = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!program) return;
    const client = lab.node('client');
    for (const uri of ['coap://224.0.1.187/name', `coap://[ff02::fd%${client.iface}]/name`]) {
      // -N: group requests are NON (§8.1); -B 2: collect for 2 s; -w: a newline after each payload.
      const p = lab.spawn(client, program, ['-N', '-B', '2', '-w', uri]);
      assert.equal(await p.exited(10_000), 0, p.stderr());
      const names = p.lines.filter(Boolean).sort();
      assert.deepEqual(names, [...MEMBERS], `${uri}: ${p.lines.join('|')} ${p.stderr()}`);
    }
    const missing = lab.spawn(client, program, ['-N', '-B', '2', '-w', 'coap://224.0.1.187/missing']);
    assert.equal(await missing.exited(10_000), 0, missing.stderr());
    assert.deepEqual(missing.lines.filter(Boolean), []);
    assert.doesNotMatch(missing.stderr(), /4\.04/);
  });
});
