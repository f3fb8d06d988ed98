// Small pieces the admin pages share. Kept in this folder (not ui/) so other areas' pages are not
// affected by them; a candidate for ui/ once a second area needs the same.
import type { ComponentChildren } from "preact";

/** The policy page's address for a new policy: "_new" can never be a policy id (ids start with a letter). */
export const NEW = "_new";

/** A timestamp in the reader's locale, or a dash when unset. */
export function when(iso?: string): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** An enum value without its prefix, in words: DELIVERY_STATUS_FAILED → "failed". */
export function words(value: string | undefined, prefix: string): string {
  if (!value) return "—";
  return value.replace(prefix, "").toLowerCase().replace(/_/g, " ");
}

/** A coloured label whose colour repeats what its text says (never colour alone). */
export function Badge({ tone, children }: { tone?: "good" | "warn" | "bad"; children: ComponentChildren }) {
  return <span class={tone ? `badge ${tone}` : "badge"}>{children}</span>;
}

/** A filter bar: a labelled grid of controls that wraps on a phone. */
export function Filters({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // Text filters apply on Enter or when the field is left (a change event), not on every keystroke.
    <form class="admin-filters" role="search" aria-label={label} onSubmit={(e) => e.preventDefault()}>
      {children}
      <button type="submit" class="secondary">Apply</button>
    </form>
  );
}

/** A UUID-ish id shortened for a table cell; the full id stays in the title and for screen readers. */
export function ShortId({ id }: { id?: string }) {
  if (!id) return <span>—</span>;
  return (
    <code title={id}>
      {id.length > 12 ? `${id.slice(0, 8)}…` : id}
    </code>
  );
}

/** A date-time-local input's value as RFC 3339 (the API's Timestamp), or undefined when empty. */
export function toTimestamp(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
