// Words and a colour for a sandbox verdict, shared by the code editor and exercise grading.
import type { components } from "../../api/schema";

export type Verdict = components["schemas"]["learnflow.sandbox.v1.Verdict"];

const WORDS: Record<string, string> = {
  VERDICT_OK: "OK",
  VERDICT_RUNTIME_ERROR: "Runtime error",
  VERDICT_TIMED_OUT: "Timed out",
  VERDICT_MEMORY_EXCEEDED: "Memory limit exceeded",
  VERDICT_OUTPUT_EXCEEDED: "Too much output",
  VERDICT_SYNTAX_ERROR: "Syntax error",
  VERDICT_REJECTED: "Rejected",
};

export function verdictWords(v: string | undefined): string {
  return WORDS[v ?? ""] ?? "Unknown";
}

/** The badge class: green only for OK, amber for limits, red for errors. */
export function verdictTone(v: string | undefined): "good" | "warn" | "bad" {
  if (v === "VERDICT_OK") return "good";
  if (v === "VERDICT_TIMED_OUT" || v === "VERDICT_MEMORY_EXCEEDED" || v === "VERDICT_OUTPUT_EXCEEDED") return "warn";
  return "bad";
}

/** Dates as the user's locale writes them; "—" for none (the API omits unset timestamps). */
export function when(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
