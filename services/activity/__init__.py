"""activity: (say in one line what this context owns)."""
