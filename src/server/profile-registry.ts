import { LinkPayloadError, parseRegistrationPayload } from '../model/registration-payload.js';
import type { RegistrationPayload } from '../model/registration-payload.js';
import type { Link } from '../model/link-format.js';
import { OperationError } from '../operations/result-code.js';

export interface ProfileRegistryOptions {
  /** Pre-configured profiles (`oma:…`, `v:…`), each an object list in link format (`</3/0>,</5>`). */
  readonly profiles?: Readonly<Record<string, string>>;
  /** Most dynamic profiles remembered; the oldest learnt is forgotten first. Default 10000. */
  readonly maxLearnt?: number;
}

const isDynamic = (pid: string): boolean => /^[0-9]+:/.test(pid);

/**
 * Profile IDs (Core §6.2.1, Identifiers-001..004): a Register may give its object list by
 * reference. Pre-configured ids come from configuration; dynamic ids (`suite:hash`) are learnt
 * from a registration that carried the id together with the full list. The hash has no canonical
 * input, so it is a cache key only: never recomputed, never checked.
 */
export class ProfileRegistry {
  readonly #preconfigured = new Map<string, readonly Link[]>();
  readonly #learnt = new Map<string, readonly Link[]>();
  readonly #maxLearnt: number;

  constructor(options: ProfileRegistryOptions = {}) {
    for (const [pid, text] of Object.entries(options.profiles ?? {})) {
      const payload = parseRegistrationPayload(text);
      this.#preconfigured.set(pid, objectLinks(payload));
    }
    this.#maxLearnt = options.maxLearnt ?? 10_000;
  }

  /** The links a profile id stands for, or undefined when unknown. A learnt id in use stays fresh. */
  lookup(pid: string): readonly Link[] | undefined {
    const pre = this.#preconfigured.get(pid);
    if (pre) return pre;
    const learnt = this.#learnt.get(pid);
    if (learnt) {
      // Least recently used goes first when the table is full: move this one to the end.
      this.#learnt.delete(pid);
      this.#learnt.set(pid, learnt);
    }
    return learnt;
  }

  get learntCount(): number {
    return this.#learnt.size;
  }

  /**
   * The object list of a Register or Update: the payload's links plus those of every pid, in that
   * order (duplicates dropped). A single unknown dynamic pid sent with a payload is learnt from it
   * (a known one is never relearnt: the payload may then be partial, e.g. only `</>;ct=…`). Any
   * other pid the server does not know → 4.09 (the client must re-Register with the full list).
   */
  resolve(
    profileIds: readonly string[],
    payload: RegistrationPayload | undefined,
  ): RegistrationPayload | undefined {
    if (profileIds.length === 0) return payload;
    const [only] = profileIds;
    if (
      profileIds.length === 1 &&
      only !== undefined &&
      payload !== undefined &&
      isDynamic(only) &&
      this.lookup(only) === undefined
    ) {
      this.#learn(only, objectLinks(payload));
      return payload;
    }
    const links: Link[] = payload ? [...payload.links] : [];
    const seen = new Set(links.map((l) => l.target));
    for (const pid of profileIds) {
      const known = this.lookup(pid);
      if (known === undefined)
        throw new OperationError(
          'unknown-profile',
          '4.09',
          `unknown Profile ID "${pid}": send the full object list`,
        );
      for (const link of known) {
        const target =
          payload?.alternatePath === undefined ? link.target : payload.alternatePath + link.target;
        if (seen.has(target)) continue;
        seen.add(target);
        links.push(target === link.target ? link : { ...link, target });
      }
    }
    try {
      return parseRegistrationPayload(links);
    } catch (e) {
      if (!(e instanceof LinkPayloadError)) throw e;
      // e.g. a profile and the payload declare different versions of one object.
      throw new OperationError(
        'bad-payload',
        '4.00',
        `the object list and its Profile IDs disagree: ${e.message}`,
        {
          cause: e,
        },
      );
    }
  }

  #learn(pid: string, links: readonly Link[]): void {
    this.#learnt.delete(pid);
    this.#learnt.set(pid, links);
    while (this.#learnt.size > this.#maxLearnt) {
      const oldest = this.#learnt.keys().next().value;
      if (oldest === undefined) break;
      this.#learnt.delete(oldest);
    }
  }
}

/** The object and instance links of a payload, relative to `/` (no root link, no alternate path). */
function objectLinks(payload: RegistrationPayload): Link[] {
  const alt = payload.alternatePath ?? '';
  const out: Link[] = [];
  for (const link of payload.links) {
    if (link.target === '/' || (alt !== '' && link.target === alt)) continue;
    out.push(
      alt !== '' && link.target.startsWith(alt + '/')
        ? { ...link, target: link.target.slice(alt.length) }
        : link,
    );
  }
  return out;
}
