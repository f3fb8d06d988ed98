import { useState } from "preact/hooks";
import { session } from "../auth";
import { ErrorBox } from "../ui/async";
import { Field } from "../ui/form";
import { Page } from "../ui/page";

export function Login() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await session.login(String(form.get("tenant")), String(form.get("email")), String(form.get("password")));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Page title="Sign in to LearnFlow">
      <form onSubmit={submit} aria-describedby="login-help">
        <Field label="School (tenant)" name="tenant" error={error}>
          {(p) => <input {...p} defaultValue="demo" required autoComplete="organization" />}
        </Field>
        <Field label="Email" name="email" error={error}>
          {(p) => <input {...p} type="email" required autoComplete="username" />}
        </Field>
        <Field label="Password" name="password" error={error}>
          {(p) => <input {...p} type="password" required autoComplete="current-password" />}
        </Field>
        <ErrorBox error={error} />
        <button type="submit" aria-busy={busy ? "true" : undefined} disabled={busy}>
          Sign in
        </button>
      </form>
      <p id="login-help" class="muted">
        On the local mesh (<code>make up</code>): tenant <code>demo</code>, password <code>learnflow-demo</code>, as
        student@demo.test, teacher@demo.test, admin@demo.test, operator@demo.test or facilitator@demo.test.
      </p>
    </Page>
  );
}
