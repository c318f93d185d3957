"""auth change notifications: every committed change to api_keys or users is announced on the
PostgreSQL channel careplan_auth, so workers that remember callers forget them at once

Revision ID: 0008_auth_notify
Revises: 0007_summary_indexes
Create Date: 2026-12-01 19:00:00

Statement triggers, so a change of many rows sends one notification, and PostgreSQL folds the
identical notifications of one transaction into one, delivered at commit. SQLite has no channel
and needs nothing (its workers never remember callers; see `app.auth.callers`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_auth_notify"
down_revision: str | None = "0007_summary_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("api_keys", "users")

UP = [
    """
    CREATE FUNCTION careplan_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('careplan_auth', TG_TABLE_NAME);
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION careplan_auth_changed()"
        for table in TABLES
    ),
]
DOWN = [
    *(f"DROP TRIGGER {table}_auth_changed ON {table}" for table in TABLES),
    "DROP FUNCTION careplan_auth_changed()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWN:
            op.execute(statement)
