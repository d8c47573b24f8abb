import { Command, InvalidArgumentError } from 'commander';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mServer } from '../server/lwm2m-server.js';
import { SqliteRegistrationStore } from '../store/sqlite-registration-store.js';
import type { Registration } from '../server/registration.js';
import { waitForSignal } from './signals.js';
import { CliError, type CliIo } from './io.js';

function port(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}

function seconds(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text)) throw new InvalidArgumentError('expected a whole number of seconds');
  return n;
}

function describe(reg: Registration): string {
  const objects = reg.objects.map((o) => (o.version ? `${o.id}@${o.version}` : `${o.id}`)).join(',');
  return (
    `ep=${reg.endpoint} id=${reg.id} lwm2m=${reg.lwm2mVersion} lt=${reg.lifetime} b=${reg.binding}` +
    `${reg.queueMode ? ' Q' : ''} from ${reg.peer.address}:${reg.peer.port} objects=${objects || '-'}`
  );
}

interface ServerCommandOptions {
  address: string;
  coapPort: number;
  models?: string[];
  lifetimeGrace: number;
  json?: boolean;
  store: string;
}

/** `memory` or `sqlite:<file>` (Redis comes with the product issue). */
function storeOption(text: string): string {
  if (text === 'memory' || (text.startsWith('sqlite:') && text.length > 'sqlite:'.length)) return text;
  throw new InvalidArgumentError('expected memory or sqlite:<file>, e.g. sqlite:./data/petrel.db');
}

/**
 * `petrel server`: a LwM2M server on CoAP/UDP that logs registrations, updates, sends and
 * expiries until SIGINT/SIGTERM (or the injected shutdown). The REST API and UI come later.
 */
export function serverCommand(io: CliIo): Command {
  return new Command('server')
    .description('run a LwM2M 1.2 server (CoAP over UDP) and log what clients do')
    .option('--address <ip>', 'address to listen on', '0.0.0.0')
    .option('--coap-port <port>', 'CoAP UDP port (0 = any free port)', port, 5683)
    .option(
      '--models <dir>',
      'folder of OMA DDF XML object definitions to add (repeatable)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--lifetime-grace <seconds>', 'extra seconds before a registration expires', seconds, 0)
    .option('--json', 'log one JSON object per line instead of text')
    .option('--store <store>', 'where registrations live: memory or sqlite:<file>', storeOption, 'memory')
    .action(async (opts: ServerCommandOptions) => {
      const model = createDefaultRegistry();
      for (const dir of opts.models ?? []) {
        try {
          const loaded = model.loadDirectory(dir, { onInvalid: 'skip' });
          io.stderr(
            `petrel: loaded ${loaded.definitions.length} object definitions from ${dir}` +
              `${loaded.skipped.length > 0 ? ` (${loaded.skipped.length} files skipped)` : ''}\n`,
          );
        } catch (e) {
          throw new CliError(`cannot load models from ${dir}: ${(e as Error).message}`, 1);
        }
      }
      let store: SqliteRegistrationStore | undefined;
      if (opts.store.startsWith('sqlite:')) {
        const file = opts.store.slice('sqlite:'.length);
        try {
          store = new SqliteRegistrationStore({ file });
        } catch (e) {
          throw new CliError(`cannot open the store ${file}: ${(e as Error).message}`, 1);
        }
      }
      const server = new LwM2mServer({
        udp: { address: opts.address, port: opts.coapPort },
        model,
        lifetimeGrace: opts.lifetimeGrace,
        ...(store ? { store } : {}),
      });
      const log = (event: string, text: string, data: Record<string, unknown>): void => {
        io.stdout(
          opts.json
            ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n`
            : `${event} ${text}\n`,
        );
      };
      const regData = (r: Registration): Record<string, unknown> => ({
        endpoint: r.endpoint,
        id: r.id,
        lwm2m: r.lwm2mVersion,
        lifetime: r.lifetime,
        binding: r.binding,
        queueMode: r.queueMode,
        peer: `${r.peer.address}:${r.peer.port}`,
        objects: r.objects.map((o) => o.id),
      });
      server.on('registered', (r) => log('registered', describe(r), regData(r)));
      server.on('updated', (r) => log('updated', describe(r), regData(r)));
      server.on('deregistered', (r) => log('deregistered', `ep=${r.endpoint}`, { endpoint: r.endpoint }));
      server.on('expired', (r) => log('expired', `ep=${r.endpoint}`, { endpoint: r.endpoint }));
      server.on('send', (e) =>
        log('send', `ep=${e.registration.endpoint} ${JSON.stringify(e.result.values)}`, {
          endpoint: e.registration.endpoint,
          values: e.result.values,
        }),
      );
      server.on('uplink', (e) => {
        if (e.code.startsWith('2.')) return;
        log(
          'refused',
          `${e.operation ?? 'request'} from ${e.peer}: ${e.code} ${e.diagnostic ?? ''}`.trimEnd(),
          { ...e },
        );
      });
      server.on('error', (e) => io.stderr(`petrel: ${e.message}\n`));
      // Listen for the stop signal before announcing anything: a supervisor that reacts to the
      // "listening" line must not be able to kill the process before the handler exists.
      const shutdown = (io.shutdown ?? waitForSignal)();
      try {
        await server.start();
      } catch (e) {
        store?.close();
        throw new CliError(`cannot start the server: ${(e as Error).message}`, 1);
      }
      const where = server.address;
      log('listening', `coap://${where?.address ?? opts.address}:${where?.port ?? opts.coapPort}`, {
        address: where?.address,
        port: where?.port,
      });
      await shutdown;
      await server.stop();
      store?.close();
      log('stopped', '', {});
    });
}
