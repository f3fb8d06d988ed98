// Alert settings: what notify lets an admin change — quiet hours per user (GET/PUT
// /v1/notify/quietHours) and message templates (GET /v1/notify/templates/{name}, POST
// /v1/notify/templates for a new version, :preview to see it rendered) — and, read-only, the alert
// thresholds and where each severity goes. Thresholds have no API: they are Prometheus rules
// (deploy/prometheus/rules.yml), read here from the file this console was built with.
import { useState } from "preact/hooks";
import rulesYaml from "../../../../deploy/prometheus/rules.yml?raw";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { Badge, when } from "./common";
import "./admin.css";

type QuietHours = components["schemas"]["learnflow.notify.v1.QuietHours"];
type Template = components["schemas"]["learnflow.notify.v1.Template"];
type Preview = components["schemas"]["learnflow.notify.v1.RenderPreviewResponse"];

export interface AlertRule {
  name: string;
  expr: string;
  for: string;
  severity: string;
  summary: string;
}

/** The alerting rules of a Prometheus rules file: enough of YAML for its fixed shape (name, expr —
 * one line or a `|` block —, for, labels.severity, annotations.summary). */
export function parseRules(text: string): AlertRule[] {
  const rules: AlertRule[] = [];
  const lines = text.split("\n");
  let rule: AlertRule | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const alert = /^\s*- alert:\s*(\S+)/.exec(line);
    if (alert) {
      rule = { name: alert[1], expr: "", for: "", severity: "", summary: "" };
      rules.push(rule);
      continue;
    }
    if (!rule) continue;
    const kv = /^(\s*)(expr|for|severity|summary):\s*(.*)$/.exec(line);
    if (!kv) continue;
    const [, indent, key, raw] = kv;
    let value = raw.trim();
    if (value === "|" || value === ">") {
      const block: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === "" || lines[i + 1].search(/\S/) > indent.length)) {
        block.push(lines[++i].trim());
      }
      value = block.filter(Boolean).join(" ");
    }
    value = value.replace(/^"(.*)"$/, "$1");
    rule[key as "expr" | "for" | "severity" | "summary"] = value;
  }
  return rules;
}

const SEVERITY_CHANNEL: Record<string, string> = { warning: "Slack", critical: "PagerDuty" };

