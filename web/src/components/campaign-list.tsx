// The campaigns the server keeps (GET /api/firmware/campaigns), newest first, with their status
// and totals; a row opens the campaign.
import type { CampaignSummary } from '../api-types.js';
import { useServices } from '../context.js';
import { percent, phaseCounts } from '../lib/campaign-state.js';
import { clockTime } from '../lib/format.js';
import { CampaignStatusBadge } from './campaign-view.js';
import { ProgressBar } from './progress-bar.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';

const COLUMNS = ['Campaign', 'Status', 'Image', 'Method', 'Created', 'Finished devices', 'Phases'];

export function CampaignList(props: {
  campaigns: readonly CampaignSummary[] | undefined;
  error: string | undefined;
}) {
  const { navigate } = useServices();
  const items = props.campaigns ? [...props.campaigns].sort((a, b) => b.createdAt - a.createdAt) : undefined;
  return (
    <section class="panel" aria-labelledby="fw-campaigns-title" data-testid="campaign-list">
      <div class="panel-head">
        <h2 id="fw-campaigns-title">Campaigns</h2>
        <span class="muted">{items ? items.length : ''}</span>
      </div>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="campaign-table">
          <TableHead columns={COLUMNS} />
          <tbody>
            {items?.length === 0 && <TableNote columns={COLUMNS.length}>No campaign yet.</TableNote>}
            {!items && !props.error && <TableNote columns={COLUMNS.length}>Loading…</TableNote>}
            {items?.map((c) => (
              <tr key={c.id} data-testid="campaign-row" data-campaign={c.id} data-status={c.status}>
                <td>
                  <button
                    type="button"
                    class="link"
                    aria-label={`Open campaign ${c.name ?? c.id}`}
                    onClick={() => navigate({ page: 'campaign', id: c.id })}
                  >
                    {c.name ?? c.id}
                  </button>
                  {c.name !== undefined && <div class="mono small-text muted">{c.id}</div>}
                </td>
                <td>
                  <CampaignStatusBadge status={c.status} />
                </td>
                <td class="small-text">
                  {c.image.version ?? c.image.kind} <span class="mono muted">{c.image.id.slice(0, 10)}…</span>
                </td>
                <td>{c.settings.method}</td>
                <td class="small-text">{clockTime(c.createdAt)}</td>
                <td>
                  <ProgressBar
                    value={percent(c.totals.finished, c.totals.devices)}
                    label={`Devices finished in ${c.name ?? c.id}`}
                    small
                  />
                  <div class="small-text muted">
                    {c.totals.finished} / {c.totals.devices}
                  </div>
                </td>
                <td class="small-text">
                  {phaseCounts(c.totals)
                    .map((p) => `${p.phase} ${p.count}`)
                    .join(' · ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
