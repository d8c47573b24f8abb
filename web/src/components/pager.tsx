/**
 * Previous / Next over a paged list, with the range shown ("11–20 of 42"); nothing when one page
 * holds everything. `label` makes it a navigation landmark (the client list); without it, a
 * plain block with a muted range.
 */
export function Pager(props: {
  offset: number;
  limit: number;
  total: number;
  onOffset: (offset: number) => void;
  label?: string;
}) {
  const { offset, limit, total, onOffset, label } = props;
  if (total <= limit) return null;
  const controls = [
    <button
      key="prev"
      type="button"
      disabled={offset === 0}
      onClick={() => onOffset(Math.max(0, offset - limit))}
    >
      Previous
    </button>,
    <span key="range" class={label === undefined ? 'muted' : undefined}>
      {offset + 1}–{Math.min(total, offset + limit)} of {total}
    </span>,
    <button
      key="next"
      type="button"
      disabled={offset + limit >= total}
      onClick={() => onOffset(offset + limit)}
    >
      Next
    </button>,
  ];
  return label === undefined ? (
    <div class="pager">{controls}</div>
  ) : (
    <nav class="pager" aria-label={label}>
      {controls}
    </nav>
  );
}
