// Tags an operator puts on endpoints (src/store/tag-store.ts): 1-64 printable characters without
// spaces or commas, at most 32 per endpoint.
import type { Parsed } from './value-input.js';

export const TAG_PATTERN = /^[\x21-\x2b\x2d-\x7e]{1,64}$/;
export const MAX_TAGS = 32;

/** Text typed by the operator (`site:paris, beta fw-2`) -> distinct tags in order, or why not. */
export function parseTags(text: string): Parsed<string[]> {
  const parts = text.split(/[\s,]+/).filter((p) => p !== '');
  const tags: string[] = [];
  for (const p of parts) {
    if (!TAG_PATTERN.test(p))
      return { ok: false, error: `"${p.slice(0, 70)}" is not a valid tag (1-64 printable characters)` };
    if (!tags.includes(p)) tags.push(p);
  }
  if (tags.length > MAX_TAGS) return { ok: false, error: `at most ${MAX_TAGS} tags` };
  return { ok: true, value: tags };
}
