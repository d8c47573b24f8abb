// "Send to bootstrap" in a configuration's detail: a reason (reconfigure, rotate the PSK,
// unbootstrap), a confirm for the reasons that change credentials or accounts, then
// POST /api/bootstrap/clients/{ep}/trigger and its answer in words, or the API's error beside it.
import { useState } from 'preact/hooks';
import type { BootstrapReason, BootstrapTriggerResponse } from '../api-types.js';
import { ApiError } from '../api.js';
import { useServices } from '../context.js';
import { triggerBootstrap } from '../lib/bootstrap-api.js';
import {
  REASON_CHOICES,
  confirmText,
  describeTrigger,
  reasonChoice,
  triggerBody,
} from '../lib/bootstrap-trigger.js';
import { errorMessage } from '../lib/error-message.js';

export function BootstrapTrigger(props: {
  endpoint: string;
  onSent?: (answer: BootstrapTriggerResponse) => void;
}) {
  const { api } = useServices();
  const [reason, setReason] = useState<BootstrapReason>('reconfigure');
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<BootstrapTriggerResponse>();
  const [error, setError] = useState<{ code: string; text: string }>();
  const choice = reasonChoice(reason);

  const send = (): void => {
    setConfirming(false);
    setBusy(true);
    setError(undefined);
    setAnswer(undefined);
    triggerBootstrap(api, props.endpoint, triggerBody(reason))
      .then((a) => {
        setAnswer(a);
        props.onSent?.(a);
      })
      .catch((e: unknown) =>
        setError({ code: e instanceof ApiError ? e.code : 'ERROR', text: errorMessage(e) }),
      )
      .finally(() => setBusy(false));
  };

  return (
    <div class="bs-trigger" data-testid="bootstrap-trigger">
      <h3>Send to bootstrap</h3>
      <div class="buttons">
        <label class="inline">
          Reason
          <select
            aria-label="Bootstrap reason"
            value={reason}
            disabled={busy}
            onChange={(e) => {
              setReason(e.currentTarget.value as BootstrapReason);
              setConfirming(false);
            }}
          >
            {REASON_CHOICES.map((c) => (
              <option key={c.reason} value={c.reason}>
                {c.label} — {c.description}
              </option>
            ))}
          </select>
        </label>
        {!confirming && (
          <button
            type="button"
            disabled={busy}
            onClick={() => (choice.confirm ? setConfirming(true) : send())}
          >
            {choice.confirm ? 'Send to bootstrap…' : 'Send to bootstrap'}
          </button>
        )}
      </div>
      {confirming && (
        <div class="notice" role="alertdialog" aria-label="Confirm" data-testid="trigger-confirm">
          <p>{confirmText(reason, props.endpoint)}</p>
          <div class="buttons">
            <button type="button" class="danger" onClick={send}>
              {`Confirm ${choice.label}`}
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {busy && <p class="muted small-text">sending…</p>}
      {answer && (
        <div role="status" data-testid="trigger-result" data-reason={answer.reason}>
          {describeTrigger(answer).map((line) => (
            <p key={line}>{line}</p>
          ))}
        </div>
      )}
      {error && (
        <p class="error" role="alert" data-testid="trigger-error" data-code={error.code}>
          {error.text}
        </p>
      )}
    </div>
  );
}
