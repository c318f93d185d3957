"""no new measurements in a signed session; no TRUNCATE of the clinical tables

0002 made the database refuse UPDATE and DELETE of a signed note, its measurements and any
addendum. This closes the two ways around it:

- INSERT of a measurement into a signed session is refused (both databases);
- TRUNCATE of the clinical tables is refused (PostgreSQL: a BEFORE TRUNCATE … FOR EACH
  STATEMENT trigger per table, which also fires for tables reached by TRUNCATE … CASCADE).
  SQLite has no TRUNCATE statement: emptying a table there is an unqualified DELETE, which
  runs row by row through the DELETE guards of 0002 (signed notes, their measurements, addenda,
  the audit trail) whenever a table has triggers, so those guards already cover it; no TRUNCATE
  guard is added for SQLite.

Revision ID: 0004_sessions
Revises: 0003_goal_mcid
Create Date: 2026-12-01 15:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_sessions"
down_revision: str | None = "0003_goal_mcid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNED = "signed notes never change"
TRUNCATE = "clinical tables are never truncated"

# every table holding clinical records or the trail of who touched them (audit_events has had
# its own TRUNCATE guard since 0001)
CLINICAL_TABLES = (
    "clients",
    "precautions",
    "consents",
    "referrals",
    "care_plans",
    "care_plan_referrals",
    "goals",
    "session_records",
    "measurements",
    "addenda",
)

POSTGRESQL_UP = [
    f"""
    CREATE FUNCTION measurements_signed_no_insert() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM session_records
                   WHERE id = NEW.session_id AND note_status = 'signed') THEN
            RAISE EXCEPTION '{SIGNED}' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER measurements_signed_no_insert BEFORE INSERT ON measurements "
    "FOR EACH ROW EXECUTE FUNCTION measurements_signed_no_insert()",
    f"""
    CREATE FUNCTION clinical_tables_no_truncate() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{TRUNCATE}' USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION clinical_tables_no_truncate()"
        for table in CLINICAL_TABLES
    ),
]

POSTGRESQL_DOWN = [
    *(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}" for table in CLINICAL_TABLES),
    "DROP FUNCTION IF EXISTS clinical_tables_no_truncate()",
    "DROP TRIGGER IF EXISTS measurements_signed_no_insert ON measurements",
    "DROP FUNCTION IF EXISTS measurements_signed_no_insert()",
]

SQLITE_UP = [
    "CREATE TRIGGER measurements_signed_no_insert BEFORE INSERT ON measurements FOR EACH ROW "
    "WHEN (SELECT note_status FROM session_records WHERE id = NEW.session_id) = 'signed' "
    f"BEGIN SELECT RAISE(ABORT, '{SIGNED}'); END",
]

SQLITE_DOWN = ["DROP TRIGGER IF EXISTS measurements_signed_no_insert"]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_UP if postgresql else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_DOWN if postgresql else SQLITE_DOWN:
        op.execute(statement)
