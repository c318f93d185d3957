"""summary indexes: a plan's measurements found by client and session

A summary reads the measurements of a plan's signed sessions with one index probe per session.
By `session_id` alone (random UUIDs) those probes scatter over an index as big as the whole
measurements table, so the pages a stream of summaries touches grow with the table; led by
`client_id` they land on the client's own pages.

Revision ID: 0007_summary_indexes
Revises: 0006_idempotency
Create Date: 2026-12-01 18:39:57
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_summary_indexes"
down_revision: str | None = "0006_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_measurements_client_id_session_id"),
        "measurements",
        ["client_id", "session_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_measurements_client_id_session_id"), table_name="measurements")
