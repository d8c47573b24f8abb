// The devices of a campaign, a page at a time, optionally of one phase: each one's phase, the
// bytes it has of the image, its attempts, how long the download, the acceptance and the update
// took, its versions before and after, and its result or the reason it failed.
import { useState } from 'preact/hooks';
import type { CampaignDevice, CampaignReport, DevicePhase } from '../api-types.js';
import { DEVICE_PHASES, devicePage, devicePercent, deviceResultText } from '../lib/campaign-state.js';
import { formatBytes, formatLatency } from '../lib/format.js';
import { Pager } from './pager.js';
import { ProgressBar } from './progress-bar.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';

const PAGE_SIZE = 50;
const COLUMNS = [
  'Endpoint',
  'Phase',
  'Image bytes',
  'Method',
  'Attempts',
  'Download',
  'Acceptance',
  'Update',
  'Version',
  'Result',
];

function DeviceRow(props: { device: CampaignDevice; now: number }) {
  const d = props.device;
  const t = d.timings;
  // A download or update under way shows how long it has run so far.
  const running = (from: number | undefined): string =>
    from === undefined ? '' : `${formatLatency(props.now - from)}…`;
  const download =
    t.downloadMs !== undefined
      ? formatLatency(t.downloadMs)
      : d.phase === 'downloading'
        ? running(t.downloadStartedAt)
        : '';
  const update =
    t.updateMs !== undefined
      ? formatLatency(t.updateMs)
      : d.phase === 'updating'
        ? running(t.acceptedAt)
        : '';
  const version =
    d.previousVersion !== undefined || d.version !== undefined
      ? `${d.previousVersion ?? '?'} → ${d.version ?? '…'}`
      : '';
  return (
    <tr data-testid="device-row" data-endpoint={d.endpoint} data-phase={d.phase}>
      <td class="mono">{d.endpoint}</td>
      <td>
        <span class={`badge ph-${d.phase}`} data-testid="device-phase">
          {d.phase}
        </span>
        {d.deferrals > 0 && <span class="muted small-text"> ({d.deferrals} deferred)</span>}
      </td>
      <td>
        <ProgressBar
          value={devicePercent(d)}
          label={`Image bytes of ${d.endpoint}`}
          testId="device-progress"
          small
        />
        <div class="muted small-text">
          {formatBytes(d.bytes)} / {formatBytes(d.size)}
        </div>
      </td>
      <td class="small-text">
        {d.method ?? ''}
        {d.scheme !== undefined ? ` (${d.scheme})` : ''}
      </td>
      <td>{d.attempts}</td>
      <td class="small-text" data-testid="device-download">
        {download}
      </td>
      <td class="small-text">{t.acceptanceMs !== undefined ? formatLatency(t.acceptanceMs) : ''}</td>
      <td class="small-text">{update}</td>
      <td class="small-text mono" data-testid="device-version">
        {version}
      </td>
      <td class={`small-text${d.phase === 'failed' ? ' err-text' : ''}`} data-testid="device-result">
        {deviceResultText(d)}
      </td>
    </tr>
  );
}

export function CampaignDevices(props: { report: CampaignReport; now: number }) {
  const [filter, setFilter] = useState<DevicePhase>();
  const [offset, setOffset] = useState(0);
  const { items, total } = devicePage(props.report.devices, filter, offset, PAGE_SIZE);
  return (
    <section class="panel" aria-labelledby="campaign-devices-title">
      <div class="panel-head">
        <h2 id="campaign-devices-title">Devices</h2>
        <span class="muted">{total}</span>
        <span class="spacer" />
        <label class="inline">
          Phase
          <select
            value={filter ?? ''}
            onChange={(e) => {
              const v = e.currentTarget.value;
              setFilter(v === '' ? undefined : (v as DevicePhase));
              setOffset(0);
            }}
          >
            <option value="">all</option>
            {DEVICE_PHASES.map((p) => (
              <option key={p} value={p}>
                {p} ({props.report.totals.phases[p] ?? 0})
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="table-wrap">
        <table data-testid="device-table">
          <TableHead columns={COLUMNS} />
          <tbody>
            {items.length === 0 && <TableNote columns={COLUMNS.length}>No device in this phase.</TableNote>}
            {items.map((d) => (
              <DeviceRow key={d.endpoint} device={d} now={props.now} />
            ))}
          </tbody>
        </table>
      </div>
      <Pager offset={offset} limit={PAGE_SIZE} total={total} onOffset={setOffset} />
    </section>
  );
}
