"""Alembic environment shared by every context. The runtime's migration runner passes the connection
(holding the advisory lock), the context's schema and the application role in config.attributes;
each context keeps its own version table inside its own schema."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(
    connection=connection,
    target_metadata=None,
    version_table_schema=schema,
    include_schemas=True,
    transaction_per_migration=True,
)

with context.begin_transaction():
    context.run_migrations()
