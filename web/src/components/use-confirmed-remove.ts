import { useState } from 'preact/hooks';
import { errorMessage } from '../lib/error-message.js';

/**
 * The state of a table's two-step remove: which row is asking for its confirm, the last
 * failure, and `remove(key)`, which calls `request` and on success clears both and tells
 * `onRemoved`; a failure is kept to be shown and the row stays asking.
 */
export function useConfirmedRemove(
  request: (key: string) => Promise<unknown>,
  onRemoved: (key: string) => void,
) {
  const [confirming, setConfirming] = useState<string>();
  const [error, setError] = useState<string>();
  const remove = (key: string): void => {
    request(key)
      .then(() => {
        setConfirming(undefined);
        setError(undefined);
        onRemoved(key);
      })
      .catch((e: unknown) => setError(errorMessage(e)));
  };
  return { confirming, setConfirming, error, remove };
}
