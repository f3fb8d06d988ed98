"""The one shared runtime: server, health, reflection, interceptors, settings, logging, tracing,
metrics, database, events and shutdown. It holds no domain knowledge; a context brings its domain
through a ContextSpec (see contexts.py)."""
