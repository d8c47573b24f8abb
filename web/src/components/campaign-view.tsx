// One firmware campaign (/firmware/campaigns/{id}): its settings, the total progress, the count of
// devices per phase, devices finished over time, its steps, and every device's phase, bytes,
// timings and result, all live from the progress stream; pause, resume and cancel.
import { useState } from 'preact/hooks';
import type { CampaignReport, CampaignStatus } from '../api-types.js';
import { useNow, useServices } from '../context.js';
import {
  finishedSeries,
  finishedText,
  isLive,
  percent,
  phaseCounts,
  statusLog,
} from '../lib/campaign-state.js';
import { targetText } from '../lib/campaign-form.js';
import { errorMessage } from '../lib/error-message.js';
import { clockTime, formatBytes, formatDuration, formatLatency } from '../lib/format.js';
import { CampaignDevices } from './campaign-devices.js';
import { ConfirmActions } from './confirm-actions.js';
import { LineChart } from './line-chart.js';
import { Link } from './link.js';
import { ProgressBar } from './progress-bar.js';
import { useCampaign } from './use-campaign.js';
import type { StreamState } from './use-campaign.js';

export function CampaignStatusBadge(props: { status: CampaignStatus }) {
  return (
    <span class={`badge fw-${props.status}`} data-testid="campaign-status" data-status={props.status}>
      {props.status}
    </span>
  );
}

const STREAM_TEXT: Record<StreamState, string> = {
  connecting: 'connecting',
  open: 'live',
  ended: 'final',
  error: 'reconnecting',
};

/** The header's live-indicator classes (styles.css: .live-open, .live-connecting, .live-error). */
const STREAM_CLASS: Record<StreamState, string> = {
  connecting: 'connecting',
  open: 'open',
  ended: 'ended',
  error: 'error',
};

function CampaignActions(props: { report: CampaignReport; onReport: (r: CampaignReport) => void }) {
  const { api } = useServices();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const { report } = props;
  const act = (action: 'pause' | 'resume' | 'cancel'): void => {
    setBusy(true);
    setConfirming(false);
    setError(undefined);
    api
      .campaignAction(report.id, action)
      .then(props.onReport)
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  if (report.status === 'completed' || report.status === 'cancelled') return null;
  return (
    <span class="buttons">
      {report.status === 'running' && (
        <button type="button" disabled={busy} onClick={() => act('pause')}>
          Pause
        </button>
      )}
      {report.status === 'paused' && (
        <button type="button" disabled={busy} onClick={() => act('resume')}>
          Resume
        </button>
      )}
      {confirming ? (
        <ConfirmActions
          label="Confirm cancel campaign"
          verb="Cancel campaign"
          onConfirm={() => act('cancel')}
          onCancel={() => setConfirming(false)}
        />
      ) : (
        <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
          Cancel campaign…
        </button>
      )}
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

function CampaignFacts(props: { report: CampaignReport; now: number }) {
  const { report, now } = props;
  const s = report.settings;
  const end = report.finishedAt ?? now;
  const fact = (label: string, value: string, testId?: string) => (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
  return (
    <dl class="facts" data-testid="campaign-facts">
      {fact(
        'Image',
        `${report.image.version ?? report.image.kind} · ${report.image.id.slice(0, 12)}… · ${formatBytes(report.image.size)}`,
      )}
      {fact('Targets', targetText(s.filter, report.totals.devices), 'campaign-targets')}
      {fact('Method', s.method, 'campaign-method')}
      {fact(
        'Concurrency · rate · retries',
        `${s.concurrency} · ${s.rate === null ? 'no limit' : `${s.rate}/s`} · ${s.retries}`,
      )}
      {fact('Created', clockTime(report.createdAt))}
      {fact(
        report.finishedAt === undefined ? 'Running for' : 'Took',
        end - report.createdAt < 60_000
          ? formatLatency(end - report.createdAt)
          : formatDuration((end - report.createdAt) / 1000),
      )}
    </dl>
  );
}

const STEP_TEXT: Record<string, string> = {
  created: 'created',
  paused: 'paused',
  resumed: 'resumed',
  cancelled: 'cancelled',
  completed: 'completed',
  ended: 'last device ended',
};

export function CampaignView(props: { id: string }) {
  const { view, stream, error, apply } = useCampaign(props.id);
  const live = view.report !== undefined && isLive(view.report);
  const now = useNow(live ? 1000 : 60_000);
  const report = view.report;
  if (!report)
    return (
      <section class="panel">
        <h1>Campaign {props.id}</h1>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
        <Link to={{ page: 'firmware' }}>Back to firmware</Link>
      </section>
    );
  const t = report.totals;
  const devicesDone = percent(t.finished, t.devices);
  const bytesDone = percent(t.bytes, t.devices * report.image.size);
  const steps = statusLog(report);
  return (
    <>
      <section
        class="panel"
        aria-labelledby="campaign-title"
        data-testid="campaign-view"
        data-campaign={report.id}
      >
        <div class="panel-head">
          <h1 id="campaign-title">Campaign {report.name ?? report.id}</h1>
          <CampaignStatusBadge status={report.status} />
          <span class={`live live-${STREAM_CLASS[stream]}`} data-testid="campaign-stream" data-state={stream}>
            {STREAM_TEXT[stream]}
          </span>
          <span class="spacer" />
          <CampaignActions report={report} onReport={apply} />
          <Link to={{ page: 'firmware' }}>All campaigns</Link>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <CampaignFacts report={report} now={now} />
        <div class="fw-progress">
          <div>
            <div class="small-text muted">Devices finished</div>
            <ProgressBar value={devicesDone} label="Devices finished" testId="campaign-progress" />
            <div class="small-text" data-testid="campaign-finished">
              {finishedText(t)}
            </div>
          </div>
          <div>
            <div class="small-text muted">Image bytes delivered</div>
            <ProgressBar value={bytesDone} label="Image bytes delivered" testId="campaign-bytes" />
            <div class="small-text">
              {formatBytes(t.bytes)} of {formatBytes(t.devices * report.image.size)}
            </div>
          </div>
        </div>
        <ul class="phase-counts" aria-label="Devices per phase">
          {phaseCounts(t).map(({ phase, count }) => (
            <li
              key={phase}
              class={`badge ph-${phase}`}
              data-testid="phase-count"
              data-phase={phase}
              data-count={count}
            >
              {phase} <b>{count}</b>
            </li>
          ))}
        </ul>
      </section>
      <section class="panel" aria-labelledby="campaign-chart-title">
        <div class="panel-head">
          <h2 id="campaign-chart-title">Devices finished over time</h2>
        </div>
        <figure class="chart-box fw-chart">
          <LineChart
            points={finishedSeries(report)}
            label="Devices finished"
            units="devices"
            path="campaign-finished"
          />
        </figure>
        <ol class="fw-steps small-text" aria-label="Campaign steps" data-testid="campaign-steps">
          {steps.map((e, i) => (
            <li key={`${e.at}-${i}`} data-event={e.event}>
              <span class="mono">{clockTime(e.at)}</span> {STEP_TEXT[e.event] ?? e.event}
            </li>
          ))}
          {report.timelineDropped > 0 && (
            <li class="muted">{report.timelineDropped} older entries dropped</li>
          )}
        </ol>
      </section>
      <CampaignDevices report={report} now={now} />
    </>
  );
}
