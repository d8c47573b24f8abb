import { InvalidPathError, LwM2mPath } from '../model/path.js';
import { ApiError } from './api-errors.js';

/**
 * The URL grammar after `/api/clients/{ep}/` (docs/rest-api.md "Paths"):
 *
 *   [prefix/]ids…[/action]
 *
 * - `action` is a trailing `execute`, `discover`, `attributes` or `observe`: LwM2M ids are numbers,
 *   so these words are never path segments.
 * - The first segment after `{ep}` may be a gateway prefix (Gateway TS: text, not an id). The words
 *   `composite`, `observations` and `tags` are taken by routes there, so such a prefix is written
 *   with a leading `~` (`~tags/3/0`); a prefix that itself starts with `~` gets one more (`~~x`).
 *   `~` always escapes: `~x` is the prefix `x`.
 */

export const API_ACTIONS = Object.freeze(['execute', 'discover', 'attributes', 'observe'] as const);
export type ApiAction = (typeof API_ACTIONS)[number];

export const RESERVED_WORDS = Object.freeze(['composite', 'observations', 'tags'] as const);

const ACTION_SET: ReadonlySet<string> = new Set(API_ACTIONS);
const RESERVED_SET: ReadonlySet<string> = new Set(RESERVED_WORDS);
const ESCAPE = '~';
// The longest suffix worth parsing: a prefix plus four ids plus an action, with room to spare.
const MAX_SUFFIX = 512;

export interface ApiPath {
  readonly path: LwM2mPath;
  readonly action: ApiAction | undefined;
}

export function isApiAction(word: string): word is ApiAction {
  return ACTION_SET.has(word);
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function badPath(message: string, cause?: unknown): ApiError {
  return new ApiError('BAD_PATH', message, cause === undefined ? undefined : { cause });
}

/** Parses the (already URL-decoded) suffix after `{ep}/`. Throws ApiError BAD_PATH. */
export function parseApiPath(suffix: string): ApiPath {
  if (suffix.length > MAX_SUFFIX) throw badPath(`path is longer than ${MAX_SUFFIX} characters`);
  const segments = suffix.split('/');
  let action: ApiAction | undefined;
  const last = segments[segments.length - 1]!;
  if (isApiAction(last)) {
    action = last;
    segments.pop();
  }
  if (segments.length === 0 || (segments.length === 1 && segments[0] === ''))
    throw badPath(
      action === undefined
        ? 'no LwM2M path after the endpoint (e.g. /3/0/9)'
        : `no LwM2M path before /${action} (e.g. /3/0/9/${action})`,
    );
  const first = segments[0]!;
  if (first.startsWith(ESCAPE)) {
    const prefix = first.slice(1);
    // Only a gateway prefix is escaped: a number or nothing after `~` names no prefix.
    if (!/^[A-Za-z_~.-][A-Za-z0-9_~.-]*$/.test(prefix))
      throw badPath(`"${clip(first)}": "~" escapes a gateway prefix, and "${clip(prefix)}" is not one`);
    segments[0] = prefix;
  } else if (RESERVED_SET.has(first)) {
    throw badPath(
      `"${first}" is a reserved word after the endpoint; write a gateway prefix of that name as "~${first}"`,
    );
  }
  const text = `/${segments.join('/')}`;
  try {
    return { path: LwM2mPath.parse(text), action };
  } catch (e) {
    if (e instanceof InvalidPathError) throw badPath(e.message, e);
    throw e;
  }
}

/** The URL suffix of a path and action (what parseApiPath reads back), without a leading `/`. */
export function formatApiPath(path: LwM2mPath, action?: ApiAction): string {
  const segments: string[] = [];
  const { prefix } = path;
  if (prefix !== undefined) {
    // A lone prefix named like an action would read as the action.
    const escape =
      prefix.startsWith(ESCAPE) || RESERVED_SET.has(prefix) || (path.ids.length === 0 && isApiAction(prefix));
    segments.push(escape ? ESCAPE + prefix : prefix);
  }
  for (const id of path.ids) segments.push(String(id));
  if (action !== undefined) segments.push(action);
  return segments.join('/');
}
