import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { PetrelError } from '../errors.js';
import { bootstrapCommand } from './bootstrap-command.js';
import { clientCommand } from './client-command.js';
import { codecCommand } from './codec-command.js';
import { ConfigError } from './config.js';
import { firmwareCommand } from './firmware-command.js';
import { fleetCommand } from './fleet-command.js';
import { serverCommand } from './server-command.js';
import { CliError, type CliIo } from './io.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(io: CliIo): Command {
  const program = new Command('petrel')
    .description('Petrel: an OMA LwM2M 1.2 server, bootstrap server, client and gateway')
    .version(pkg.version)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  program.addCommand(codecCommand(io));
  program.addCommand(serverCommand(io));
  program.addCommand(bootstrapCommand(io));
  program.addCommand(clientCommand(io));
  program.addCommand(fleetCommand(io));
  program.addCommand(firmwareCommand(io));
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
    for (const sub of cmd.commands)
      sub.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  }
  return program;
}

/**
 * Runs the CLI and returns the exit code: 0 ok, 1 the input was refused (a payload that does not
 * decode, a value of the wrong type), 2 a usage error.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof CliError) {
      io.stderr(`petrel: ${e.message}\n`);
      return e.exitCode;
    }
    // A bad setting in the environment or the config file is a usage error, like a bad flag.
    if (e instanceof ConfigError) {
      io.stderr(`petrel: ${e.message}\n`);
      return 2;
    }
    if (e instanceof PetrelError) {
      io.stderr(`petrel: ${e.message} [${e.code}]\n`);
      return 1;
    }
    throw e;
  }
}
