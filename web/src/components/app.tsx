// The console shell: services (API client, live store, model cache), the event stream, routing,
// and the token prompt when the API answers 401.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiClient } from '../api.js';
import { EVENT_TYPES } from '../api-types.js';
import type { ObjectModelInfo, StoredEvent } from '../api-types.js';
import { AppContext } from '../context.js';
import type { AppServices } from '../context.js';
import { consoleReducer, initialState } from '../lib/console-state.js';
import type { ConsoleAction, ConsoleState } from '../lib/console-state.js';
import { parseRoute, routeHref } from '../lib/route.js';
import type { Route } from '../lib/route.js';
import { createStore } from '../lib/store.js';
import type { Store } from '../lib/store.js';
import { loadToken, saveToken } from '../lib/token-store.js';
import { BootstrapPage } from './bootstrap-page.js';
import { ClientList } from './client-list.js';
import { ClientView } from './client-view.js';
import { CampaignView } from './campaign-view.js';
import { FirmwarePage } from './firmware-page.js';
import { Header } from './header.js';
import { Link } from './link.js';
import { SecurityPage } from './security-page.js';
import { ServerView } from './server-view.js';
import { TokenDialog } from './token-dialog.js';

/** Events replayed from the log when the console opens (trace history, recent state changes). */
const SEED_EVENTS = 200;
const RECONNECT_MS = 3000;

/**
 * Keeps one EventSource open on /api/events and folds what it says into the store. The browser
 * reconnects by itself (sending Last-Event-ID); when the stream is closed for good (a 401, the
 * server gone), this reopens it after a pause and probes the API so a 401 reaches the token prompt.
 */
function connectEvents(api: ApiClient, store: Store<ConsoleState, ConsoleAction>): () => void {
  let source: EventSource | undefined;
  let retry: number | undefined;
  let closed = false;
  const onEvent = (e: MessageEvent<string>): void => {
    try {
      const event = JSON.parse(e.data) as StoredEvent;
      if (event && typeof event.type === 'string') store.dispatch({ type: 'event', event });
    } catch {
      // A malformed message is skipped; the next one is independent.
    }
  };
  const open = (): void => {
    if (closed) return;
    store.dispatch({ type: 'connection', state: 'connecting' });
    // Resume after what is already folded in: nothing between the seed (or the last stream) is lost.
    const lastSeq = store.getState().lastSeq;
    const es = new EventSource(api.eventsUrl(seeded ? { lastEventId: lastSeq } : {}));
    source = es;
    for (const type of EVENT_TYPES) es.addEventListener(type, onEvent);
    es.addEventListener('message', onEvent);
    es.onopen = () => store.dispatch({ type: 'connection', state: 'open' });
    es.onerror = () => {
      store.dispatch({ type: 'connection', state: 'error' });
      if (es.readyState !== EventSource.CLOSED || closed) return;
      es.close();
      api.server().catch(() => undefined);
      retry = window.setTimeout(open, RECONNECT_MS);
    };
  };
  let seeded = false;
  api
    .recentEvents({ limit: SEED_EVENTS })
    .then((events) => {
      for (const event of events) store.dispatch({ type: 'event', event });
      seeded = true;
    })
    .catch(() => undefined)
    .finally(open);
  return () => {
    closed = true;
    window.clearTimeout(retry);
    source?.close();
  };
}

export function App() {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.pathname));
  const [token, setToken] = useState<string | undefined>(() => loadToken());
  const [askToken, setAskToken] = useState(false);
  const tokenRef = useRef(token);
  tokenRef.current = token;

  const store = useMemo(() => createStore(consoleReducer, initialState), []);
  const api = useMemo(
    () =>
      new ApiClient({
        getToken: () => tokenRef.current,
        onUnauthorized: () => setAskToken(true),
      }),
    [],
  );
  const models = useMemo(() => new Map<string, Promise<ObjectModelInfo | null>>(), []);
  const model = useCallback(
    (objectId: number, version?: string) => {
      const key = `${objectId}@${version ?? ''}`;
      let p = models.get(key);
      if (!p) {
        p = api.model(objectId, version).catch((e: unknown) => {
          // Only a definite "unknown object" is remembered; other failures are retried next time.
          if ((e as { status?: number }).status !== 404) models.delete(key);
          return null;
        });
        models.set(key, p);
      }
      return p;
    },
    [api, models],
  );

  const navigate = useCallback((next: Route) => {
    const href = routeHref(next);
    if (href !== location.pathname) history.pushState(null, '', href);
    setRoute(next);
    window.scrollTo(0, 0);
  }, []);

  useEffect(() => {
    const onPop = (): void => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  // (Re)connects the event stream whenever the token changes.
  useEffect(() => connectEvents(api, store), [api, store, token]);

  const services: AppServices = useMemo(
    () => ({ api, store, navigate, model }),
    [api, store, navigate, model],
  );

  const onForget = (): void => {
    saveToken(undefined);
    setToken(undefined);
  };

  const onToken = (value: string): void => {
    saveToken(value);
    setToken(value);
    setAskToken(false);
  };

  return (
    <AppContext.Provider value={services}>
      <Header route={route} hasToken={token !== undefined} onForgetToken={onForget} />
      <main id="main" key={token ?? ''}>
        {route.page === 'clients' && <ClientList />}
        {route.page === 'client' && <ClientView endpoint={route.endpoint} key={route.endpoint} />}
        {route.page === 'server' && <ServerView />}
        {route.page === 'security' && <SecurityPage />}
        {route.page === 'bootstrap' && <BootstrapPage />}
        {route.page === 'firmware' && <FirmwarePage />}
        {route.page === 'campaign' && <CampaignView id={route.id} key={route.id} />}
        {route.page === 'not-found' && (
          <section class="panel">
            <h1>Not found</h1>
            <p>
              Nothing lives at <code>{route.path}</code>.{' '}
              <Link to={{ page: 'clients' }}>Back to the clients</Link>
            </p>
          </section>
        )}
      </main>
      {askToken && (
        <TokenDialog hadToken={token !== undefined} onSubmit={onToken} onCancel={() => setAskToken(false)} />
      )}
    </AppContext.Provider>
  );
}
