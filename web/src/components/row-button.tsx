import type { ComponentChildren } from 'preact';

/** A small button named for the row or item it acts on (`Edit dev-1`). */
export function RowButton(props: { label: string; onClick: () => void; children: ComponentChildren }) {
  return (
    <button type="button" class="small" aria-label={props.label} onClick={props.onClick}>
      {props.children}
    </button>
  );
}
