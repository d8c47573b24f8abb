import { TagError, quote } from './store-errors.js';
import { MAX_TAGS, TAG_PATTERN } from './tag-store.js';

/**
 * The tag list a TagStore stores for `tags`: duplicates dropped (first place kept), every tag
 * checked against TAG_PATTERN and the count against MAX_TAGS. Throws TagError naming the first
 * offending tag and why; nothing is stored then.
 */
export function normalizeTags(endpoint: string, tags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const tag of tags) {
    const why = tagProblem(tag);
    if (why !== undefined)
      throw new TagError(`tag ${typeof tag === 'string' ? quote(tag) : String(tag)} ${why}`, String(tag));
    out.add(tag);
    if (out.size > MAX_TAGS)
      throw new TagError(`endpoint ${quote(endpoint)} would carry more than ${MAX_TAGS} distinct tags`);
  }
  return [...out];
}

/** Why a tag breaks TAG_PATTERN, or undefined when it does not. */
function tagProblem(tag: unknown): string | undefined {
  if (typeof tag !== 'string') return 'is not a string';
  if (TAG_PATTERN.test(tag)) return undefined;
  if (tag.length === 0) return 'is empty';
  if (tag.length > 64) return `is ${tag.length} characters long, at most 64`;
  if (/[ ,]/.test(tag)) return 'contains a space or a comma (they separate tags in queries)';
  return 'contains a character outside printable ASCII (! to ~)';
}
