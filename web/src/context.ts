// What every component reaches: the API client, the live state store, navigation, the model cache.
import { createContext } from 'preact';
import { useContext, useEffect, useReducer, useRef, useState } from 'preact/hooks';
import type { ApiClient } from './api.js';
import type { ObjectModelInfo } from './api-types.js';
import type { ConsoleAction, ConsoleState } from './lib/console-state.js';
import type { Route } from './lib/route.js';
import type { Store } from './lib/store.js';

export interface AppServices {
  readonly api: ApiClient;
  readonly store: Store<ConsoleState, ConsoleAction>;
  readonly navigate: (route: Route) => void;
  /** The model of an object (at a version), fetched once; null when the server does not know it. */
  readonly model: (objectId: number, version?: string) => Promise<ObjectModelInfo | null>;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const services = useContext(AppContext);
  if (!services) throw new Error('AppContext missing');
  return services;
}

/** A slice of the live state; the component re-renders when the slice changes (Object.is). */
export function useConsole<T>(selector: (state: ConsoleState) => T): T {
  const { store } = useServices();
  const [, force] = useReducer((n: number) => n + 1, 0);
  const selectorRef = useRef(selector);
  selectorRef.current = selector;
  const value = selector(store.getState());
  const lastRef = useRef(value);
  lastRef.current = value;
  useEffect(
    () =>
      store.subscribe(() => {
        if (!Object.is(selectorRef.current(store.getState()), lastRef.current)) force(0);
      }),
    [store],
  );
  return value;
}

/**
 * `value`, passed on at most once per `ms` (the latest one; the first change after a quiet spell
 * at once). Bursts of events (a fleet registering, notifications) then cost one re-fetch per `ms`.
 */
export function useThrottled<T>(value: T, ms: number): T {
  const [out, setOut] = useState(value);
  const latest = useRef(value);
  latest.current = value;
  const last = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => {
    if (Object.is(value, out) || timer.current !== undefined) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      last.current = Date.now();
      setOut(latest.current);
    }, wait);
  }, [value, out, ms]);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return out;
}

/** The current time, refreshed every `everyMs` (relative times in lists). */
export function useNow(everyMs = 5000): number {
  const [now, setNow] = useReducer((_: number, n: number) => n, Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(id);
  }, [everyMs]);
  return now;
}
