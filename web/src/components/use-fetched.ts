import { useEffect, useState } from 'preact/hooks';
import type { Inputs } from 'preact/hooks';
import { errorMessage } from '../lib/error-message.js';

/**
 * What `load` gives, fetched again whenever `inputs` change; a failure is kept as text (the
 * last value stays) and cleared by the next success. An answer that comes after the inputs
 * changed, or after unmount, is dropped.
 */
export function useFetched<T>(
  load: () => Promise<T>,
  inputs: Inputs,
): { value: T | undefined; error: string | undefined } {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    load()
      .then((v) => {
        if (!alive) return;
        setValue(v);
        setError(undefined);
      })
      .catch((e: unknown) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, inputs);
  return { value, error };
}
