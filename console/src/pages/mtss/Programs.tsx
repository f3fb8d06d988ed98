// The school's intervention programs (GET /v1/mtss/interventions): a page at a time in code order,
// found by a piece of their code or name, each linking to its dashboard; and a link to creating one
// from a template.
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { canManage } from "./lib";
import "./mtss.css";

export default function Programs() {
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  // The list follows the search box a moment after typing stops, not on every key.
  useEffect(() => {
    const t = setTimeout(() => setQuery(text.trim()), 250);
    return () => clearTimeout(t);
  }, [text]);

  return (
    <Page title="Intervention programs" actions={canManage() && <a href="/mtss/programs/new" role="button">New program</a>}>
      <label>
        Find by name or code
        <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <Paged
        caption="Programs"
        deps={[query]}
        empty={
          query ? (
            <>No program matches “{query}”.</>
          ) : (
            <>No programs yet.{canManage() && <> <a href="/mtss/programs/new">Create one from a template</a>.</>}</>
          )
        }
        load={async (pageToken, pageSize) => {
          const data = await call(
            api.GET("/v1/mtss/interventions", { params: { query: { query, pageToken, pageSize } } }),
          );
          return { rows: data.interventions ?? [], next: data.nextPageToken };
        }}
        head={
          <tr>
            <th scope="col">Program</th>
            <th scope="col">Code</th>
            <th scope="col">Dates</th>
            <th scope="col">Sessions</th>
          </tr>
        }
        row={(i) => (
          <tr key={i.id}>
            <td><a href={`/mtss/programs/${i.id}`}>{i.name || i.code}</a></td>
            <td><code>{i.code}</code></td>
            <td>{i.beginDate} – {i.endDate}</td>
            <td>{i.sessionCount ?? 0}</td>
          </tr>
        )}
      />
    </Page>
  );
}
