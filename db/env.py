"""Alembic environment shared by every context. The runtime's migration runner passes the connection
(holding the advisory lock), the context's schema and the application role in config.attributes;
each context keeps its own version table inside its own schema.

target_metadata is what the code declares for the schema (services/runtime/schema.py: the context's
tables.py and the runtime's tables), so `alembic check` reports where the migrations and the code
disagree. It is a sequence of MetaData, and Alembic applies a naming convention to the operations of
migrations only when given a single MetaData: the migrations create what they say, whatever the
target. (Our convention is PostgreSQL's own naming anyway: services/runtime/db.py.)"""

from alembic import context

from services.runtime.schema import alembic_options

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(connection=connection, transaction_per_migration=True, **alembic_options(schema))

with context.begin_transaction():
    context.run_migrations()
