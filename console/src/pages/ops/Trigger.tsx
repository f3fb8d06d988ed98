// Trigger a workflow: pick a template (GET /v1/workflows/templates), fill its inputs as a form, and
// POST /v1/workflows/runs; then the run's own page watches it. The template list names only the
// required inputs, so optional ones (research_to_docs' difficulty) go in "More inputs" as key=value
// lines. An idempotency key made once per form keeps a double click from starting two runs.
import { useLocation } from "preact-iso";
import { useMemo, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { ApiError } from "../../api/errors";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";

/** "key=value" lines into a map; a line without "=" is a mistake the user should see. */
function parseExtra(text: string): { input: Record<string, string>; bad: string | null } {
  const input: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { input, bad: line };
    input[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return { input, bad: null };
}

/** A random idempotency key. crypto.randomUUID exists only in secure contexts (https, localhost);
 * getRandomValues everywhere, so a console served over plain http on a LAN address still works. */
function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export default function Trigger() {
  const { route } = useLocation();
  const templates = useAsync(() => call(api.GET("/v1/workflows/templates")), []);
  const [chosen, setChosen] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const key = useMemo(newKey, [chosen]);

  async function submit(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const template = String(form.get("template") ?? "");
    const extra = parseExtra(String(form.get("extra") ?? ""));
    if (extra.bad !== null) {
      setError(new ApiError(400, { message: "Some inputs are not valid.", details: [{ fieldViolations: [{ field: "extra", description: `"${extra.bad}" is not key=value` }] }] }));
      return;
    }
    const input: Record<string, string> = { ...extra.input };
    for (const [k, v] of form.entries()) {
      if (k.startsWith("input.")) input[k.slice(6)] = String(v);
    }
    setBusy(true);
    setError(null);
    try {
      const run = await call(api.POST("/v1/workflows/runs", { body: { template, input, idempotencyKey: key } }));
      route(`/ops/workflows/runs/${encodeURIComponent(run.runId ?? "")}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title="Trigger a workflow">
      <Show state={templates} isEmpty={(d) => !d.templates?.length} empty="This service has no templates.">
        {(d) => {
          const list = d.templates ?? [];
          const current = list.find((t) => t.name === chosen) ?? list[0]!;
          return (
            <form onSubmit={submit}>
              <Field label="Template" name="template" error={error}>
                {(p) => (
                  <select {...p} value={current.name} onChange={(e) => setChosen(e.currentTarget.value)}>
                    {list.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
                  </select>
                )}
              </Field>
              <p class="muted">
                {current.description}
                {current.description && !current.description.endsWith(".") ? "." : ""} Steps: {(current.stepIds ?? []).join(" → ")}. Version {current.version}.
              </p>
              {(current.requiredInputs ?? []).map((name) => (
                <Field key={`${current.name}-${name}`} label={name.replace(/_/g, " ")} name={`input.${name}`} error={error}>
                  {(p) => <input {...p} required maxLength={500} />}
                </Field>
              ))}
              <Field label="More inputs (optional)" name="extra" error={error} hint="One key=value a line, e.g. difficulty=beginner">
                {(p) => <textarea {...p} rows={2} class="mono" spellcheck={false} />}
              </Field>
              <ErrorBox error={error} />
              <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Start the run</button>
            </form>
          );
        }}
      </Show>
    </Page>
  );
}
