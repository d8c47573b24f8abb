// The Firmware page: the image repository, the "new campaign" form and the campaigns (their list
// has no event stream, so it is polled while a campaign may still change and the page is shown).
// A server without firmware (no `--firmware-dir`) answers 404: the page says so.
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { CampaignReport, CampaignSummary, FirmwareImage } from '../api-types.js';
import { ApiError } from '../api.js';
import { useServices } from '../context.js';
import { isLive } from '../lib/campaign-state.js';
import { EMPTY_CAMPAIGN_FORM } from '../lib/campaign-form.js';
import type { CampaignForm } from '../lib/campaign-form.js';
import { errorMessage } from '../lib/error-message.js';
import { useVisible } from './bootstrap-sessions.js';
import { CampaignList } from './campaign-list.js';
import { FirmwareImages } from './firmware-images.js';
import { NewCampaignForm } from './new-campaign-form.js';

const LIST_POLL_MS = 3000;

export function FirmwarePage() {
  const { api, navigate } = useServices();
  const visible = useVisible();
  const [images, setImages] = useState<FirmwareImage[]>();
  const [imagesError, setImagesError] = useState<string>();
  const [campaigns, setCampaigns] = useState<CampaignSummary[]>();
  const [campaignsError, setCampaignsError] = useState<string>();
  const [disabled, setDisabled] = useState(false);
  const [form, setForm] = useState<CampaignForm>(EMPTY_CAMPAIGN_FORM);

  const loadImages = useCallback(() => {
    api
      .firmwareImages()
      .then((list) => {
        setImages(list);
        setImagesError(undefined);
        setDisabled(false);
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) setDisabled(true);
        else setImagesError(errorMessage(e));
      });
  }, [api]);

  const loadCampaigns = useCallback(() => {
    api
      .firmwareCampaigns()
      .then((list) => {
        setCampaigns(list);
        setCampaignsError(undefined);
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.status === 404)) setCampaignsError(errorMessage(e));
      });
  }, [api]);

  useEffect(() => {
    loadImages();
    loadCampaigns();
  }, [loadImages, loadCampaigns]);

  const anyLive = campaigns?.some((c) => isLive(c)) ?? false;
  useEffect(() => {
    if (!visible || !anyLive) return;
    const id = window.setInterval(loadCampaigns, LIST_POLL_MS);
    return () => window.clearInterval(id);
  }, [visible, anyLive, loadCampaigns]);

  if (disabled)
    return (
      <section class="panel">
        <h1>Firmware</h1>
        <p class="muted" data-testid="firmware-disabled">
          This server runs no firmware repository: start it with <code>--firmware-dir</code> (or give{' '}
          <code>createApiServer</code> the <code>firmware</code> option).
        </p>
      </section>
    );

  const onCreated = (report: CampaignReport): void => {
    setForm(EMPTY_CAMPAIGN_FORM);
    navigate({ page: 'campaign', id: report.id });
  };

  return (
    <>
      <FirmwareImages
        images={images}
        error={imagesError}
        onChanged={loadImages}
        onCampaign={(image) => {
          setForm({ ...form, image: image.id });
          document.getElementById('fw-new-title')?.scrollIntoView();
        }}
      />
      <NewCampaignForm images={images ?? []} form={form} onForm={setForm} onCreated={onCreated} />
      <CampaignList campaigns={campaigns} error={campaignsError} />
    </>
  );
}
