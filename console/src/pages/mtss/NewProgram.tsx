// A new program from a template (GET /v1/mtss/templates, POST /v1/mtss/interventions). The template
// fills the name, dosage, schedule and measure; the objectives, the owner and the schedule are the
// creator's to state (docs/mtss.md), so the form asks for them and shows the API's violation next to
// each field it names. A double booking of a room or facilitator is refused before anything is stored.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, call } from "../../api/client";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { session } from "../../auth";
import { todayIn, users, type Intervention, type Template, type User } from "./lib";
import "./mtss.css";

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const label = (u: User) => u.displayName || u.email;

export default function NewProgram() {
  const { route } = useLocation();
  const state = useAsync(
    async () => {
      const [t, u] = await Promise.all([call(api.GET("/v1/mtss/templates")), users()]);
      return { templates: t.templates ?? [], people: [...u.values()] };
    },
    [],
  );
  const [pick, setPick] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [owner, setOwner] = useState(session.user?.id ?? "");

  return (
    <Page title="New intervention program">
      <Show state={state} isEmpty={(d) => d.templates.length === 0} empty="The API offers no program templates.">
        {({ templates, people }) => {
          const chosen: Template = templates.find((t) => `${t.key}@${t.version}` === pick) ?? templates[0];
          const owners = people.filter((u) => u.roles.some((r) => r === "ROLE_TEACHER" || r === "ROLE_ADMIN"));
          const helpers = people.filter((u) =>
            u.roles.some((r) => r === "ROLE_FACILITATOR" || r === "ROLE_TEACHER" || r === "ROLE_ADMIN"),
          );
          const today = todayIn(browserZone);
          const end = addDays(today, 7 * (chosen.weeks || 12) - 1);

          async function submit(e: Event) {
            e.preventDefault();
            const f = new FormData(e.currentTarget as HTMLFormElement);
            const text = (k: string) => String(f.get(k) ?? "").trim();
            const num = (k: string) => (text(k) === "" ? undefined : Number(text(k)));
            const objectives = text("objectives").split("\n").map((s) => s.trim()).filter(Boolean);
            const body: Intervention = {
              templateKey: chosen.key,
              templateVersion: chosen.version,
              name: text("name"),
              objectives,
              targetPopulation: text("targetPopulation"),
              ownerId: text("ownerId"),
              facilitatorIds: f.getAll("facilitatorIds").map(String),
              room: text("room"),
              goal: { measure: text("measure"), baseline: num("baseline") ?? 0, target: num("target") ?? 0, goalDate: text("goalDate") },
              minutesPerWeek: num("minutesPerWeek"),
              beginDate: text("beginDate"),
              endDate: text("endDate"),
              schedule: text("rrule")
                ? {
                    rrule: text("rrule"),
                    startTime: text("startTime"),
                    durationMinutes: num("durationMinutes"),
                    timeZone: text("timeZone"),
                  }
                : undefined,
            };
            setBusy(true);
            setError(null);
            try {
              const made = await call(
                api.POST("/v1/mtss/interventions", {
                  body: { intervention: body, useTemplateObjectives: f.get("useTemplateObjectives") === "on" },
                }),
              );
              route(`/mtss/programs/${made.id}`);
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }

          return (
            <form onSubmit={submit} key={pick}>
              <Field label="Template" name="templateKey" error={error}>
                {(p) => (
                  <select {...p} value={`${chosen.key}@${chosen.version}`} onChange={(e) => setPick(e.currentTarget.value)}>
                    {templates.map((t) => (
                      <option key={`${t.key}@${t.version}`} value={`${t.key}@${t.version}`}>
                        {t.name} (v{t.version}) · {t.minutesPerWeek} min/week · {t.weeks} weeks
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <p class="muted">
                {chosen.interventionClass} · {chosen.deliveryMethod} · measure: {chosen.measure}
                {chosen.exitCriteria?.pointsAtGoal
                  ? ` · exit after ${chosen.exitCriteria.pointsAtGoal} scores at goal and ${chosen.exitCriteria.minWeeks} weeks`
                  : ""}
              </p>
              <fieldset>
                <legend>The program</legend>
                <Field label="Name" name="name" error={error} hint="Empty: the template's name.">
                  {(p) => <input {...p} maxLength={200} placeholder={chosen.name} />}
                </Field>
                <Field label="Objectives, one a line" name="objectives" error={error}>
                  {(p) => <textarea {...p} rows={3} placeholder={(chosen.objectives ?? []).join("\n")} />}
                </Field>
                <label>
                  <input type="checkbox" name="useTemplateObjectives" /> Use the template's objectives
                </label>
                <Field label="Target population" name="targetPopulation" error={error}>
                  {(p) => <input {...p} maxLength={2000} placeholder="Year 3 readers below benchmark" />}
                </Field>
                <Field label="Owner" name="ownerId" error={error}>
                  {(p) => (
                    <select {...p} value={owner} onChange={(e) => setOwner(e.currentTarget.value)}>
                      <option value="">Choose the person responsible</option>
                      {owners.map((u) => <option key={u.id} value={u.id}>{label(u)}</option>)}
                    </select>
                  )}
                </Field>
                <fieldset>
                  <legend>Facilitators (sessions go to the first)</legend>
                  {helpers.map((u) => (
                    <label key={u.id}>
                      <input type="checkbox" name="facilitatorIds" value={u.id} /> {label(u)}
                    </label>
                  ))}
                </fieldset>
                <Field label="Room" name="room" error={error}>
                  {(p) => <input {...p} maxLength={200} />}
                </Field>
              </fieldset>
              <fieldset>
                <legend>Schedule</legend>
                <div class="grid-2">
                  <Field label="Begins" name="beginDate" error={error}>
                    {(p) => <input {...p} type="date" defaultValue={today} />}
                  </Field>
                  <Field label="Ends" name="endDate" error={error}>
                    {(p) => <input {...p} type="date" defaultValue={end} />}
                  </Field>
                </div>
                <Field label="Repeats (RFC 5545 rule)" name="rrule" error={error} hint="e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR">
                  {(p) => <input {...p} defaultValue={chosen.rrule} class="mono" spellcheck={false} />}
                </Field>
                <div class="grid-2">
                  <Field label="Starts at" name="startTime" error={error}>
                    {(p) => <input {...p} type="time" defaultValue={chosen.startTime} />}
                  </Field>
                  <Field label="Minutes per session" name="durationMinutes" error={error}>
                    {(p) => <input {...p} type="number" min={5} max={480} defaultValue={chosen.durationMinutes} />}
                  </Field>
                </div>
                <div class="grid-2">
                  <Field label="School time zone" name="timeZone" error={error}>
                    {(p) => <input {...p} defaultValue={browserZone} />}
                  </Field>
                  <Field label="Minutes per week (dosage)" name="minutesPerWeek" error={error}>
                    {(p) => <input {...p} type="number" min={0} max={3000} defaultValue={chosen.minutesPerWeek} />}
                  </Field>
                </div>
              </fieldset>
              <fieldset>
                <legend>Goal</legend>
                <Field label="Measure" name="measure" error={error}>
                  {(p) => <input {...p} placeholder={chosen.measure} />}
                </Field>
                <div class="grid-2">
                  <Field label="Baseline" name="baseline" error={error}>
                    {(p) => <input {...p} type="number" step="any" />}
                  </Field>
                  <Field label="Target" name="target" error={error}>
                    {(p) => <input {...p} type="number" step="any" />}
                  </Field>
                </div>
                <Field label="Goal date" name="goalDate" error={error}>
                  {(p) => <input {...p} type="date" defaultValue={end} />}
                </Field>
              </fieldset>
              <ErrorBox error={error} />
              <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Create program</button>
            </form>
          );
        }}
      </Show>
    </Page>
  );
}
