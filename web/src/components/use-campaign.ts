// One campaign, live: its report, then its progress stream (GET /api/firmware/campaigns/{id}/events,
// read with fetch so a bearer token can be sent) folded in by campaignViewReducer. The stream
// reports phase changes only, so while a device downloads the report is polled too, for its byte
// count; the poll also stands in while the stream is down.
import { useCallback, useEffect, useReducer, useState } from 'preact/hooks';
import type { CampaignEvent, CampaignReport } from '../api-types.js';
import { ApiError } from '../api.js';
import { useServices } from '../context.js';
import { EMPTY_CAMPAIGN_VIEW, campaignViewReducer, isLive } from '../lib/campaign-state.js';
import type { CampaignView } from '../lib/campaign-state.js';
import { errorMessage } from '../lib/error-message.js';
import { SseParser } from '../lib/sse-parser.js';

const RECONNECT_MS = 3000;
/** Events are folded in at most this often (one copy of the device list per batch). */
const BATCH_MS = 150;
export const POLL_MS = 1500;

export type StreamState = 'connecting' | 'open' | 'ended' | 'error';

export function useCampaign(id: string): {
  view: CampaignView;
  stream: StreamState;
  error: string | undefined;
  /** Folds in a report (an action's answer). */
  apply: (report: CampaignReport) => void;
} {
  const { api } = useServices();
  const [view, dispatch] = useReducer(campaignViewReducer, EMPTY_CAMPAIGN_VIEW);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [error, setError] = useState<string>();
  const apply = useCallback((report: CampaignReport) => dispatch({ type: 'report', report }), []);

  useEffect(() => {
    const ctrl = new AbortController();
    let pending: CampaignEvent[] = [];
    let flushTimer: number | undefined;
    let retry: number | undefined;
    const flush = (): void => {
      window.clearTimeout(flushTimer);
      flushTimer = undefined;
      if (pending.length === 0) return;
      const events = pending;
      pending = [];
      dispatch({ type: 'events', events });
    };
    const onMessage = (event: string, data: string): void => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        return; // a malformed message is skipped; the next one is independent
      }
      if (event === 'snapshot') {
        flush();
        dispatch({ type: 'report', report: parsed as CampaignReport });
        setError(undefined);
      } else if (event === 'device' || event === 'status') {
        pending.push(parsed as CampaignEvent);
        flushTimer ??= window.setTimeout(flush, BATCH_MS);
      }
    };
    const connect = async (): Promise<void> => {
      setStream('connecting');
      const parser = new SseParser();
      try {
        const res = await api.campaignEvents(id, ctrl.signal);
        setStream('open');
        const body = res.body;
        if (!body) throw new ApiError(0, 'NETWORK', 'the event stream has no body');
        const reader = body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(decoder.decode(value, { stream: true }))) onMessage(m.event, m.data);
        }
        flush();
      } catch (e) {
        if (ctrl.signal.aborted) return;
        flush();
        if (e instanceof ApiError && e.status === 404) {
          setError(errorMessage(e));
          setStream('ended');
          return;
        }
      }
      if (ctrl.signal.aborted) return;
      // The server ends the stream once the campaign completes or is cancelled: the report says
      // whether devices are still ending (a cancelled campaign's running updates).
      const report = await api.firmwareCampaign(id).catch((e: unknown) => {
        if (!ctrl.signal.aborted) setError(errorMessage(e));
        return undefined;
      });
      if (ctrl.signal.aborted) return;
      if (report) dispatch({ type: 'report', report });
      if (report && !isLive(report)) {
        setStream('ended');
        return;
      }
      setStream('error');
      retry = window.setTimeout(() => void connect(), RECONNECT_MS);
    };
    void connect();
    return () => {
      ctrl.abort();
      window.clearTimeout(retry);
      window.clearTimeout(flushTimer);
    };
  }, [api, id]);

  const report = view.report;
  const poll =
    report !== undefined &&
    isLive(report) &&
    (stream === 'error' || (report.totals.phases.downloading ?? 0) > 0);
  useEffect(() => {
    if (!poll) return;
    let alive = true;
    const timer = window.setInterval(() => {
      api
        .firmwareCampaign(id)
        .then((r) => alive && dispatch({ type: 'report', report: r }))
        .catch(() => undefined);
    }, POLL_MS);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [api, id, poll]);

  return { view, stream, error, apply };
}
