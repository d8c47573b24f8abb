// The "new campaign" form of the Firmware page as plain text fields, and the body of
// POST /api/firmware/campaigns made from it, checked against the same bounds as the API's schema
// (src/api/firmware-routes.ts) so a mistake is shown beside its field before anything is sent.
import type { CampaignMethod, CampaignSpec, CampaignTargetFilter } from '../api-types.js';

export type TargetMode = 'endpoints' | 'prefix' | 'tags';

export interface CampaignForm {
  readonly image: string;
  readonly name: string;
  readonly targetMode: TargetMode;
  /** Endpoint names, separated by spaces, commas or new lines. */
  readonly endpoints: string;
  readonly prefix: string;
  /** Tags, separated by commas: a device must carry every one. */
  readonly tags: string;
  /** Filters only: devices whose /3/0/3 differs end `skipped`. */
  readonly currentVersion: string;
  readonly method: CampaignMethod;
  /** Empty: the server's default. */
  readonly concurrency: string;
  readonly rate: string;
  readonly retries: string;
  readonly pollInterval: string;
}

export const EMPTY_CAMPAIGN_FORM: CampaignForm = {
  image: '',
  name: '',
  targetMode: 'endpoints',
  endpoints: '',
  prefix: '',
  tags: '',
  currentVersion: '',
  method: 'auto',
  concurrency: '',
  rate: '',
  retries: '',
  pollInterval: '',
};

export type CampaignFormErrors = Partial<Record<keyof CampaignForm, string>>;

export type CampaignFormResult =
  | { readonly ok: true; readonly spec: CampaignSpec }
  | { readonly ok: false; readonly errors: CampaignFormErrors };

const MAX_TARGETS = 100_000;

/** The endpoint names of the list field: split on spaces, commas and line ends, repeats dropped. */
export function splitEndpoints(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((s) => s !== ''))];
}

/** The tags of the tags field: split on commas, trimmed, repeats dropped. */
export function splitTags(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
}

/** A number field: undefined when empty, else the number or the error text. */
function numberField(
  text: string,
  rule: { min: number; max: number; integer: boolean; exclusiveMin?: boolean },
): number | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  if (!Number.isFinite(n)) return 'must be a number';
  if (rule.integer && !Number.isInteger(n)) return 'must be a whole number';
  const low = rule.exclusiveMin ? n <= rule.min : n < rule.min;
  if (low || n > rule.max)
    return rule.exclusiveMin
      ? `must be over ${rule.min} and at most ${rule.max}`
      : `must be ${rule.min} .. ${rule.max}`;
  return n;
}

/** The request body, or the errors by field. */
export function campaignSpec(form: CampaignForm): CampaignFormResult {
  const errors: CampaignFormErrors = {};
  if (!/^[0-9a-f]{64}$/.test(form.image)) errors.image = 'choose an image';
  const name = form.name.trim();
  if (name.length > 200) errors.name = 'at most 200 characters';

  let targets: CampaignSpec['targets'] | undefined;
  if (form.targetMode === 'endpoints') {
    const list = splitEndpoints(form.endpoints);
    if (list.length === 0) errors.endpoints = 'name at least one endpoint';
    else if (list.length > MAX_TARGETS) errors.endpoints = `at most ${MAX_TARGETS} endpoints`;
    else if (list.some((e) => e.length > 1024)) errors.endpoints = 'an endpoint name is over 1024 characters';
    else targets = list;
  } else {
    const filter: { -readonly [K in keyof CampaignTargetFilter]: CampaignTargetFilter[K] } = {};
    if (form.targetMode === 'prefix') {
      // An empty prefix is every registered device, which the API allows on purpose.
      if (form.prefix.length > 1024) errors.prefix = 'at most 1024 characters';
      else filter.endpointPrefix = form.prefix;
    } else {
      const tags = splitTags(form.tags);
      if (tags.length === 0) errors.tags = 'name at least one tag';
      else if (tags.length > 32) errors.tags = 'at most 32 tags';
      else if (tags.some((t) => t.length > 64)) errors.tags = 'a tag is over 64 characters';
      else filter.tags = tags;
    }
    const version = form.currentVersion.trim();
    if (version.length > 255) errors.currentVersion = 'at most 255 characters';
    else if (version !== '') filter.currentVersion = version;
    targets = filter;
  }

  const concurrency = numberField(form.concurrency, { min: 1, max: 10_000, integer: true });
  const rate = numberField(form.rate, { min: 0, max: 100_000, integer: false, exclusiveMin: true });
  const retries = numberField(form.retries, { min: 0, max: 100, integer: true });
  const pollInterval = numberField(form.pollInterval, { min: 1, max: 3_600_000, integer: true });
  if (typeof concurrency === 'string') errors.concurrency = concurrency;
  if (typeof rate === 'string') errors.rate = rate;
  if (typeof retries === 'string') errors.retries = retries;
  if (typeof pollInterval === 'string') errors.pollInterval = pollInterval;

  if (Object.keys(errors).length > 0 || targets === undefined) return { ok: false, errors };
  const num = (v: number | string | undefined): v is number => typeof v === 'number';
  return {
    ok: true,
    spec: {
      image: form.image,
      targets,
      method: form.method,
      ...(name === '' ? {} : { name }),
      ...(num(concurrency) ? { concurrency } : {}),
      ...(num(rate) ? { rate } : {}),
      ...(num(retries) ? { retries } : {}),
      ...(num(pollInterval) ? { pollInterval } : {}),
    },
  };
}

/** Who a campaign targets, in words, from its settings' filter (a list has none). */
export function targetText(filter: CampaignTargetFilter | undefined, devices: number): string {
  const count = `${devices} device${devices === 1 ? '' : 's'}`;
  if (!filter) return `${count} by name`;
  const parts: string[] = [];
  if (filter.endpointPrefix !== undefined)
    parts.push(
      filter.endpointPrefix === '' ? 'every registered device' : `prefix "${filter.endpointPrefix}"`,
    );
  if (filter.tags && filter.tags.length > 0) parts.push(`tags ${filter.tags.join(', ')}`);
  if (filter.currentVersion !== undefined) parts.push(`on version ${filter.currentVersion}`);
  return `${count}: ${parts.join(' · ')}`;
}
