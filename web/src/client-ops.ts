// What the parts of a client page share: the endpoint, the operation runner (which records each
// result and folds returned values into the live state), the composite selection, the model.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { OperationOutcome, ResourceModel } from './api-types.js';
import type { ResultEntry } from './components/operation-result.js';

export interface RunOptions {
  /** Append numeric values to the chart series (observe). */
  readonly chart?: boolean;
  /** Re-read the client's registration afterwards (create, delete). */
  readonly refresh?: boolean;
  /** Re-list the observations afterwards. */
  readonly observations?: boolean;
}

export interface ClientOps {
  readonly endpoint: string;
  readonly lwm2mVersion: string;
  /** Content format name for reads/writes/observes; '' lets the server choose. */
  readonly format: string;
  run(
    operation: string,
    paths: readonly string[],
    call: () => Promise<OperationOutcome>,
    options?: RunOptions,
  ): Promise<ResultEntry>;
  readonly selected: ReadonlySet<string>;
  toggle(path: string): void;
  /** The model of the resource at a path (`/3/0/9`, `/3/0/7/1`), once its object's model is loaded. */
  resource(path: string): ResourceModel | undefined;
}

export const ClientOpsContext = createContext<ClientOps | null>(null);

export function useClientOps(): ClientOps {
  const ops = useContext(ClientOpsContext);
  if (!ops) throw new Error('ClientOpsContext missing');
  return ops;
}
