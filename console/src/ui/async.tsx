// Loading, empty and error states, the same on every page.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, describe } from "../api/errors";

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload()); a stale answer never overwrites a newer one. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load().then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (error) => mine === seq.current && setState({ error, loading: false }),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(run, [run]);
  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p aria-busy="true" role="status" class="muted">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** An API error in words, with the field violations listed and the correlation id for operators. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  return (
    <div role="alert" class="error-box">
      <strong>{describe(error)}</strong>
      {api && api.violations.length > 0 && (
        <ul>
          {api.violations.map((v) => (
            <li key={v.field}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      )}
      {api?.correlationId && <small class="muted"> Reference: {api.correlationId}</small>}
    </div>
  );
}

/** Renders loading / error / empty / the data, for the usual fetch-then-show page section. */
export function Show<T>({
  state,
  empty,
  isEmpty,
  children,
}: {
  state: AsyncState<T>;
  empty?: ComponentChildren;
  isEmpty?: (d: T) => boolean;
  children: (d: T) => ComponentChildren;
}) {
  if (state.error) return <ErrorBox error={state.error} />;
  if (state.data === undefined) return <Loading />;
  if (empty && isEmpty?.(state.data)) return <Empty>{empty}</Empty>;
  return <>{children(state.data)}</>;
}
