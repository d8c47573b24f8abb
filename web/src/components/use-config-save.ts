import { useState } from 'preact/hooks';
import type {
  BootstrapClientView,
  BootstrapConfigBody,
  BootstrapTemplateReferenceBody,
} from '../api-types.js';
import { useServices } from '../context.js';
import { putBootstrapConfig } from '../lib/bootstrap-api.js';
import { splitFieldError } from '../lib/bootstrap-form.js';
import type { FieldError } from '../lib/bootstrap-form.js';
import { errorMessage } from '../lib/error-message.js';

/** A form's check: the errors it found, or the endpoint and body to PUT. */
export type ConfigSaveCheck =
  | { ok: false; errors: readonly FieldError[] }
  | { ok: true; endpoint: string; body: BootstrapConfigBody | BootstrapTemplateReferenceBody };

/**
 * Saving a bootstrap configuration form: `save(check)` shows the check's errors, or PUTs the
 * body (busy meanwhile) and hands the stored view to `onSaved`; the API's 400 is shown as the
 * field it names.
 */
export function useConfigSave(onSaved: (view: BootstrapClientView) => void) {
  const { api } = useServices();
  const [errors, setErrors] = useState<readonly FieldError[]>([]);
  const [busy, setBusy] = useState(false);
  const save = (check: ConfigSaveCheck): void => {
    if (!check.ok) {
      setErrors(check.errors);
      return;
    }
    setBusy(true);
    setErrors([]);
    putBootstrapConfig(api, check.endpoint, check.body)
      .then((view) => onSaved(view))
      .catch((err: unknown) => setErrors([splitFieldError(errorMessage(err))]))
      .finally(() => setBusy(false));
  };
  return { errors, setErrors, busy, save };
}
