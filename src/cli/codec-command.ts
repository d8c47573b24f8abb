import { Command, Option } from 'commander';
import type { CodecContext } from '../content/content-codec.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import { CONTENT_FORMATS, lookupContentFormat } from '../content/content-format.js';
import { parseLinkFormat, formatLinkFormat } from '../model/link-format.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mPath } from '../model/path.js';
import { recordsFromJson, recordsToJson } from '../model/records-json.js';
import { CliError, type CliIo } from './io.js';

interface CommonOptions {
  format: string;
  path: string;
  model?: string[];
  objectVersion?: string[];
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

function parseHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (!HEX_RE.test(clean))
    throw new CliError(`--hex: "${text.slice(0, 40)}" is not an even number of hex digits`);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

function context(opts: CommonOptions): CodecContext {
  const model = createDefaultRegistry();
  for (const dir of opts.model ?? []) model.loadDirectory(dir);
  const versions = new Map<number, string>();
  for (const spec of opts.objectVersion ?? []) {
    const m = /^([0-9]+)=([0-9]+\.[0-9]+)$/.exec(spec);
    if (!m) throw new CliError(`--object-version "${spec}": expected <objectId>=<major.minor>, e.g. 3=1.1`);
    versions.set(Number(m[1]), m[2]!);
  }
  let path: LwM2mPath;
  try {
    path = LwM2mPath.parse(opts.path);
  } catch (e) {
    throw new CliError(`--path: ${(e as Error).message}`);
  }
  return { path, model, versions };
}

function formatKey(text: string): string {
  const f = lookupContentFormat(text);
  if (!f) {
    const known = CONTENT_FORMATS.map((c) => `${c.name} (${c.id})`).join(', ');
    throw new CliError(`--format "${text}" is not a content format; use one of: ${known}`);
  }
  return f.name;
}

function notes(io: CliIo, inferred: Iterable<string>): void {
  const list = [...new Set(inferred)];
  if (list.length > 0)
    io.stderr(`note: not in the object model, typed from the payload itself: ${list.join(', ')}\n`);
}

/** `petrel codec …`: decode and encode LwM2M payloads, for people debugging devices and for tests. */
export function codecCommand(io: CliIo): Command {
  const codec = new Command('codec').description('decode and encode LwM2M payloads in every content format');
  const common = (cmd: Command): Command =>
    cmd
      .requiredOption('-f, --format <format>', 'content format: number (112) or name (senml-cbor)')
      .option('-p, --path <path>', 'the request path the payload belongs to, e.g. /3/0', '/')
      .option('-m, --model <dir...>', 'folders of extra DDF XML object definitions')
      .addOption(
        new Option(
          '--object-version <oid=ver...>',
          'object versions the client declared, e.g. 1=1.1',
        ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
      );

  const decode = common(new Command('decode'))
    .description('decode a payload (hex, or raw bytes on stdin) to JSON keyed by path')
    .option('-x, --hex <hex>', 'the payload as hex; without it the raw bytes are read from stdin')
    .action(async (opts: CommonOptions & { hex?: string }) => {
      const bytes = opts.hex !== undefined ? parseHex(opts.hex) : await io.readStdin();
      const name = formatKey(opts.format);
      if (name === 'link') {
        io.stdout(JSON.stringify(parseLinkFormat(new TextDecoder().decode(bytes)), null, 2) + '\n');
        return;
      }
      const ctx = context(opts);
      const records = createCodecRegistry().decode(name, bytes, ctx);
      notes(
        io,
        records.filter((r) => r.inferred).map((r) => r.path.toString()),
      );
      io.stdout(JSON.stringify(recordsToJson(records), null, 2) + '\n');
    })
    .addHelpText(
      'after',
      '\nExample:\n  petrel codec decode --format tlv --path /3/0/0 --hex c800144f70656e204d6f62696c6520416c6c69616e6365',
    );

  const encode = common(new Command('encode'))
    .description('encode JSON keyed by path (read from stdin) and print the payload as hex')
    .action(async (opts: CommonOptions) => {
      const text = new TextDecoder().decode(await io.readStdin());
      const name = formatKey(opts.format);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new CliError(`stdin is not JSON: ${(e as Error).message}`);
      }
      if (name === 'link') {
        if (!Array.isArray(json))
          throw new CliError('link format: expected the JSON array that `decode` prints');
        io.stdout(
          Buffer.from(formatLinkFormat(json as Parameters<typeof formatLinkFormat>[0])).toString('hex') +
            '\n',
        );
        return;
      }
      const ctx = context(opts);
      const { records, inferred } = recordsFromJson(json, ctx.model, ctx.versions);
      notes(io, inferred);
      const bytes = createCodecRegistry().encode(name, records, ctx);
      io.stdout(Buffer.from(bytes).toString('hex') + '\n');
    })
    .addHelpText(
      'after',
      `\nExample:\n  echo '{"/3/0/9": 95}' | petrel codec encode --format senml-cbor --path /3/0/9`,
    );

  codec
    .command('formats')
    .description('list the content formats, their numbers and media types')
    .action(() => {
      for (const f of CONTENT_FORMATS)
        io.stdout(`${String(f.id).padStart(5)}  ${f.name.padEnd(16)} ${f.mediaType}\n`);
    });

  return codec.addCommand(decode).addCommand(encode);
}
