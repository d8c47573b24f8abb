// Edits an endpoint's tags in place (PUT /api/clients/{ep}/tags).
import { useState } from 'preact/hooks';
import { useServices } from '../context.js';
import { parseTags } from '../lib/tags.js';

export function TagChips(props: { tags: readonly string[]; onPick?: (tag: string) => void }) {
  if (props.tags.length === 0) return <span class="muted">no tags</span>;
  return (
    <span class="chips">
      {props.tags.map((t) =>
        props.onPick ? (
          <button
            type="button"
            class="chip"
            key={t}
            title={`filter by ${t}`}
            onClick={() => props.onPick?.(t)}
          >
            {t}
          </button>
        ) : (
          <span class="chip" key={t}>
            {t}
          </span>
        ),
      )}
    </span>
  );
}

export function TagEditor(props: {
  endpoint: string;
  tags: readonly string[];
  onSaved: (tags: readonly string[]) => void;
  onClose: () => void;
}) {
  const { api } = useServices();
  const [text, setText] = useState(props.tags.join(' '));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const parsed = parseTags(text);
  return (
    <form
      class="inline-form"
      data-testid="tag-editor"
      onSubmit={(e) => {
        e.preventDefault();
        if (!parsed.ok) return;
        setBusy(true);
        api
          .setTags(props.endpoint, parsed.value)
          .then((r) => {
            props.onSaved(r.tags);
            props.onClose();
          })
          .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
          .finally(() => setBusy(false));
      }}
    >
      <input
        type="text"
        aria-label={`Tags of ${props.endpoint}`}
        placeholder="site:paris beta"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        aria-invalid={!parsed.ok}
      />
      <button
        type="submit"
        class="primary"
        disabled={!parsed.ok || busy}
        aria-label={`Save tags of ${props.endpoint}`}
      >
        Save
      </button>
      <button type="button" onClick={props.onClose}>
        Cancel
      </button>
      {!parsed.ok && <span class="error">{parsed.error}</span>}
      {error && <span class="error">{error}</span>}
    </form>
  );
}
