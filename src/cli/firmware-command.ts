import { Command } from 'commander';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { FirmwarePackageError } from '../firmware/firmware-package-error.js';
import type { InstallHint, ManifestFields } from '../firmware/manifest.js';
import { buildPackage, inspectPackage, type PackageInspection } from '../firmware/package-envelope.js';
import { packageVerifier } from '../firmware/package-verifier.js';
import { CliError, type CliIo } from './io.js';
import { readP256PrivateKey, readPublicKey } from './key-files.js';
import { failedDevices, watchCampaign, watchView } from './campaign-watch.js';
import type { WatchedCampaign } from './campaign-watch.js';

const CHUNK_BYTES = 64 * 1024;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CliError(
      `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      1,
    );
  }
}

/** Writes a new file; an existing one only with `force`. `mode` is applied even when overwriting. */
function writeOutput(path: string, data: string | Uint8Array, force: boolean, mode = 0o644): void {
  try {
    writeFileSync(path, data, { mode, flag: force ? 'w' : 'wx' });
    chmodSync(path, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`${path} exists; pass --force to overwrite it`, 1);
    throw new CliError(`cannot write ${path}: ${code ?? String(e)}`, 1);
  }
}

/** `--hint key=value`: true/false become booleans, integers numbers, anything else text. */
function parseHint(spec: string, prev: Record<string, InstallHint> = {}): Record<string, InstallHint> {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new CliError(`--hint "${spec}": expected key=value`);
  const key = spec.slice(0, eq);
  const text = spec.slice(eq + 1);
  const value: InstallHint =
    text === 'true' ? true : text === 'false' ? false : /^-?[0-9]{1,15}$/.test(text) ? Number(text) : text;
  return { ...prev, [key]: value };
}

/** Streams a file through the verifier in 64 KiB reads: the same bounded path a device takes. */
function verifyFile(path: string, keys: KeyObject[], opts: VerifyOptions) {
  const stream = packageVerifier({
    trustAnchors: keys,
    requireSignature: true,
    ...(opts.class === undefined ? {} : { deviceClass: opts.class }),
    ...(opts.vendor === undefined ? {} : { vendor: opts.vendor }),
    ...(opts.currentVersion === undefined ? {} : { currentVersion: opts.currentVersion }),
  }).begin();
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CliError(
      `cannot read the package ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      1,
    );
  }
  const buffer = new Uint8Array(CHUNK_BYTES);
  let imageBytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      imageBytes += stream.push(buffer.subarray(0, n)).length;
    }
  } finally {
    closeSync(fd);
  }
  return { verdict: stream.end(), imageBytes };
}

interface VerifyOptions {
  package: string;
  key: string[];
  class?: string;
  vendor?: string;
  currentVersion?: string;
}

const ALG_NAMES: Record<number, string> = { [-7]: 'ES256' };

/** The inspection as JSON-friendly values: bytes as hex, a printable kid also as text. */
function inspectionJson(info: PackageInspection, whole: Uint8Array): Record<string, unknown> {
  if (info.kind === 'plain')
    return {
      kind: 'plain',
      signed: false,
      imageBytes: info.imageBytes,
      imageDigest: hex(createHash('sha256').update(whole).digest()),
    };
  const m = info.manifest;
  const kidText = info.kid === undefined ? undefined : Buffer.from(info.kid).toString('utf8');
  const hints =
    m.installHints === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(m.installHints).map(([k, v]) => [k, v instanceof Uint8Array ? { hex: hex(v) } : v]),
        );
  return {
    kind: 'package',
    signed: info.signed,
    layoutVersion: info.layoutVersion,
    headerBytes: info.headerBytes,
    manifestBytes: info.manifestBytes,
    imageOffset: info.imageOffset,
    imageBytes: info.imageBytes,
    ...(info.alg === undefined ? {} : { alg: info.alg, algName: ALG_NAMES[info.alg] ?? String(info.alg) }),
    ...(info.kid === undefined ? {} : { kid: hex(info.kid) }),
    ...(kidText !== undefined && /^[\x20-\x7e]+$/.test(kidText) ? { kidText } : {}),
    manifest: {
      formatVersion: m.formatVersion,
      digestAlgorithm: m.digestAlgorithm,
      digest: hex(m.digest),
      size: m.size,
      version: m.version,
      ...(m.vendor === undefined ? {} : { vendor: m.vendor }),
      ...(m.deviceClass === undefined ? {} : { deviceClass: m.deviceClass }),
      ...(m.minVersion === undefined ? {} : { minVersion: m.minVersion }),
      ...(m.name === undefined ? {} : { name: m.name }),
      ...(hints === undefined ? {} : { installHints: hints }),
    },
    imageDigest: hex(info.imageDigest),
    digestMatches: info.digestMatches,
    sizeMatches: info.sizeMatches,
  };
}

