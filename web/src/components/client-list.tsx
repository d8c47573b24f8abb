// The client list: search and filters (GET /api/clients), live via the event stream (a change
// re-fetches; clients that went away stay listed as expired / deregistered), tag editing.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ClientPage, ClientSummary } from '../api-types.js';
import { useConsole, useNow, useServices, useThrottled } from '../context.js';
import type { LiveClient, LiveStatus } from '../lib/console-state.js';
import { relativeTime } from '../lib/format.js';
import { clientSecurityText } from '../lib/security-form.js';
import { parseTags } from '../lib/tags.js';
import { Link } from './link.js';
import { StatusBadge } from './status-badge.js';
import { TagChips, TagEditor } from './tag-editor.js';
import { Pager } from './pager.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';

const PAGE_SIZE = 50;
/** Re-fetch at most this often while registrations change. */
const REFETCH_MS = 500;

type StatusFilter = '' | LiveStatus;

interface Row {
  readonly summary: ClientSummary | undefined;
  readonly endpoint: string;
  readonly status: LiveStatus;
  readonly tags: readonly string[];
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = window.setTimeout(() => setV(value), ms);
    return () => window.clearTimeout(id);
  }, [value, ms]);
  return v;
}

export function ClientList() {
  const { api } = useServices();
  const now = useNow();
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<StatusFilter>('');
  const [version, setVersion] = useState('');
  const [binding, setBinding] = useState('');
  const [tags, setTags] = useState<string[]>([]);
  const [tagText, setTagText] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<ClientPage>();
  const [fetchedAt, setFetchedAt] = useState(0);
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<string>();
  const live = useConsole((s) => s.clients);
  const registrationVersion = useConsole((s) => s.registrationVersion);
  const debouncedSearch = useDebounced(search, 250);
  const trigger = useThrottled(registrationVersion, REFETCH_MS);
  const [reload, setReload] = useState(0);

  const gone = status === 'expired' || status === 'deregistered';
  useEffect(() => {
    let alive = true;
    const started = Date.now();
    api
      .clients({
        search: debouncedSearch.trim(),
        tags,
        status: status === 'awake' || status === 'sleeping' ? status : '',
        version,
        binding: binding.trim(),
        offset,
        limit: PAGE_SIZE,
      })
      .then((p) => {
        if (!alive) return;
        setPage(p);
        setFetchedAt(started);
        setError(undefined);
      })
      .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
  }, [api, debouncedSearch, tags, status, version, binding, offset, trigger, reload]);

  const rows: Row[] = useMemo(() => {
    const listed = new Set<string>();
    const out: Row[] = [];
    if (!gone)
      for (const item of page?.items ?? []) {
        listed.add(item.endpoint);
        const l: LiveClient | undefined = live[item.endpoint];
        // A live event newer than the fetch wins until the re-fetch lands.
        const fresh = l !== undefined && l.lastEventAt > fetchedAt;
        out.push({
          summary: item,
          endpoint: item.endpoint,
          status: fresh ? l.status : item.status,
          tags: fresh && l.tags ? l.tags : item.tags,
        });
      }
    const needle = debouncedSearch.trim().toLowerCase();
    for (const l of Object.values(live)) {
      if (listed.has(l.endpoint) || (l.status !== 'expired' && l.status !== 'deregistered')) continue;
      if (status !== '' && status !== l.status) continue;
      if (needle !== '' && !l.endpoint.toLowerCase().includes(needle)) continue;
      const t = l.tags ?? l.summary?.tags ?? [];
      if (!tags.every((tag) => t.includes(tag))) continue;
      out.push({ summary: l.summary, endpoint: l.endpoint, status: l.status, tags: t });
    }
    return out.sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
  }, [page, live, fetchedAt, gone, status, debouncedSearch, tags]);

  const addTag = (tag: string): void => {
    if (!tags.includes(tag)) setTags([...tags, tag]);
    setOffset(0);
  };
  const parsedTag = parseTags(tagText);

  return (
    <section class="panel" aria-labelledby="clients-title">
      <div class="panel-head">
        <h1 id="clients-title">Clients</h1>
        <span class="muted" data-testid="client-total">
          {page ? `${page.total} registered` : ''}
        </span>
      </div>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            aria-label="Search endpoints"
            placeholder="endpoint name"
            value={search}
            onInput={(e) => {
              setSearch(e.currentTarget.value);
              setOffset(0);
            }}
          />
        </label>
        <label>
          Status
          <select
            aria-label="Filter by status"
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value as StatusFilter);
              setOffset(0);
            }}
          >
            <option value="">any</option>
            <option value="awake">awake</option>
            <option value="sleeping">sleeping</option>
            <option value="expired">expired</option>
            <option value="deregistered">deregistered</option>
          </select>
        </label>
        <label>
          Version
          <select
            aria-label="Filter by LwM2M version"
            value={version}
            onChange={(e) => setVersion(e.currentTarget.value)}
          >
            <option value="">any</option>
            <option value="1.0">1.0</option>
            <option value="1.1">1.1</option>
            <option value="1.2">1.2</option>
          </select>
        </label>
        <label>
          Binding
          <input
            type="text"
            aria-label="Filter by binding"
            placeholder="U, UQ, T…"
            size={6}
            value={binding}
            onInput={(e) => setBinding(e.currentTarget.value)}
          />
        </label>
        <label>
          Tag
          <span class="with-button">
            <input
              type="text"
              aria-label="Add tag filter"
              placeholder="site:paris"
              size={12}
              value={tagText}
              onInput={(e) => setTagText(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && parsedTag.ok && parsedTag.value.length > 0) {
                  e.preventDefault();
                  parsedTag.value.forEach(addTag);
                  setTagText('');
                }
              }}
            />
            <button
              type="button"
              disabled={!parsedTag.ok || parsedTag.value.length === 0}
              onClick={() => {
                if (parsedTag.ok) parsedTag.value.forEach(addTag);
                setTagText('');
              }}
            >
              Add
            </button>
          </span>
        </label>
        {tags.length > 0 && (
          <div class="chips" aria-label="Tag filters">
            {tags.map((t) => (
              <button
                type="button"
                class="chip active"
                key={t}
                aria-label={`Remove tag filter ${t}`}
                onClick={() => setTags(tags.filter((x) => x !== t))}
              >
                {t} ×
              </button>
            ))}
          </div>
        )}
      </form>
      {error && (
        <p class="error" role="alert">
          {error}{' '}
          <button type="button" onClick={() => setReload(reload + 1)}>
            Retry
          </button>
        </p>
      )}
      <div class="table-wrap">
        <table class="clients" data-testid="client-table">
          <TableHead
            columns={[
              'Endpoint',
              'Status',
              'Version',
              'Binding',
              'Last seen',
              'Lifetime',
              'Address',
              'Security',
              'Tags',
            ]}
          />
          <tbody>
            {rows.length === 0 && (
              <TableNote columns={9}>{page ? 'No client matches.' : 'Loading…'}</TableNote>
            )}
            {rows.map((row) => {
              const s = row.summary;
              const lastSeen = s ? Date.parse(s.lastSeen) : NaN;
              return (
                <tr
                  key={row.endpoint}
                  data-testid="client-row"
                  data-endpoint={row.endpoint}
                  class={`row-${row.status}`}
                >
                  <td>
                    <Link
                      to={{ page: 'client', endpoint: row.endpoint }}
                      aria-label={`Open client ${row.endpoint}`}
                    >
                      {row.endpoint}
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={row.status} />
                  </td>
                  <td>{s?.lwm2mVersion ?? ''}</td>
                  <td>
                    {s?.binding ?? ''}
                    {s?.queueMode ? ' (queue)' : ''}
                  </td>
                  <td title={s?.lastSeen}>{Number.isNaN(lastSeen) ? '' : relativeTime(lastSeen, now)}</td>
                  <td title={s?.expiresAt ? `expires ${s.expiresAt}` : undefined}>
                    {s ? (s.lifetime === 0 ? 'never expires' : `${s.lifetime} s`) : ''}
                  </td>
                  <td class="mono">{s?.address ?? ''}</td>
                  <td
                    data-testid="client-security"
                    data-mode={s?.security?.mode}
                    title={s?.security?.identity}
                  >
                    {clientSecurityText(s?.security)}
                  </td>
                  <td>
                    {editing === row.endpoint ? (
                      <TagEditor
                        endpoint={row.endpoint}
                        tags={row.tags}
                        onSaved={() => setReload((n) => n + 1)}
                        onClose={() => setEditing(undefined)}
                      />
                    ) : (
                      <span class="tag-cell">
                        <TagChips tags={row.tags} onPick={addTag} />
                        <button
                          type="button"
                          class="link"
                          aria-label={`Edit tags of ${row.endpoint}`}
                          onClick={() => setEditing(row.endpoint)}
                        >
                          edit
                        </button>
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {page && !gone && (
        <Pager offset={offset} limit={PAGE_SIZE} total={page.total} onOffset={setOffset} label="Pages" />
      )}
    </section>
  );
}
