"""Progress: what each student has done, how well they know each topic, their streaks, and the signs
that they are stuck (struggle alerts for their teachers). Activities arrive through RecordActivity and
as events (progress.events from every context, the sandbox's runs and grades); identity's user
events keep each student's time zone. docs/progress-model.md describes the models."""
