// Asked when the API answers 401: the token goes to localStorage and rides as a Bearer header.
import { useEffect, useRef, useState } from 'preact/hooks';

export function TokenDialog(props: {
  hadToken: boolean;
  onSubmit: (token: string) => void;
  onCancel: () => void;
}) {
  const [value, setValue] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div class="backdrop">
      <form
        class="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="token-title"
        data-testid="token-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim() !== '') props.onSubmit(value.trim());
        }}
        onKeyDown={(e) => e.key === 'Escape' && props.onCancel()}
      >
        <h2 id="token-title">API token needed</h2>
        <p>
          {props.hadToken
            ? 'The server refused the saved token.'
            : 'This Petrel server requires a token for its API.'}{' '}
          It is kept in this browser (localStorage) and sent as <code>Authorization: Bearer</code>.
        </p>
        <label>
          Token
          <input
            ref={input}
            type="password"
            autocomplete="off"
            aria-label="API token"
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </label>
        <div class="actions">
          <button type="submit" class="primary" disabled={value.trim() === ''}>
            Use token
          </button>
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
