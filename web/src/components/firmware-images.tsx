// The firmware repository (GET/POST/DELETE /api/firmware/images): every image with what its
// manifest says (a Petrel package: name, version, vendor, device class, signed), an upload from a
// file, a delete that asks first, and "New campaign" to start one with that image.
import { useRef, useState } from 'preact/hooks';
import type { FirmwareImage } from '../api-types.js';
import { useServices } from '../context.js';
import { errorMessage } from '../lib/error-message.js';
import { clockTime, formatBytes } from '../lib/format.js';
import { RowActions } from './row-actions.js';
import { RowButton } from './row-button.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';
import { useConfirmedRemove } from './use-confirmed-remove.js';

const COLUMNS = ['Image', 'Name', 'Version', 'Size', 'Kind', 'Signed', 'Vendor', 'Class', 'Added'];

/** What the images table calls an image: its label, else its package name, else its short id. */
export const imageTitle = (i: FirmwareImage): string => i.label ?? i.name ?? `${i.id.slice(0, 12)}…`;

export function FirmwareImages(props: {
  images: readonly FirmwareImage[] | undefined;
  error: string | undefined;
  onChanged: () => void;
  onCampaign: (image: FirmwareImage) => void;
}) {
  const { api } = useServices();
  const fileRef = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string }>();
  const { confirming, setConfirming, error, remove } = useConfirmedRemove(
    (id) => api.deleteFirmwareImage(id),
    props.onChanged,
  );

  const upload = (file: File): void => {
    setBusy(true);
    setStatus(undefined);
    api
      .uploadFirmwareImage(file, file.name.slice(0, 200))
      .then((info) => {
        setStatus({
          ok: true,
          text: `Added ${imageTitle(info)}${info.version ? ` ${info.version}` : ''} (${formatBytes(info.size)}).`,
        });
        props.onChanged();
      })
      .catch((e: unknown) =>
        setStatus({ ok: false, text: `Upload of ${file.name} failed: ${errorMessage(e)}` }),
      )
      .finally(() => {
        setBusy(false);
        if (fileRef.current) fileRef.current.value = '';
      });
  };

  const images = props.images;
  return (
    <section class="panel" aria-labelledby="fw-images-title" data-testid="firmware-images">
      <div class="panel-head">
        <h1 id="fw-images-title">Firmware images</h1>
        <span class="muted">{images ? images.length : ''}</span>
        <span class="spacer" />
        <label class="inline">
          Upload image
          <input
            ref={fileRef}
            type="file"
            disabled={busy}
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              if (file) upload(file);
            }}
          />
        </label>
      </div>
      {status && (
        <p
          class={status.ok ? 'ok-text' : 'error'}
          role={status.ok ? 'status' : 'alert'}
          data-testid="upload-status"
        >
          {status.text}
        </p>
      )}
      {(props.error ?? error) && (
        <p class="error" role="alert">
          {props.error ?? error}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="image-table">
          <TableHead columns={COLUMNS} hidden="Actions" />
          <tbody>
            {images?.length === 0 && (
              <TableNote columns={COLUMNS.length + 1}>
                No image yet: upload a plain image or a Petrel package.
              </TableNote>
            )}
            {!images && !props.error && <TableNote columns={COLUMNS.length + 1}>Loading…</TableNote>}
            {images?.map((i) => (
              <tr key={i.id} data-testid="image-row" data-image={i.id}>
                <td>
                  <div>{i.label ?? ''}</div>
                  <div class="mono small-text muted" title={i.id}>
                    {i.id.slice(0, 16)}…
                  </div>
                </td>
                <td data-testid="image-name">{i.name ?? ''}</td>
                <td data-testid="image-version">{i.version ?? ''}</td>
                <td data-testid="image-size" title={`${i.size} bytes`}>
                  {formatBytes(i.size)}
                </td>
                <td>{i.kind}</td>
                <td data-testid="image-signed">{i.kind === 'package' ? (i.signed ? 'yes' : 'no') : ''}</td>
                <td>{i.vendor ?? ''}</td>
                <td>{i.deviceClass ?? ''}</td>
                <td class="small-text">{clockTime(i.addedAt)}</td>
                <td>
                  <RowActions
                    subject={`image ${imageTitle(i)}`}
                    verb="Delete"
                    confirming={confirming === i.id}
                    onAsk={() => setConfirming(i.id)}
                    onConfirm={() => remove(i.id)}
                    onCancel={() => setConfirming(undefined)}
                  >
                    <RowButton
                      label={`New campaign with ${imageTitle(i)}`}
                      onClick={() => props.onCampaign(i)}
                    >
                      New campaign
                    </RowButton>
                  </RowActions>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
