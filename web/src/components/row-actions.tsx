import type { ComponentChildren } from 'preact';
import { ConfirmActions } from './confirm-actions.js';
import { RowButton } from './row-button.js';

/**
 * A table row's buttons, ending in a destructive `verb` that asks first: `Delete dev-1…`, then,
 * while `confirming`, `Confirm delete dev-1` and Cancel in place of all the row's buttons.
 */
export function RowActions(props: {
  /** What the row is, in the buttons' accessible names (`dev-1`, `template sensor`). */
  subject: string;
  verb: string;
  confirming: boolean;
  onAsk: () => void;
  onConfirm: () => void;
  onCancel: () => void;
  /** The row's other buttons, before the destructive one. */
  children?: ComponentChildren;
}) {
  const { subject, verb } = props;
  if (props.confirming)
    return (
      <ConfirmActions
        label={`Confirm ${verb.toLowerCase()} ${subject}`}
        verb={verb}
        onConfirm={props.onConfirm}
        onCancel={props.onCancel}
      />
    );
  return (
    <span class="buttons">
      {props.children}
      <RowButton label={`${verb} ${subject}`} onClick={props.onAsk}>
        {verb}…
      </RowButton>
    </span>
  );
}
