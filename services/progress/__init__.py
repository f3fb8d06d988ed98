"""Progress: what each student has done, how well they know each topic, their streaks, and the signs that
they are stuck. Only the pure domain core exists so far (issue #4); the store, the API and app.py come
later, and until app.py exists the runtime does not treat this package as a context."""
