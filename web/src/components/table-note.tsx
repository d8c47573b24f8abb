import type { ComponentChildren } from 'preact';

/** A table body row across all `columns` that says the table is empty or still loading. */
export function TableNote(props: { columns: number; children: ComponentChildren }) {
  return (
    <tr>
      <td colSpan={props.columns} class="empty">
        {props.children}
      </td>
    </tr>
  );
}