function QuietHoursForm() {
  const [userId, setUserId] = useState("");
  const [hours, setHours] = useState<QuietHours | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");

  async function load(e?: Event) {
    e?.preventDefault();
    setError(null);
    setNote("");
    try {
      setHours(await call(api.GET("/v1/notify/quietHours", { params: { query: { userId: userId || undefined } } })));
    } catch (err) {
      setError(err);
    }
  }

  async function save(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setError(null);
    setNote("");
    try {
      const saved = await call(
        api.PUT("/v1/notify/quietHours", {
          body: {
            userId: hours?.userId || userId || undefined,
            start: String(f.get("start") ?? ""),
            end: String(f.get("end") ?? ""),
            timeZone: String(f.get("timeZone") ?? "").trim() || undefined,
            enabled: f.get("enabled") === "on",
          },
        }),
      );
      setHours(saved);
      setNote(saved.enabled ? `Quiet hours saved: ${saved.start}–${saved.end}.` : "Quiet hours are off.");
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="quiet-heading">
      <h2 id="quiet-heading">Quiet hours</h2>
      <p class="muted">Inside a user's quiet hours, messages that are not critical wait and go out as one digest when the window ends.</p>
      <form onSubmit={load} class="inline-add" aria-label="Whose quiet hours">
        <label>
          User id (empty: your own)
          <input value={userId} onInput={(e) => setUserId(e.currentTarget.value.trim())} />
        </label>
        <button type="submit" class="secondary small">Show</button>
      </form>
      {hours && (
        <form onSubmit={save} aria-label="Quiet hours" key={`${hours.userId}-${hours.start}-${hours.end}-${hours.enabled}`}>
          <div class="grid compact">
            <Field label="From (HH:MM)" name="start" error={error}>
              {(p) => <input {...p} type="time" defaultValue={hours.start || "21:00"} required />}
            </Field>
            <Field label="Until (HH:MM)" name="end" error={error}>
              {(p) => <input {...p} type="time" defaultValue={hours.end || "07:00"} required />}
            </Field>
            <Field label="Time zone" name="timeZone" error={error} hint="Empty: the user's own">
              {(p) => <input {...p} defaultValue={hours.timeZone ?? ""} placeholder="Europe/Paris" />}
            </Field>
          </div>
          <label>
            <input type="checkbox" name="enabled" role="switch" defaultChecked={hours.enabled ?? false} /> Quiet hours on
          </label>
          <button type="submit">Save quiet hours</button>
        </form>
      )}
      <ErrorBox error={error} />
      {note && <p role="status" class="ok-text">{note}</p>}
    </section>
  );
}

function Templates() {
  const [name, setName] = useState("interventions.message");
  const [template, setTemplate] = useState<Template | null>(null);
  const [subject, setSubject] = useState("");
  const [body, setBody] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");
  const [preview, setPreview] = useState<Preview | null>(null);
  const [channel, setChannel] = useState("in_app");

  async function open(e: Event) {
    e.preventDefault();
    setError(null);
    setNote("");
    setPreview(null);
    try {
      const t = await call(api.GET("/v1/notify/templates/{name}", { params: { path: { name } } }));
      setTemplate(t);
      setSubject(t.subject ?? "");
      setBody(t.body ?? "");
    } catch (err) {
      setTemplate(null);
      setError(err);
    }
  }

  async function save() {
    setError(null);
    setNote("");
    try {
      const t = await call(api.POST("/v1/notify/templates", { body: { name, subject, body } }));
      setTemplate(t);
      setNote(`Version ${t.version} of “${t.name}” saved; new messages use it.`);
    } catch (err) {
      setError(err);
    }
  }

  async function showPreview() {
    setError(null);
    setPreview(null);
    // Every variable the template names must be given: fill each with its own name, visibly.
    const vars = [...new Set([...`${subject}\n${body}`.matchAll(/{{\s*([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1]))];
    try {
      setPreview(
        await call(
          api.POST("/v1/notify/templates/{template}:preview", {
            params: { path: { template: name } },
            body: { channel, variables: vars.map((v) => ({ name: v, value: `[${v}]` })) },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="templates-heading">
      <h2 id="templates-heading">Message templates</h2>
      <p class="muted">Templates are Jinja (<code>{"{{ student_name }}"}</code>); saving adds a version, and each message records the version it used. The API reads a template by its name (there is no list of names).</p>
      <form onSubmit={open} class="inline-add" aria-label="Open a template">
        <label>
          Template name
          <input value={name} required pattern="[a-z0-9][a-z0-9._-]*" onInput={(e) => setName(e.currentTarget.value.trim())} />
        </label>
        <button type="submit" class="secondary small">Open</button>
      </form>
      {template && (
        <div>
          <p>
            <Badge>version {template.version}</Badge> <span class="muted">saved {when(template.createTime)}</span>
          </p>
          <Field label="Subject" name="subject" error={error}>
            {(p) => <input {...p} value={subject} onInput={(e) => setSubject(e.currentTarget.value)} />}
          </Field>
          <Field label="Body" name="body" error={error}>
            {(p) => <textarea {...p} class="mono" rows={6} value={body} onInput={(e) => setBody(e.currentTarget.value)} />}
          </Field>
          <div class="button-row">
            <button type="button" onClick={() => void save()}>Save as a new version</button>
            <label class="page-size">
              Channel
              <select value={channel} onChange={(e) => setChannel(e.currentTarget.value)}>
                {["in_app", "moodle", "email", "zulip", "slack"].map((c) => <option key={c} value={c}>{c}</option>)}
              </select>
            </label>
            <button type="button" class="secondary" onClick={() => void showPreview()}>Preview the saved version</button>
          </div>
          {preview && (
            <article aria-label="Preview">
              <header><strong>{preview.subject}</strong> <small class="muted">version {preview.templateVersion}, {preview.bodyFormat}, {preview.length}/{preview.maxLength} characters</small></header>
              <p class="pre">{preview.body}</p>
            </article>
          )}
        </div>
      )}
      <ErrorBox error={error} />
      {note && <p role="status" class="ok-text">{note}</p>}
    </section>
  );
}

function Thresholds() {
  const rules = parseRules(rulesYaml);
  return (
    <section aria-labelledby="thresholds-heading">
      <h2 id="thresholds-heading">Alert thresholds (read-only)</h2>
      <p class="muted">
        The thresholds are Prometheus alerting rules (<code>deploy/prometheus/rules.yml</code>), deployed with the platform; no
        API changes them. Warnings go to Slack, critical alerts to PagerDuty (Alertmanager's routes). Shown as this console was built.
      </p>
      <div class="table-scroll">
        <table class="striped">
          <caption class="visually-hidden">Alerting rules</caption>
          <thead>
            <tr><th scope="col">Alert</th><th scope="col">Fires when</th><th scope="col">For</th><th scope="col">Severity → channel</th></tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.name}>
                <td><strong>{r.name}</strong><br /><small class="muted">{r.summary.replace(/{{[^}]*}}/g, "…")}</small></td>
                <td><code class="small-pre">{r.expr}</code></td>
                <td>{r.for || "at once"}</td>
                <td><Badge tone={r.severity === "critical" ? "bad" : "warn"}>{r.severity}</Badge> → {SEVERITY_CHANNEL[r.severity] ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export default function Alerts() {
  return (
    <Page title="Alert settings">
      <QuietHoursForm />
      <Templates />
      <Thresholds />
    </Page>
  );
}
