import { Command } from 'commander';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { FirmwarePackageError } from '../firmware/firmware-package-error.js';
import type { InstallHint, ManifestFields } from '../firmware/manifest.js';
import { buildPackage, inspectPackage, type PackageInspection } from '../firmware/package-envelope.js';
import { packageVerifier } from '../firmware/package-verifier.js';
import { CliError, type CliIo } from './io.js';
import { readP256PrivateKey, readPublicKey } from './key-files.js';

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

  return firmware;
}