function inspectionText(j: Record<string, unknown>): string {
  if (j.kind === 'plain')
    return `plain image (no manifest)\n  size    ${String(j.imageBytes)} bytes\n  sha256  ${String(j.imageDigest)}\n`;
  const m = j.manifest as Record<string, unknown>;
  const lines = [
    `${j.signed === true ? `signed package (COSE_Sign1 ${String(j.algName)})` : 'unsigned package (bare manifest)'}, layout ${String(j.layoutVersion)}`,
    ...(j.kid === undefined
      ? []
      : [
          `  kid             ${j.kid as string}${j.kidText === undefined ? '' : ` ("${j.kidText as string}")`}`,
        ]),
    `  header          ${String(j.headerBytes)} bytes (manifest ${String(j.manifestBytes)} bytes), image at offset ${String(j.imageOffset)}`,
    `  version         ${String(m.version)}`,
    ...(['name', 'vendor', 'deviceClass', 'minVersion'] as const)
      .filter((k) => m[k] !== undefined)
      .map((k) => `  ${k.padEnd(16)}${String(m[k])}`),
    ...(m.installHints === undefined ? [] : [`  installHints    ${JSON.stringify(m.installHints)}`]),
    `  manifest size   ${String(m.size)} bytes`,
    `  manifest sha256 ${String(m.digest)}`,
    `  image size      ${String(j.imageBytes)} bytes${j.sizeMatches === true ? '' : '  (DIFFERS from the manifest)'}`,
    `  image sha256    ${String(j.imageDigest)}${j.digestMatches === true ? '' : '  (DIFFERS from the manifest)'}`,
    '  (not verified: use `petrel firmware verify` with a trusted key)',
  ];
  return lines.join('\n') + '\n';
}

