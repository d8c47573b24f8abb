import type { LiveStatus } from '../lib/console-state.js';

export function StatusBadge(props: { status: LiveStatus }) {
  return (
    <span class={`badge status-${props.status}`} data-testid="client-status">
      {props.status}
    </span>
  );
}
