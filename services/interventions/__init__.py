"""interventions: (say in one line what this context owns)."""