/** `petrel firmware …`: the release engineer's side of signed firmware packages (docs/firmware.md). */
export function firmwareCommand(io: CliIo): Command {
  const firmware = new Command('firmware').description(
    'make and check signed firmware packages (SUIT-style manifest, COSE_Sign1 ES256)',
  );

  firmware
    .command('keygen')
    .description('create a P-256 signing key: PKCS#8 private key PEM then its public key PEM, mode 0600')
    .requiredOption('--out <file>', 'the key file to create')
    .option('--public-out <file>', 'also write the public key (SPKI PEM) here, for devices and `verify`')
    .option('--force', 'overwrite existing files')
    .action((opts: { out: string; publicOut?: string; force?: boolean }) => {
      const force = opts.force === true;
      for (const path of [opts.out, opts.publicOut])
        if (path !== undefined && !force && existsSync(path))
          throw new CliError(`${path} exists; pass --force to overwrite it`, 1);
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
      writeOutput(opts.out, privatePem + publicPem, force, 0o600);
      if (opts.publicOut !== undefined) writeOutput(opts.publicOut, publicPem, force);
      io.stdout(`wrote ${opts.out}${opts.publicOut === undefined ? '' : ` and ${opts.publicOut}`}\n`);
    })
    .addHelpText(
      'after',
      '\nExample:\n  petrel firmware keygen --out release.key --public-out release.pub\n',
    );

  firmware
    .command('sign')
    // --fw-version, not --version: `petrel --version` (Petrel's own version) is a global flag.
    .description('wrap an image in a signed package: manifest (digest, size, version…) signed with ES256')
    .requiredOption('--key <file>', 'the P-256 private key (PEM or DER, PKCS#8 or SEC1)')
    .requiredOption('--image <file>', 'the firmware image')
    .requiredOption('--out <file>', 'the package to write')
    .requiredOption('--fw-version <version>', 'the firmware version the image installs (/5/0/7), e.g. 2.4.1')
    .option('--vendor <vendor>', 'the vendor devices must match')
    .option('--class <class>', 'the device class devices must match')
    .option('--min-version <version>', 'the oldest installed version the image may be installed over')
    .option('--name <name>', 'the package name (/5/0/6)')
    .option('--kid <text>', 'key id placed in the COSE unprotected header (UTF-8)')
    .option('--hint <key=value>', 'an install hint for the device (repeatable)', parseHint)
    .option('--force', 'overwrite an existing package')
    .action(
      (opts: {
        key: string;
        image: string;
        out: string;
        fwVersion: string;
        vendor?: string;
        class?: string;
        minVersion?: string;
        name?: string;
        kid?: string;
        hint?: Record<string, InstallHint>;
        force?: boolean;
      }) => {
        const key = readP256PrivateKey(opts.key);
        const image = readInput(opts.image, 'image');
        const fields: ManifestFields = {
          version: opts.fwVersion,
          ...(opts.vendor === undefined ? {} : { vendor: opts.vendor }),
          ...(opts.class === undefined ? {} : { deviceClass: opts.class }),
          ...(opts.minVersion === undefined ? {} : { minVersion: opts.minVersion }),
          ...(opts.name === undefined ? {} : { name: opts.name }),
          ...(opts.hint === undefined ? {} : { installHints: opts.hint }),
        };
        let pkg: Uint8Array;
        try {
          pkg = buildPackage(
            image,
            fields,
            key,
            opts.kid === undefined ? {} : { kid: Buffer.from(opts.kid, 'utf8') },
          );
        } catch (e) {
          if (e instanceof FirmwarePackageError) throw new CliError(e.message, 2);
          throw e;
        }
        writeOutput(opts.out, pkg, opts.force === true);
        io.stdout(
          `signed ${opts.out}: version ${opts.fwVersion}, image ${image.length} bytes, ` +
            `sha256 ${createHash('sha256').update(image).digest('hex')}, package ${pkg.length} bytes\n`,
        );
      },
    )
    .addHelpText(
      'after',
      '\nExample:\n  petrel firmware sign --key release.key --image app.bin --out app.pfw --fw-version 2.4.1 --vendor Acme --class sensor-v2\n',
    );

  firmware
    .command('verify')
    .description('check a package as a device would: signature, digest, size, and the given device facts')
    .requiredOption('--package <file>', 'the package to check')
    .requiredOption(
      '--key <file...>',
      'trusted key(s): public key PEM/DER, certificate, or the key file itself',
    )
    .option('--class <class>', 'the device class to check against')
    .option('--vendor <vendor>', 'the vendor to check against')
    .option(
      '--current-version <version>',
      'the version installed on the device (no downgrades; minimum applies)',
    )
    .action((opts: VerifyOptions) => {
      const keys = opts.key.map((path) => readPublicKey(path));
      const { verdict, imageBytes } = verifyFile(opts.package, keys, opts);
      if (!verdict.ok)
        throw new CliError(
          `refused at ${verdict.phase} (Update Result ${verdict.updateResult}): ${verdict.reason}`,
          1,
        );
      const f = verdict.facts;
      if (opts.currentVersion === undefined)
        io.stderr(
          'note: no --current-version, so the version rules (minimum, no downgrade) were not checked\n',
        );
      io.stdout(
        `ok: signature and SHA-256 digest verified; version ${f.version ?? '?'}, image ${imageBytes} bytes` +
          `${f.name === undefined ? '' : `, name ${f.name}`}\n`,
      );
    })
    .addHelpText(
      'after',
      '\nExample:\n  petrel firmware verify --package app.pfw --key release.pub --class sensor-v2 --current-version 2.3\n',
    );

  firmware
    .command('inspect')
    .description('print what a package says about itself (manifest, digest, sizes) without trusting it')
    .argument('<package>', 'the package (or plain image) file')
    .option('--json', 'print JSON')
    .action((path: string, opts: { json?: boolean }) => {
      const bytes = readInput(path, 'package');
      let info: PackageInspection;
      try {
        info = inspectPackage(bytes);
      } catch (e) {
        if (e instanceof FirmwarePackageError)
          throw new CliError(
            `${path}: refused at ${e.reason} (Update Result ${e.updateResult}): ${e.message}`,
            1,
          );
        throw e;
      }
      const json = inspectionJson(info, bytes);
      io.stdout(opts.json === true ? JSON.stringify(json, null, 2) + '\n' : inspectionText(json));
    })
    .addHelpText('after', '\nExample:\n  petrel firmware inspect app.pfw --json\n');

  firmware.addCommand(campaignCommand(io));
  return firmware;
}

