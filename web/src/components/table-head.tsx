/** A table's column headers; `hidden` names a last column for screen readers only (row actions). */
export function TableHead(props: { columns: readonly string[]; hidden?: string }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {props.hidden !== undefined && (
          <th scope="col">
            <span class="sr-only">{props.hidden}</span>
          </th>
        )}
      </tr>
    </thead>
  );
}
