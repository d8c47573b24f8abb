// The top bar: navigation, the server's counts and rates (/api/server, polled), the event stream state.
import { useEffect, useState } from 'preact/hooks';
import type { ServerInfo } from '../api-types.js';
import { useConsole, useServices, useThrottled } from '../context.js';
import { formatRate } from '../lib/format.js';
import type { Route } from '../lib/route.js';
import { Link } from './link.js';

const POLL_MS = 5000;

/** Polls /api/server; re-polls sooner when registrations change. */
export function useServerInfo(): { info: ServerInfo | undefined; error: string | undefined } {
  const { api } = useServices();
  const version = useThrottled(
    useConsole((s) => s.registrationVersion),
    1000,
  );
  const [info, setInfo] = useState<ServerInfo>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    const load = (): void => {
      api
        .server()
        .then((i) => {
          if (!alive) return;
          setInfo(i);
          setError(undefined);
        })
        .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    };
    load();
    const id = window.setInterval(load, POLL_MS);
    return () => {
      alive = false;
      window.clearInterval(id);
    };
  }, [api, version]);
  return { info, error };
}

export function Header(props: { route: Route; hasToken: boolean; onForgetToken: () => void }) {
  const { info, error } = useServerInfo();
  const connection = useConsole((s) => s.connection);
  const page = props.route.page;
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Link to={{ page: 'clients' }} class="brand" aria-label="Petrel console home">
        Petrel
      </Link>
      <nav aria-label="Main">
        <Link
          to={{ page: 'clients' }}
          aria-current={page === 'clients' || page === 'client' ? 'page' : undefined}
        >
          Clients
        </Link>
        <Link to={{ page: 'server' }} aria-current={page === 'server' ? 'page' : undefined}>
          Server
        </Link>
        <Link to={{ page: 'security' }} aria-current={page === 'security' ? 'page' : undefined}>
          Security
        </Link>
        <Link to={{ page: 'bootstrap' }} aria-current={page === 'bootstrap' ? 'page' : undefined}>
          Bootstrap
        </Link>
        <Link
          to={{ page: 'firmware' }}
          aria-current={page === 'firmware' || page === 'campaign' ? 'page' : undefined}
        >
          Firmware
        </Link>
      </nav>
      <div class="stats" data-testid="server-stats" aria-live="off">
        {info ? (
          <>
            <span title="registered clients">
              <b data-testid="count-registrations">{info.counts.registrations}</b> clients
            </span>
            <span title="awake clients">
              <b>{info.counts.awake}</b> awake
            </span>
            <span title="sleeping (queue mode) clients">
              <b>{info.counts.sleeping}</b> sleeping
            </span>
            <span title="active observations">
              <b>{info.counts.observations}</b> obs.
            </span>
            <span title="requests per second (last 10 s)">
              <b>{formatRate(info.rates.requestsPerS)}</b> req/s
            </span>
            <span title="uplinks per second (last 10 s)">
              <b>{formatRate(info.rates.uplinksPerS)}</b> up/s
            </span>
            <span title="notifications per second (last 10 s)">
              <b>{formatRate(info.rates.notificationsPerS)}</b> notif/s
            </span>
          </>
        ) : (
          <span class="muted">{error ?? 'loading…'}</span>
        )}
      </div>
      <span
        class={`live live-${connection}`}
        data-testid="event-stream"
        data-state={connection}
        title={`live events: ${connection}`}
      >
        {connection === 'open' ? 'live' : connection === 'connecting' ? 'connecting' : 'offline'}
      </span>
      {props.hasToken && (
        <button type="button" class="link" onClick={props.onForgetToken}>
          Forget token
        </button>
      )}
    </header>
  );
}
