// A paginated list: the API's page tokens behind Previous / Next, with the page size a user can
// change. `load(pageToken, pageSize)` returns the rows and the next page token.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { Empty, ErrorBox, Loading, useAsync } from "./async";

export interface PageOf<T> {
  rows: T[];
  next?: string;
}

export function Paged<T>({
  load,
  deps = [],
  empty = "Nothing here yet.",
  caption,
  head,
  row,
}: {
  load: (pageToken: string, pageSize: number) => Promise<PageOf<T>>;
  deps?: unknown[];
  empty?: ComponentChildren;
  caption: string;
  head: ComponentChildren;
  row: (item: T) => ComponentChildren;
}) {
  const [tokens, setTokens] = useState<string[]>([""]);
  const [size, setSize] = useState(20);
  const token = tokens[tokens.length - 1];
  const state = useAsync(() => load(token, size), [token, size, ...deps]);
  // A new filter starts again from the first page.
  const [depsKey, setDepsKey] = useState(JSON.stringify(deps));
  if (JSON.stringify(deps) !== depsKey) {
    setDepsKey(JSON.stringify(deps));
    setTokens([""]);
  }
  return (
    <div class="paged">
      <ErrorBox error={state.error} />
      {state.loading && !state.data && <Loading />}
      {state.data && state.data.rows.length === 0 && <Empty>{empty}</Empty>}
      {state.data && state.data.rows.length > 0 && (
        // A region that scrolls sideways must be reachable by keyboard (axe: scrollable-region-focusable).
        <div class="table-scroll" tabIndex={0} role="region" aria-label={caption}>
          <table class="striped" aria-busy={state.loading ? "true" : undefined}>
            <caption class="visually-hidden">{caption}</caption>
            <thead>{head}</thead>
            <tbody>{state.data.rows.map(row)}</tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label={`${caption} pages`}>
        <button class="secondary" disabled={tokens.length < 2} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous
        </button>
        <span class="muted">Page {tokens.length}</span>
        <button class="secondary" disabled={!state.data?.next} onClick={() => setTokens([...tokens, state.data!.next!])}>
          Next
        </button>
        <label class="page-size">
          Per page
          <select value={size} onChange={(e) => { setSize(Number(e.currentTarget.value)); setTokens([""]); }}>
            {[10, 20, 50, 100].map((n) => (
              <option key={n} value={n}>{n}</option>
            ))}
          </select>
        </label>
      </nav>
    </div>
  );
}
