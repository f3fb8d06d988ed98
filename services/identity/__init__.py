"""identity: tenants, users, roles, credentials, service accounts and signing keys."""
