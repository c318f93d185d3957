"""signed notes, their measurements and addenda are immutable in the database

The service refuses every change to a signed note (409 note-signed); these triggers make the
database refuse it too, whatever writes to it: a signed session row, the measurements of a
signed session, and addenda can be neither updated nor deleted. On SQLite the audit trail
gets the append-only guard PostgreSQL has had since 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:37:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNED = "signed notes never change"
ADDENDA = "addenda are append-only"

POSTGRESQL_UP = [
    f"""
    CREATE FUNCTION session_records_signed_immutable() RETURNS trigger AS $$
    BEGIN
        IF OLD.note_status = 'signed' THEN
            RAISE EXCEPTION '{SIGNED}' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER session_records_signed_immutable BEFORE UPDATE OR DELETE ON session_records "
    "FOR EACH ROW EXECUTE FUNCTION session_records_signed_immutable()",
    f"""
    CREATE FUNCTION measurements_signed_immutable() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM session_records
                   WHERE id = OLD.session_id AND note_status = 'signed') THEN
            RAISE EXCEPTION '{SIGNED}' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER measurements_signed_immutable BEFORE UPDATE OR DELETE ON measurements "
    "FOR EACH ROW EXECUTE FUNCTION measurements_signed_immutable()",
    f"""
    CREATE FUNCTION addenda_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{ADDENDA}' USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER addenda_append_only BEFORE UPDATE OR DELETE ON addenda "
    "FOR EACH ROW EXECUTE FUNCTION addenda_append_only()",
]

POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS addenda_append_only ON addenda",
    "DROP FUNCTION IF EXISTS addenda_append_only()",
    "DROP TRIGGER IF EXISTS measurements_signed_immutable ON measurements",
    "DROP FUNCTION IF EXISTS measurements_signed_immutable()",
    "DROP TRIGGER IF EXISTS session_records_signed_immutable ON session_records",
    "DROP FUNCTION IF EXISTS session_records_signed_immutable()",
]


def _sqlite_guard(name: str, event: str, table: str, when: str, message: str) -> str:
    condition = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW{condition} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


SIGNED_MEASUREMENT = (
    "(SELECT note_status FROM session_records WHERE id = OLD.session_id) = 'signed'"
)
SQLITE_TRIGGERS = {
    "session_records_signed_no_update": (
        "UPDATE",
        "session_records",
        "OLD.note_status = 'signed'",
        SIGNED,
    ),
    "session_records_signed_no_delete": (
        "DELETE",
        "session_records",
        "OLD.note_status = 'signed'",
        SIGNED,
    ),
    "measurements_signed_no_update": ("UPDATE", "measurements", SIGNED_MEASUREMENT, SIGNED),
    "measurements_signed_no_delete": ("DELETE", "measurements", SIGNED_MEASUREMENT, SIGNED),
    "addenda_no_update": ("UPDATE", "addenda", "", ADDENDA),
    "addenda_no_delete": ("DELETE", "addenda", "", ADDENDA),
    "audit_events_no_update": ("UPDATE", "audit_events", "", "audit events are append-only"),
    "audit_events_no_delete": ("DELETE", "audit_events", "", "audit events are append-only"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UP:
            op.execute(statement)
        return
    for name, (event, table, when, message) in SQLITE_TRIGGERS.items():
        op.execute(_sqlite_guard(name, event, table, when, message))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
