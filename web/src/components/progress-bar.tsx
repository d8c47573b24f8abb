/** A labelled progress bar (0 .. 100) with its percentage beside it. */
export function ProgressBar(props: { value: number; label: string; testId?: string; small?: boolean }) {
  const value = Math.max(0, Math.min(100, Math.round(props.value)));
  return (
    <span class={`progress-line${props.small ? ' small' : ''}`}>
      <span
        class="progress"
        role="progressbar"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value}
        data-testid={props.testId}
        data-value={value}
      >
        <span class={`progress-fill${value === 100 ? ' done' : ''}`} style={{ width: `${value}%` }} />
      </span>
      <span class="progress-text">{value}%</span>
    </span>
  );
}
