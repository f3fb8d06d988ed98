"""audit: the tamper-evident trail of every administrative action and communication, one hash chain
per tenant (docs/audit.md)."""
