/** The confirm step of a destructive row action: the action again, named by `label`, and Cancel. */
export function ConfirmActions(props: {
  /** The accessible name of the confirming button, e.g. `Confirm delete dev-1`. */
  label: string;
  /** Its text, e.g. `Delete`. */
  verb: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <span class="buttons">
      <button type="button" class="danger small" aria-label={props.label} onClick={props.onConfirm}>
        {props.verb}
      </button>
      <button type="button" class="small" onClick={props.onCancel}>
        Cancel
      </button>
    </span>
  );
}
