// Workflow usage (GET /v1/workflows/usage): runs, steps, model tokens and third-party calls summed per
// day, user, kind and outcome. Admins may see everyone's; anyone else sees their own (userId=me), which
// is what the API allows. A chart of records per day and kind, then the rows.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { session } from "../../auth";
import { Show, useAsync } from "../../ui/async";
import { LineChart, type Series } from "../../ui/chart";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import "./ops.css";

const day = (d: Date) => d.toISOString().slice(0, 10);

export default function Usage() {
  const admin = session.has("admin");
  const today = new Date();
  const [range, setRange] = useState({ fromDay: day(new Date(today.getTime() - 6 * 86_400_000)), toDay: day(today), who: admin ? "" : "me" });
  const state = useAsync(
    () => call(api.GET("/v1/workflows/usage", { params: { query: { fromDay: range.fromDay, toDay: range.toDay, userId: range.who || undefined } } })),
    [range.fromDay, range.toDay, range.who],
  );

  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setRange({ fromDay: String(f.get("fromDay")), toDay: String(f.get("toDay")), who: String(f.get("userId") ?? "me") });
  }

  return (
    <Page title="Workflow usage">
      <form class="ops-filters" onSubmit={submit}>
        <Field label="From day" name="fromDay" error={state.error}>
          {(p) => <input {...p} type="date" defaultValue={range.fromDay} required />}
        </Field>
        <Field label="To day" name="toDay" error={state.error}>
          {(p) => <input {...p} type="date" defaultValue={range.toDay} required />}
        </Field>
        <Field label="Whose" name="userId" error={state.error}>
          {(p) => (
            <select {...p} defaultValue={range.who}>
              {admin && <option value="">Everyone in the tenant</option>}
              <option value="me">Mine</option>
            </select>
          )}
        </Field>
        <button type="submit" class="secondary">Show</button>
      </form>
      <Show state={state} isEmpty={(d) => !d.rows?.length} empty="No usage in these days.">
        {(d) => {
          const rows = d.rows ?? [];
          // Every day of the range is a point (0 when nothing was used), so each kind draws a line.
          const days: number[] = [];
          for (let t = Date.parse(`${range.fromDay}T00:00:00Z`); t <= Date.parse(`${range.toDay}T00:00:00Z`) && days.length < 366; t += 86_400_000)
            days.push(t);
          const perKind = new Map<string, Map<number, number>>();
          for (const r of rows) {
            const x = Date.parse(`${r.day}T00:00:00Z`);
            const m = perKind.get(r.kind ?? "?") ?? new Map<number, number>(days.map((d) => [d, 0]));
            m.set(x, (m.get(x) ?? 0) + Number(r.count ?? 0));
            perKind.set(r.kind ?? "?", m);
          }
          const series: Series[] = [...perKind.entries()].map(([kind, m]) => ({
            name: kind,
            kind: m.size > 1 ? "line" : "points",
            points: [...m.entries()].map(([x, y]) => ({ x, y })),
          }));
          const sum = (kind: string, outcome?: string, field: "count" | "units" = "count") =>
            rows.filter((r) => r.kind === kind && (!outcome || r.outcome === outcome)).reduce((n, r) => n + Number(r[field] ?? 0), 0);
          return (
            <>
              <p role="status">
                {sum("run", "started")} runs started ({sum("run", "succeeded")} succeeded, {sum("run", "failed")} failed,{" "}
                {sum("run", "cancelled")} cancelled), {sum("step")} steps, {sum("third_party_call")} third-party calls,{" "}
                {sum("model_tokens", undefined, "units")} model tokens.
              </p>
              <LineChart title="Usage records per day and kind" series={series} xFormat={(x) => new Date(x).toISOString().slice(5, 10)} yLabel="records" />
              <div class="table-scroll">
                <table class="striped">
                  <caption class="visually-hidden">Usage rows</caption>
                  <thead>
                    <tr>
                      <th scope="col">Day</th><th scope="col">User</th><th scope="col">Kind</th><th scope="col">Subject</th>
                      <th scope="col">Outcome</th><th scope="col">Count</th><th scope="col">Units</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={`${r.day}${r.userId}${r.kind}${r.subject}${r.outcome}`}>
                        <td>{r.day}</td><td class="cell-wrap"><code>{r.userId}</code></td><td>{r.kind}</td>
                        <td class="cell-wrap">{r.subject}</td><td>{r.outcome}</td><td>{r.count}</td><td>{r.units}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          );
        }}
      </Show>
    </Page>
  );
}
