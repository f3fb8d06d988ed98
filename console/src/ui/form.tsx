// Form fields whose API error (a field violation) shows next to them, announced by screen readers.
import type { ComponentChildren } from "preact";
import { ApiError } from "../api/errors";

let counter = 0;
const nextId = () => `f${++counter}`;

export function Field({
  label,
  name,
  error,
  hint,
  children,
}: {
  label: string;
  name: string;
  error?: unknown;
  hint?: string;
  children: (props: { id: string; name: string; "aria-invalid"?: "true"; "aria-describedby"?: string }) => ComponentChildren;
}) {
  const id = `${name}-${nextId()}`;
  const message = error instanceof ApiError ? error.forField(name) : undefined;
  const described = message ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <label for={id}>
      {label}
      {children({ id, name, "aria-invalid": message ? "true" : undefined, "aria-describedby": described })}
      {message ? (
        <small id={`${id}-error`} class="field-error">
          {message}
        </small>
      ) : (
        hint && <small id={`${id}-hint`}>{hint}</small>
      )}
    </label>
  );
}
