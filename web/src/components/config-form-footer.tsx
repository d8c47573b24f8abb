import type { FieldError } from '../lib/bootstrap-form.js';

/**
 * The end of a bootstrap configuration form: Save, Cancel (editing) or Clear (new) and the
 * errors the form could not place beside a field, each with the field it names.
 */
export function ConfigFormFooter(props: {
  busy: boolean;
  editing: boolean;
  errors: readonly FieldError[];
  onReset: () => void;
}) {
  const { errors } = props;
  return (
    <>
      <div class="buttons">
        <button type="submit" class="primary" disabled={props.busy}>
          Save configuration
        </button>
        <button type="button" onClick={props.onReset}>
          {props.editing ? 'Cancel' : 'Clear'}
        </button>
      </div>
      {errors.length > 0 && (
        <ul class="error bs-errors" role="alert" data-testid="form-errors">
          {errors.map((e, i) => (
            <li key={i}>{e.field === '' ? e.message : `${e.field}: ${e.message}`}</li>
          ))}
        </ul>
      )}
    </>
  );
}
