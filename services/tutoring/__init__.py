"""tutoring: triage and the concepts, code-review, debug and exercise agents (docs/tutoring.md)."""