// ---- petrel firmware campaign: campaigns through a running server's REST API ----

interface ApiOptions {
  api: string;
  token?: string;
  json?: boolean;
}

interface DeviceLine {
  endpoint: string;
  phase: string;
  method?: string;
  scheme?: string;
  attempts: number;
  bytes: number;
  size: number;
  updateResult?: number;
  reason?: string;
  previousVersion?: string;
  version?: string;
  deferrals: number;
}

interface CampaignView {
  id: string;
  name?: string;
  status: string;
  image: { id: string; size: number; version?: string };
  totals: { devices: number; finished: number; bytes: number; phases: Record<string, number> };
  devices?: DeviceLine[];
}

/** One REST call; an answer other than 2xx becomes a CliError with the API's message (exit 1). */
async function callApi(
  opts: ApiOptions,
  method: string,
  path: string,
  body?: { json: unknown } | { bytes: Uint8Array },
): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let payload: string | Uint8Array | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = 'application/octet-stream';
    payload = body.bytes;
  }
  const url = `${opts.api.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  } catch (e) {
    throw new CliError(`cannot reach ${url}: ${(e as Error).message}`, 1);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = json as { code?: string; message?: string } | undefined;
    throw new CliError(
      `${method} ${path}: ${res.status} ${err?.code ?? ''} ${err?.message ?? text}`.trim(),
      1,
    );
  }
  return json;
}

const phaseTotals = (phases: Record<string, number>): string =>
  Object.entries(phases)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');

/** A campaign as text: its status and totals, then one line per device. */
export function campaignText(c: CampaignView): string {
  const head =
    `campaign ${c.id}${c.name === undefined ? '' : ` (${c.name})`}: ${c.status}; image ${c.image.id.slice(0, 16)}…` +
    `${c.image.version === undefined ? '' : ` version ${c.image.version}`}, ${c.image.size} bytes\n` +
    `devices ${c.totals.devices}, finished ${c.totals.finished}: ${phaseTotals(c.totals.phases)}; ${c.totals.bytes} bytes delivered\n`;
  const lines = (c.devices ?? []).map((d) => {
    const how = d.method === undefined ? '-' : `${d.method}${d.scheme === undefined ? '' : `/${d.scheme}`}`;
    const result = d.updateResult === undefined ? '' : ` result ${d.updateResult}`;
    const extra = [
      d.version === undefined ? '' : ` now ${d.version}`,
      d.deferrals > 0 ? ` deferred ${d.deferrals}x` : '',
      d.attempts > 1 ? ` attempts ${d.attempts}` : '',
      d.reason === undefined ? '' : `: ${d.reason}`,
    ].join('');
    return `  ${d.endpoint}  ${d.phase}  ${how}  ${d.bytes}/${d.size}${result}${extra}\n`;
  });
  return head + lines.join('');
}

function campaignCommand(io: CliIo): Command {
  const campaign = new Command('campaign').description(
    "run firmware campaigns through a Petrel server's REST API (petrel server --firmware-dir)",
  );
  const withApi = (cmd: Command): Command =>
    cmd
      .option('--api <url>', 'the REST API', 'http://127.0.0.1:8080')
      .option('--token <token>', 'the API token (Authorization: Bearer)')
      .option('--json', 'print JSON');
  const print = (opts: ApiOptions, c: unknown): void =>
    io.stdout(opts.json === true ? `${JSON.stringify(c, null, 2)}\n` : campaignText(c as CampaignView));
  const intOption = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new CliError(`--${name} ${v}: expected a number`);
    return n;
  };

  withApi(
    campaign
      .command('create')
      .description('start a campaign: one image to a list of devices, or to those a filter selects')
      .option('--image <id>', 'an image already in the repository')
      .option('--image-file <file>', 'upload this file (plain image or package) and use it')
      .option('--targets <endpoints>', 'comma-separated endpoint names')
      .option('--prefix <text>', 'every registered endpoint whose name starts with this')
      .option('--tag <tag...>', 'endpoints carrying every one of these tags')
      .option('--current-version <version>', 'only devices whose /3/0/3 is this (others skipped)')
      .option('--method <method>', 'push, pull or auto', 'auto')
      .option('--name <name>', 'a name for the campaign')
      .option('--concurrency <n>', 'devices in progress at once (default 10)')
      .option('--rate <n>', 'device starts per second')
      .option('--retries <n>', 'retries of failures that may pass (default 2)')
      .option('--watch', 'then show its progress until it ends (as `campaign watch`)'),
  ).action(
    async (
      opts: ApiOptions & {
        image?: string;
        imageFile?: string;
        targets?: string;
        prefix?: string;
        tag?: string[];
        currentVersion?: string;
        method: string;
        name?: string;
        concurrency?: string;
        rate?: string;
        retries?: string;
        watch?: boolean;
      },
    ) => {
      if ((opts.image === undefined) === (opts.imageFile === undefined))
        throw new CliError('give --image <id> or --image-file <file>');
      let image = opts.image;
      if (opts.imageFile !== undefined) {
        const bytes = readInput(opts.imageFile, 'image');
        const label = encodeURIComponent(opts.imageFile.split('/').pop() ?? '');
        const info = (await callApi(opts, 'POST', `/api/firmware/images?label=${label}`, { bytes })) as {
          id: string;
        };
        image = info.id;
        if (opts.json !== true) io.stderr(`uploaded ${opts.imageFile}: image ${info.id}\n`);
      }
      const filter = {
        ...(opts.prefix === undefined ? {} : { endpointPrefix: opts.prefix }),
        ...(opts.tag === undefined ? {} : { tags: opts.tag }),
        ...(opts.currentVersion === undefined ? {} : { currentVersion: opts.currentVersion }),
      };
      const list = opts.targets
        ?.split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      if (list !== undefined && Object.keys(filter).length > 0)
        throw new CliError('give --targets, or a filter (--prefix, --tag, --current-version), not both');
      if (list === undefined && Object.keys(filter).length === 0)
        throw new CliError('give --targets <ep,…> or a filter (--prefix, --tag, --current-version)');
      const numbers = {
        concurrency: intOption('concurrency', opts.concurrency),
        rate: intOption('rate', opts.rate),
        retries: intOption('retries', opts.retries),
      };
      const body = {
        image,
        targets: list ?? filter,
        method: opts.method,
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...Object.fromEntries(Object.entries(numbers).filter(([, v]) => v !== undefined)),
      };
      const created = (await callApi(opts, 'POST', '/api/firmware/campaigns', {
        json: body,
      })) as CampaignView;
      if (opts.watch !== true) return print(opts, created);
      if (opts.json !== true) io.stderr(`campaign ${created.id} created\n`);
      await watch(created.id, opts);
    },
  );

  withApi(
    campaign
      .command('show')
      .description("a campaign: status, totals, and each device's phase, bytes and result (no id: list them)")
      .argument('[id]', 'the campaign'),
  ).action(async (id: string | undefined, opts: ApiOptions) => {
    if (id !== undefined)
      return print(opts, await callApi(opts, 'GET', `/api/firmware/campaigns/${encodeURIComponent(id)}`));
    const all = (await callApi(opts, 'GET', '/api/firmware/campaigns')) as CampaignView[];
    io.stdout(opts.json === true ? `${JSON.stringify(all, null, 2)}\n` : all.map(campaignText).join(''));
  });

  withApi(
    campaign
      .command('history')
      .description("a device's update history: its part in every campaign the server keeps")
      .argument('<endpoint>', 'the device'),
  ).action(async (endpoint: string, opts: ApiOptions) => {
    const h = (await callApi(
      opts,
      'GET',
      `/api/firmware/devices/${encodeURIComponent(endpoint)}/history`,
    )) as { endpoint: string; updates: { campaign: string; createdAt: number; device: DeviceLine }[] };
    if (opts.json === true) return io.stdout(`${JSON.stringify(h, null, 2)}\n`);
    if (h.updates.length === 0) return io.stdout(`${endpoint}: in no campaign the server keeps\n`);
    for (const u of h.updates) {
      const d = u.device;
      const versions = `${d.previousVersion ?? '?'} -> ${d.version ?? '-'}`;
      const result = d.updateResult === undefined ? '' : ` result ${d.updateResult}`;
      const reason = d.reason === undefined ? '' : `: ${d.reason}`;
      io.stdout(
        `${new Date(u.createdAt).toISOString()}  ${u.campaign}  ${d.phase}  ${versions}${result}${reason}\n`,
      );
    }
  });

  /** Progress until the campaign ends; the final report; exit 1 when a device failed. */
  const watch = async (id: string, opts: ApiOptions & { interval?: string }): Promise<void> => {
    const intervalMs = intOption('interval', opts.interval) ?? 1000;
    const path = `/api/firmware/campaigns/${encodeURIComponent(id)}`;
    const last = await watchCampaign(
      () => callApi(opts, 'GET', path) as Promise<WatchedCampaign>,
      watchView(io, opts.json === true),
      { intervalMs: Math.max(100, intervalMs) },
    );
    if (opts.json !== true) io.stdout(campaignText(last as unknown as CampaignView));
    const failed = failedDevices(last);
    if (failed > 0) throw new CliError(`${failed} of ${last.totals.devices} devices failed`, 1);
  };

  withApi(
    campaign
      .command('watch')
      .description('show a campaign with progress bars until it ends (exit 1 when a device failed)')
      .argument('<id>', 'the campaign')
      .option('--interval <ms>', 'between two reads of the campaign (default 1000)'),
  ).action(watch);

  for (const [action, what] of [
    ['pause', 'start no more devices (those under way go on)'],
    ['resume', 'go on with a paused campaign'],
    ['cancel', 'stop a campaign: devices not yet updating end cancelled'],
  ] as const)
    withApi(campaign.command(action).description(what).argument('<id>', 'the campaign')).action(
      async (id: string, opts: ApiOptions) =>
        print(
          opts,
          await callApi(opts, 'POST', `/api/firmware/campaigns/${encodeURIComponent(id)}/${action}`),
        ),
    );

  return campaign;
}
