// Firmware benchmark (issue 11): devices updated per minute with one image, push against pull.
// A real LwM2mServer on UDP loopback with a MemoryFirmwareRepository, a FirmwareDownloadService
// (coap:// pulls) and FirmwareCampaigns (serverGateway) updates every device twice:
//   push   Write /5/0/0 of the image (Block1, 1 KiB blocks), Execute /5/0/2, outcome;
//   pull   Write /5/0/1 with the device's coap:// URI (Block2 from the download service), ...
// The devices are real LwM2mClients with the `firmware` option in a child process (the server
// and the devices each have a core), one UDP socket each; they keep only the size and SHA-256 of
// what they receive and install at once when it is the image sent (bench/lib/firmware-devices.ts).
//   devices_per_minute_{push,pull}  devices updated (succeeded) per minute, campaign create to end.
//   {push,pull}_bytes_per_s         image bytes delivered per second over the same span.
// Baselines in the same run, same devices and concurrency (bench/lib/firmware-baselines.ts): a raw
// dgram lock-step Block2 transfer of the same image (the floor), and node-coap's server and agent.
// Sizes: PETREL_FW_DEVICES / --devices=N (default 1,000; 100 with PETREL_BENCH_QUICK=1 or --quick),
// PETREL_FW_IMAGE_KIB / --image-kib=N (256), PETREL_FW_CONCURRENCY / --concurrency=N (100), the
// campaigns' pollInterval PETREL_FW_POLL_MS / --poll-ms=N (their default, 1,000).
// node-coap moves it to 2 x concurrency devices only (PETREL_FW_NODE_COAP_DEVICES / --node-coap-devices=N).
// Profiling one part: --methods=push|pull and --no-baselines (then nothing is written), and
// PETREL_FW_CHILD_PROF=<dir> writes a CPU profile of the device process there.
import { createHash } from 'node:crypto';
import { serverGateway } from '../src/server/firmware/campaign-gateway.js';
import type { CampaignMethod, CampaignReport } from '../src/server/firmware/firmware-campaigns.js';
import { FirmwareCampaigns } from '../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../src/server/firmware/firmware-repository.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import { UdpChannel } from '../src/transport/udp-channel.js';
import type { Address, TransferReport } from './lib/firmware-baselines.js';
import { nodeCoapBlock2Server, rawBlock2Server } from './lib/firmware-baselines.js';
import type { DeviceCommand, ImageFacts, InstallCounts, StartReport } from './lib/firmware-devices.js';
import { ChildCommands } from './lib/child-commands.js';
import { newResult, writeResult, type BenchResult } from './lib/report.js';

const LOOPBACK = '127.0.0.1';
const PREFIX = 'fw-';
/** The block size of every transfer here (push, pull and the baselines). */
const BLOCK = 1024;
/** The version devices report once they installed the image. */
const NEW_VERSION = '2.0.0';

function flag(name: string): number | undefined {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? undefined : Number(arg.slice(name.length + 3));
}

function setting(name: string, env: string, fallback: number): number {
  const value = flag(name) ?? (process.env[env] === undefined ? undefined : Number(process.env[env]));
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`--${name} / ${env}: ${value}`);
  return value;
}

const QUICK = process.env.PETREL_BENCH_QUICK === '1' || process.argv.includes('--quick');

/** Devices updated in the warm-up (both methods), before anything is measured. */
const WARM_UP_DEVICES = 20;

interface Settings {
  readonly devices: number;
  readonly imageBytes: number;
  readonly concurrency: number;
  /** Campaign pollInterval, ms (the campaigns' default, 1,000); notifications of /5/0 end a wait early. */
  readonly pollInterval: number;
  /** node-coap is slow enough to take most of the run: it moves the image to this many devices. */
  readonly nodeCoapDevices: number;
  /** `--methods=push` (profiling one path) */
  readonly methods: readonly ('push' | 'pull')[];
  /** Both methods and the baselines: only then is bench/results/firmware.json written. */
  readonly complete: boolean;
}

function methods(): ('push' | 'pull')[] {
  const arg = process.argv.find((a) => a.startsWith('--methods='));
  if (arg === undefined) return ['push', 'pull'];
  const list = arg.slice('--methods='.length).split(',');
  for (const m of list) if (m !== 'push' && m !== 'pull') throw new RangeError(`--methods: ${m}`);
  return list as ('push' | 'pull')[];
}

function settings(): Settings {
  const devices = setting('devices', 'PETREL_FW_DEVICES', QUICK ? 100 : 1000);
  const concurrency = setting('concurrency', 'PETREL_FW_CONCURRENCY', 100);
  const chosen = methods();
  return {
    devices,
    imageBytes: setting('image-kib', 'PETREL_FW_IMAGE_KIB', 256) * 1024,
    concurrency,
    pollInterval: setting('poll-ms', 'PETREL_FW_POLL_MS', 1000),
    methods: chosen,
    complete: chosen.length === 2 && !process.argv.includes('--no-baselines'),
    nodeCoapDevices: Math.min(
      devices,
      setting('node-coap-devices', 'PETREL_FW_NODE_COAP_DEVICES', 2 * concurrency),
    ),
  };
}

