"""workflows: (say in one line what this context owns)."""
