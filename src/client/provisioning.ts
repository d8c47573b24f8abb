import { readFile } from 'node:fs/promises';
import { BootstrapConfigError, parseBootstrapConfig } from '../bootstrap/bootstrap-config.js';
import {
  bootstrapSecurityRecords,
  emptyInventory,
  layoutInstances,
  serverRecords,
  serverSecurityRecords,
} from '../bootstrap/bootstrap-plan.js';
import type { CodecRegistry } from '../content/codec-registry.js';
import { ContentFormatError } from '../content/content-format-error.js';
import type { ObjectModel } from '../model/object-definition.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { PetrelError } from '../errors.js';

/**
 * The sources a client's /0 and /1 can come from before any network bootstrap (BOOT-PROV-001,
 * Core §6.1.4): a smartcard and a factory configuration. Each yields the records of /0 and /1
 * instances, which the client writes as a bootstrap would and marks with their source.
 */

export type ProvisioningErrorReason = 'bad-factory-config' | 'bad-smartcard-data' | 'io';

export class ProvisioningError extends PetrelError {
  readonly reason: ProvisioningErrorReason;
  constructor(reason: ProvisioningErrorReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_PROVISIONING_${reason.toUpperCase().replaceAll('-', '_')}`, message, options);
    this.reason = reason;
  }
}

/**
 * A secure element holding bootstrap information (LwM2M's Bootstrap from Smartcard). Petrel reads
 * it as a Bootstrap-Pack would come: /0 and /1 instance values in SenML CBOR.
 */
export interface SecureElement {
  /** The bootstrap information, or undefined when there is no card (or it holds none). */
  readBootstrapData(): Promise<Uint8Array | undefined>;
}

/** A secure element backed by a file (a missing file = no card). */
export class FileSecureElement implements SecureElement {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async readBootstrapData(): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ProvisioningError(
        'io',
        `cannot read the smartcard file ${this.path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
}

const SENML_CBOR = 112;

/** The /0 and /1 records a smartcard's data holds (SenML CBOR); only those two objects. */
export function smartcardRecords(data: Uint8Array, codecs: CodecRegistry, model: ObjectModel): LwM2mRecord[] {
  let records: LwM2mRecord[];
  try {
    records = [...codecs.decode(SENML_CBOR, data, { path: LwM2mPath.ROOT, model })];
  } catch (e) {
    if (e instanceof ContentFormatError)
      throw new ProvisioningError(
        'bad-smartcard-data',
        `the smartcard data is not SenML CBOR: ${e.message}`,
        {
          cause: e,
        },
      );
    throw e;
  }
  for (const r of records)
    if ((r.path.objectId !== 0 && r.path.objectId !== 1) || r.path.instanceId === undefined)
      throw new ProvisioningError(
        'bad-smartcard-data',
        `the smartcard data holds ${r.path.toString()}; only /0 and /1 instances are provisioned from it`,
      );
  if (records.length === 0) throw new ProvisioningError('bad-smartcard-data', 'the smartcard data is empty');
  return records;
}

/**
 * The /0 and /1 records of a factory configuration: the same JSON document a Bootstrap-Server
 * stores per endpoint (docs/bootstrap.md), e.g. only `bootstrapServer` for a device that leaves
 * the factory knowing just its Bootstrap-Server, or `servers` for one that needs none.
 */
export function factoryRecords(doc: unknown, lwm2mVersion = '1.2'): LwM2mRecord[] {
  let config;
  try {
    config = parseBootstrapConfig(doc, { allowNoServers: true });
  } catch (e) {
    if (e instanceof BootstrapConfigError)
      throw new ProvisioningError('bad-factory-config', `factory configuration: ${e.message}`, { cause: e });
    throw e;
  }
  const layout = layoutInstances(config, emptyInventory(lwm2mVersion));
  const version = lwm2mVersion === '1.0' ? '1.0' : lwm2mVersion === '1.1' ? '1.1' : '1.2';
  const out: LwM2mRecord[] = [];
  if (config.bootstrapServer && layout.bootstrapAccount !== undefined)
    out.push(...bootstrapSecurityRecords(config.bootstrapServer, layout.bootstrapAccount, version));
  for (const s of config.servers) {
    out.push(...serverSecurityRecords(s, layout.security.get(s.shortServerId)!, version));
    out.push(...serverRecords(s, layout.server.get(s.shortServerId)!, version));
  }
  return out;
}

/** A factory configuration file (JSON). */
export async function readFactoryConfig(path: string, lwm2mVersion = '1.2'): Promise<LwM2mRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ProvisioningError(
      'io',
      `cannot read the factory configuration ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ProvisioningError('bad-factory-config', `${path} is not JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return factoryRecords(doc, lwm2mVersion);
}