/** The device process, driven command by command. */
type DeviceProcess = ChildCommands<DeviceCommand>;
const DeviceProcess = {
  start: (): Promise<DeviceProcess> => {
    const prof = process.env.PETREL_FW_CHILD_PROF;
    return ChildCommands.start<DeviceCommand>(
      new URL('./lib/firmware-devices.ts', import.meta.url),
      'device process',
      {
        execArgv: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
      },
    );
  },
};

/** A deterministic image that does not compress or repeat within a block. */
function makeImage(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x2545f491;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

/** CPU of each process over a span, as a share of one core; memory (RSS, bytes) at its end. */
interface Usage {
  readonly server: number;
  readonly devices: number;
  readonly serverRss: number;
  readonly devicesRss: number;
}

/** CPU time of a span, as a share of one core (1 = one core busy the whole time). */
class CpuSpan {
  readonly #self = process.cpuUsage();
  readonly #started = performance.now();
  #devices: NodeJS.CpuUsage | undefined;

  static async start(devices: DeviceProcess): Promise<CpuSpan> {
    const span = new CpuSpan();
    span.#devices = await devices.command<NodeJS.CpuUsage>({ cmd: 'cpu' });
    return span;
  }

  async end(devices: DeviceProcess): Promise<Usage> {
    const wall = (performance.now() - this.#started) * 1000;
    const self = process.cpuUsage(this.#self);
    const d = await devices.command<NodeJS.CpuUsage & { rss: number }>({ cmd: 'cpu' });
    const before = this.#devices!;
    return {
      server: (self.user + self.system) / wall,
      devices: (d.user - before.user + d.system - before.system) / wall,
      serverRss: process.memoryUsage().rss,
      devicesRss: d.rss,
    };
  }
}

interface Rig {
  readonly server: LwM2mServer;
  readonly channel: UdpChannel;
  readonly download: FirmwareDownloadService;
  readonly downloadChannel: UdpChannel;
  readonly campaigns: FirmwareCampaigns;
  readonly imageId: string;
  close(): Promise<void>;
}

async function openChannel(): Promise<UdpChannel> {
  return UdpChannel.open({ address: LOOPBACK, port: 0, receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
}

async function startRig(image: Uint8Array): Promise<Rig> {
  const channel = await openChannel();
  const server = new LwM2mServer({ channel });
  await server.start();
  const repository = new MemoryFirmwareRepository();
  const info = await repository.add(image, { label: 'bench.bin' });
  const downloadChannel = await openChannel();
  const download = new FirmwareDownloadService({
    repository,
    channel: downloadChannel,
    publicHost: LOOPBACK,
  });
  await download.start();
  const campaigns = new FirmwareCampaigns({ gateway: serverGateway(server), repository, download });
  return {
    server,
    channel,
    download,
    downloadChannel,
    campaigns,
    imageId: info.id,
    async close() {
      await campaigns.close();
      await download.stop();
      await downloadChannel.close();
      await server.stop();
      await channel.close();
    },
  };
}

interface CampaignRun {
  readonly report: CampaignReport;
  readonly elapsedMs: number;
  readonly installs: InstallCounts;
  readonly cpu: Usage;
}

/** One campaign over `endpoints`; checks every device succeeded and installed the right image. */
async function campaign(
  rig: Rig,
  devices: DeviceProcess,
  image: ImageFacts,
  endpoints: readonly string[],
  method: CampaignMethod,
  s: Pick<Settings, 'concurrency' | 'pollInterval'>,
): Promise<CampaignRun> {
  await devices.command<InstallCounts>({ cmd: 'expect', image, version: NEW_VERSION });
  const cpu = await CpuSpan.start(devices);
  const started = performance.now();
  const created = await rig.campaigns.create({
    image: rig.imageId,
    targets: endpoints,
    method,
    concurrency: s.concurrency,
    // A failure is a failure here: none is hidden by a retry.
    retries: 0,
    pollInterval: s.pollInterval,
    name: `bench-${method}`,
  });
  const report = await rig.campaigns.finished(created.id);
  const elapsedMs = performance.now() - started;
  const usage = await cpu.end(devices);
  const installs = await devices.command<InstallCounts>({ cmd: 'expect', image, version: NEW_VERSION });
  return { report, elapsedMs, installs, cpu: usage };
}

function failuresOf(run: CampaignRun, expected: number): number {
  const succeeded = run.report.devices.filter((d) => d.phase === 'succeeded' && d.version === NEW_VERSION);
  return expected - Math.min(succeeded.length, run.installs.installs);
}

function record(result: BenchResult, method: 'push' | 'pull', run: CampaignRun, imageBytes: number): void {
  const n = run.report.devices.length;
  const m = result.metrics;
  m[`devices_per_minute_${method}`] = { value: (n * 60_000) / run.elapsedMs, unit: 'devices/min' };
  m[`${method}_bytes_per_s`] = { value: (n * imageBytes * 1000) / run.elapsedMs, unit: 'bytes/s' };
  m[`${method}_campaign_s`] = { value: run.elapsedMs / 1000, unit: 's' };
  m[`${method}_failures`] = { value: failuresOf(run, n), unit: 'devices' };
  const sorted = (pick: (d: CampaignReport['devices'][number]) => number | undefined): number[] =>
    run.report.devices
      .map(pick)
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
  const download = sorted((d) => d.timings.downloadMs);
  const whole = sorted((d) =>
    d.timings.finishedAt !== undefined && d.timings.startedAt !== undefined
      ? d.timings.finishedAt - d.timings.startedAt
      : undefined,
  );
  m[`${method}_download_p50_ms`] = { value: percentile(download, 0.5), unit: 'ms' };
  m[`${method}_download_p99_ms`] = { value: percentile(download, 0.99), unit: 'ms' };
  // Execute /5/0/2 to the outcome read: the install itself is immediate, so this is the campaign's
  // polling and notification handling.
  const afterExecute = sorted((d) =>
    d.timings.finishedAt !== undefined && d.timings.executedAt !== undefined
      ? d.timings.finishedAt - d.timings.executedAt
      : undefined,
  );
  m[`${method}_device_p50_ms`] = { value: percentile(whole, 0.5), unit: 'ms' };
  m[`${method}_execute_to_outcome_p50_ms`] = { value: percentile(afterExecute, 0.5), unit: 'ms' };
  m[`${method}_server_cpu`] = { value: run.cpu.server * 100, unit: '% of a core' };
  m[`${method}_devices_cpu`] = { value: run.cpu.devices * 100, unit: '% of a core' };
  m[`${method}_server_rss_mib`] = { value: run.cpu.serverRss / 2 ** 20, unit: 'MiB' };
  m[`${method}_devices_rss_mib`] = { value: run.cpu.devicesRss / 2 ** 20, unit: 'MiB' };
  const blocks = n * Math.ceil(imageBytes / BLOCK);
  m[`${method}_server_us_per_block`] = {
    value: cpuPerBlock(run.cpu.server, run.elapsedMs, blocks),
    unit: 'µs',
  };
  m[`${method}_devices_us_per_block`] = {
    value: cpuPerBlock(run.cpu.devices, run.elapsedMs, blocks),
    unit: 'µs',
  };
}

/** CPU µs per 1 KiB block moved (campaign requests included), from a core share over `ms`. */
const cpuPerBlock = (share: number, ms: number, blocks: number): number => (share * ms * 1000) / blocks;

/** A baseline transfer: its server here, its devices in the device process. */
async function baseline(
  devices: DeviceProcess,
  cmd: 'raw' | 'node-coap',
  listen: () => Promise<Address & { close(): void }>,
  s: Settings,
  image: ImageFacts,
  count = s.devices,
): Promise<{ report: TransferReport; cpu: Usage }> {
  const server = await listen();
  try {
    const cpu = await CpuSpan.start(devices);
    const report = await devices.command<TransferReport>({
      cmd,
      server: { address: server.address, port: server.port },
      devices: count,
      concurrency: s.concurrency,
      size: image.size,
      sha256: image.sha256,
    });
    return { report, cpu: await cpu.end(devices) };
  } finally {
    server.close();
  }
}

function recordBaseline(
  result: BenchResult,
  name: string,
  run: { report: TransferReport; cpu: Usage },
  imageBytes: number,
): number {
  const { report, cpu } = run;
  const blocks = report.devices * Math.ceil(imageBytes / BLOCK);
  const perMinute = (report.completed * 60_000) / report.elapsedMs;
  result.baselines[name] = {
    devices_per_minute: { value: perMinute, unit: 'devices/min' },
    bytes_per_s: { value: (report.bytes * 1000) / report.elapsedMs, unit: 'bytes/s' },
    transfer_s: { value: report.elapsedMs / 1000, unit: 's' },
    failures: { value: report.failed, unit: 'devices' },
    retransmissions: { value: report.retransmissions, unit: 'datagrams' },
    server_cpu: { value: cpu.server * 100, unit: '% of a core' },
    devices_cpu: { value: cpu.devices * 100, unit: '% of a core' },
    server_us_per_block: { value: cpuPerBlock(cpu.server, report.elapsedMs, blocks), unit: 'µs' },
    devices_us_per_block: { value: cpuPerBlock(cpu.devices, report.elapsedMs, blocks), unit: 'µs' },
    devices: { value: report.devices, unit: 'devices' },
  };
  return perMinute;
}

export async function runFirmwareBench(): Promise<void> {
  const s = settings();
  const result = newResult('firmware');
  const bytes = makeImage(s.imageBytes);
  const image: ImageFacts = { size: bytes.length, sha256: sha256(bytes) };
  console.log(
    `firmware: ${s.devices} devices, ${s.imageBytes / 1024} KiB image, concurrency ${s.concurrency}${QUICK ? ' (quick)' : ''}`,
  );
  result.metrics.devices = { value: s.devices, unit: 'devices' };
  result.metrics.image_bytes = { value: s.imageBytes, unit: 'bytes' };
  result.metrics.campaign_concurrency = { value: s.concurrency, unit: 'devices' };
  result.metrics.poll_interval_ms = { value: s.pollInterval, unit: 'ms' };

  const rig = await startRig(bytes);
  const devices = await DeviceProcess.start();
  try {
    const started = await devices.command<StartReport>({
      cmd: 'start',
      server: { address: LOOPBACK, port: rig.channel.local.port },
      devices: s.devices,
      prefix: PREFIX,
      inFlight: 100,
    });
    const endpoints = (await rig.server.registrations()).map((r) => r.endpoint).sort();
    if (started.registered !== s.devices || endpoints.length !== s.devices)
      throw new Error(
        `${started.registered} of ${s.devices} devices registered (${endpoints.length} stored)`,
      );
    console.log(`  ${s.devices} devices registered in ${(started.elapsedMs / 1000).toFixed(1)} s`);

    // Warm-up: both paths once on a few devices, so neither method pays for the JIT alone.
    const few = endpoints.slice(0, Math.min(WARM_UP_DEVICES, endpoints.length));
    for (const method of ['push', 'pull'] as const) {
      const run = await campaign(rig, devices, image, few, method, s);
      if (failuresOf(run, few.length) !== 0) throw new Error(`warm-up ${method}: ${describeFailures(run)}`);
    }

    for (const method of s.methods) {
      const run = await campaign(rig, devices, image, endpoints, method, s);
      record(result, method, run, s.imageBytes);
      const failures = failuresOf(run, s.devices);
      console.log(
        `  ${method}: ${s.devices} devices in ${(run.elapsedMs / 1000).toFixed(1)} s, ${failures} failed`,
      );
      if (failures > 0) throw new Error(`${method}: ${describeFailures(run)}`);
    }
    await devices.command({ cmd: 'stop' });
    if (!s.complete) {
      // A part only (profiling): printed, not written over the results of a whole run.
      console.log(JSON.stringify(result.metrics, null, 2));
      return;
    }

    const raw = await baseline(devices, 'raw', () => rawBlock2Server(bytes, LOOPBACK), s, image);
    const rawPerMinute = recordBaseline(result, 'raw-dgram', raw, s.imageBytes);
    console.log(`  raw dgram Block2: ${(raw.report.elapsedMs / 1000).toFixed(1)} s`);
    const viaNodeCoap = await baseline(
      devices,
      'node-coap',
      () => nodeCoapBlock2Server(bytes, LOOPBACK),
      s,
      image,
      s.nodeCoapDevices,
    );
    const nodeCoapPerMinute = recordBaseline(result, 'node-coap', viaNodeCoap, s.imageBytes);
    console.log(`  node-coap Block2: ${(viaNodeCoap.report.elapsedMs / 1000).toFixed(1)} s`);
    if (raw.report.failed > 0 || viaNodeCoap.report.failed > 0)
      throw new Error(`baseline failures: raw ${raw.report.failed}, node-coap ${viaNodeCoap.report.failed}`);

    const push = result.metrics.devices_per_minute_push!.value;
    const pull = result.metrics.devices_per_minute_pull!.value;
    result.ratios.push_vs_raw_dgram = push / rawPerMinute;
    result.ratios.pull_vs_raw_dgram = pull / rawPerMinute;
    result.ratios.push_vs_node_coap = push / nodeCoapPerMinute;
    result.ratios.pull_vs_node_coap = pull / nodeCoapPerMinute;
    result.ratios.pull_vs_push = pull / push;
    writeResult(result);
  } finally {
    await devices.close();
    await rig.close();
  }
}

function describeFailures(run: CampaignRun): string {
  const failed = run.report.devices.filter((d) => d.phase !== 'succeeded');
  const first = failed[0];
  return (
    `${failed.length} not succeeded, installs ${run.installs.installs}, mismatches ${run.installs.mismatches}` +
    (first ? `; ${first.endpoint}: ${first.phase} ${first.reason ?? ''}` : '')
  );
}
