/**
 * The client's instance of Petrel Update Diagnostics (object 33000, src/firmware/update-diagnostics-object.ts)
 * for one /5 instance: a read-only view of FirmwareUpdateInstance.lastError and its attempt
 * counters (FW-003), which tells observers when they change. LwM2mClient reports it with Send when
 * a download or update fails.
 */
import {
  UPDATE_DIAGNOSTICS_OBJECT_ID,
  UpdateDiagnosticsResource as R,
} from '../../firmware/update-diagnostics-object.js';
import { Value } from '../../model/data-types.js';
import { LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import type { InstanceChangeListener, InstanceEnabler, TreeResult } from '../instance.js';
import { treeFail } from '../instance.js';
import type { FirmwareUpdateInstance } from './firmware-update-instance.js';

export class UpdateDiagnosticsInstance implements InstanceEnabler {
  readonly objectId = UPDATE_DIAGNOSTICS_OBJECT_ID;
  readonly instanceId: number;
  readonly #firmware: FirmwareUpdateInstance;
  readonly #listeners = new Set<InstanceChangeListener>();

  constructor(firmware: FirmwareUpdateInstance, instanceId = firmware.instanceId) {
    this.#firmware = firmware;
    this.instanceId = instanceId;
    firmware.onDiagnostics(() => this.#changed());
  }

  /** The paths a report (Send) carries. */
  get path(): LwM2mPath {
    return LwM2mPath.of(this.objectId, this.instanceId);
  }

  read(): LwM2mRecord[] {
    const at = (rid: number, value: LwM2mRecord['value']): LwM2mRecord => ({
      path: LwM2mPath.of(this.objectId, this.instanceId, rid),
      value,
    });
    const fw = this.#firmware;
    const e = fw.lastError;
    const out: LwM2mRecord[] = [
      at(R.Target, Value.objlnk(fw.objectId, fw.instanceId)),
      at(R.Phase, Value.string(e?.phase ?? '')),
      at(R.Code, Value.string(e?.code ?? '')),
      at(R.UpdateResult, Value.integer(e?.updateResult ?? 0)),
    ];
    if (e) out.push(at(R.Message, Value.string(e.message)), at(R.Time, Value.time(e.at)));
    out.push(at(R.AttemptCount, Value.integer(fw.attempts)), at(R.FailureCount, Value.integer(fw.failures)));
    return out;
  }

  resourceIds(): number[] {
    return this.read().map((r) => r.path.resourceId!);
  }

  write(): TreeResult<void> {
    return treeFail('4.05', 'the update diagnostics are read-only');
  }

  execute(resourceId: number): TreeResult<void> {
    return treeFail('4.05', `/${this.objectId}/${this.instanceId}/${resourceId} is not executable`);
  }

  onChange(listener: InstanceChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    const paths = Object.values(R).map((rid) => LwM2mPath.of(this.objectId, this.instanceId, rid));
    for (const listener of [...this.#listeners]) listener(paths);
  }
}
