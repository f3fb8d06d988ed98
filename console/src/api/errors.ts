// The API's one error shape (google.rpc.Status as JSON, gateway/envoy.py): a message in words, the
// field violations of a 400 next to their fields, and the correlation id an operator can look up.
export interface FieldViolation {
  field: string;
  description: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: number;
  readonly violations: FieldViolation[];
  readonly correlationId: string;
  readonly retryAfter: number | null;

  constructor(status: number, body: unknown, retryAfter: string | null = null) {
    const b = (body ?? {}) as { code?: number; message?: string; details?: Array<Record<string, unknown>> };
    super(b.message || `the request failed (HTTP ${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = b.code ?? 0;
    const details = Array.isArray(b.details) ? b.details : [];
    this.violations = details.flatMap((d) =>
      Array.isArray(d.fieldViolations) ? (d.fieldViolations as FieldViolation[]) : [],
    );
    const info = details.find((d) => String(d["@type"] ?? "").endsWith("google.rpc.ErrorInfo"));
    const meta = (info?.metadata ?? {}) as Record<string, string>;
    this.correlationId = meta.correlation_id ?? "";
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }

  /** The violation of one field (JSON or proto name), for showing next to that field. */
  forField(name: string): string | undefined {
    const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    return this.violations.find((v) => v.field === name || v.field === snake || v.field.endsWith(`.${snake}`))
      ?.description;
  }
}

/** Words for any thrown value: an ApiError's message, or a network failure said plainly. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 429 && err.retryAfter) return `${err.message} (try again in ${err.retryAfter} s)`;
    return err.message;
  }
  if (err instanceof TypeError) return "The server could not be reached. Check your connection and try again.";
  return err instanceof Error ? err.message : String(err);
}
