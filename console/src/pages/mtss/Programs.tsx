// The intervention programs: the API can create a program and get one by id, but has no list call, so
// this page lists the programs created or opened in this browser (filterable), opens any other by its
// id (a link from a colleague, an Ed-Fi code lookup is not offered by the API either), and links to
// creating one from a template.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { Empty } from "../../ui/async";
import { Page } from "../../ui/page";
import { canManage, forget, knownPrograms, when } from "./lib";
import "./mtss.css";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default function Programs() {
  const { route } = useLocation();
  const [filter, setFilter] = useState("");
  const [known, setKnown] = useState(knownPrograms());
  const [idError, setIdError] = useState("");
  const shown = known.filter((k) => `${k.name} ${k.code}`.toLowerCase().includes(filter.trim().toLowerCase()));

  function open(e: Event) {
    e.preventDefault();
    const id = String(new FormData(e.currentTarget as HTMLFormElement).get("programId") ?? "").trim();
    if (!UUID.test(id)) {
      setIdError("A program id looks like 3f2a…-…: 36 characters, letters a–f, digits and dashes.");
      return;
    }
    setIdError("");
    route(`/mtss/programs/${id.toLowerCase()}`);
  }

  return (
    <Page title="Intervention programs" actions={canManage() && <a href="/mtss/programs/new" role="button">New program</a>}>
      <p class="muted">
        Programs you created or opened on this device. The API does not list a school's programs yet; open
        another one by its id.
      </p>
      <label>
        Filter by name or code
        <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </label>
      {known.length === 0 ? (
        <Empty>No programs on this device yet.{canManage() && <> <a href="/mtss/programs/new">Create one from a template</a>.</>}</Empty>
      ) : shown.length === 0 ? (
        <Empty>No program matches “{filter}”.</Empty>
      ) : (
        <div class="table-scroll">
          <table class="striped">
            <caption class="visually-hidden">Programs</caption>
            <thead>
              <tr>
                <th scope="col">Program</th>
                <th scope="col">Code</th>
                <th scope="col">Last opened</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {shown.map((k) => (
                <tr key={k.id}>
                  <td><a href={`/mtss/programs/${k.id}`}>{k.name || k.code}</a></td>
                  <td><code>{k.code}</code></td>
                  <td>{when(k.seen, Intl.DateTimeFormat().resolvedOptions().timeZone)}</td>
                  <td>
                    <button
                      class="secondary outline small"
                      aria-label={`Remove ${k.name || k.code} from this list`}
                      onClick={() => { forget(k.id); setKnown(knownPrograms()); }}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form onSubmit={open} class="inline-form">
        <label for="program-id">
          Open a program by id
          <input
            id="program-id"
            name="programId"
            autocomplete="off"
            spellcheck={false}
            aria-invalid={idError ? "true" : undefined}
            aria-describedby={idError ? "program-id-error" : undefined}
          />
          {idError && <small id="program-id-error" class="field-error">{idError}</small>}
        </label>
        <button type="submit" class="secondary">Open</button>
      </form>
    </Page>
  );
}
