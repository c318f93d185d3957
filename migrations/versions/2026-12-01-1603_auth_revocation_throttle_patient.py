"""token revocation, login throttling in the database, referrals that name a patient

- `users.token_generation`: every access token carries it; deactivation, a new password or a
  new role bumps it, so older tokens stop working at once on every worker.
- `login_failures`: failed logins per account and client address, counted by the throttle.
- `referrals.client_id` may be null and `referrals.patient` holds the patient a referrer names
  (`{given_name, family_name, date_of_birth, phone?, email?}`) until the clinic links a client.

Downgrading refuses while a referral has no client: the older schema cannot hold it.

SQLite cannot change a column's nullability in place, and alembic's batch mode would drop the
old `referrals` table, which `care_plan_referrals` references: with foreign keys enforced (they
cannot be switched off inside the migration's transaction) that DROP fails as soon as a plan
links a referral. So on SQLite both tables are rebuilt side by side and the old ones dropped
child first, so no referenced row is ever deleted; renaming the new parent into place makes
SQLite point the new child's foreign key at `referrals` again.

Revision ID: 0003_auth
Revises: 0005_events
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_auth"
down_revision: str | None = "0005_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_account", ["account", "at"], unique=False)
        batch_op.create_index("ix_login_failures_address", ["address", "at"], unique=False)
        batch_op.create_index("ix_login_failures_at", ["at"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        _rebuild_referrals_on_sqlite(with_patient=True)
        return
    op.add_column("referrals", sa.Column("patient", JSON, nullable=True))
    op.alter_column("referrals", "client_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    unlinked = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM referrals WHERE client_id IS NULL")
    )
    if unlinked:
        raise RuntimeError(
            f"{unlinked} referral(s) have no client yet: link or archive them before "
            "downgrading below 0003_auth"
        )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_referrals_on_sqlite(with_patient=False)
    else:
        op.alter_column("referrals", "client_id", existing_type=sa.Uuid(), nullable=False)
        op.drop_column("referrals", "patient")

    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_at")
        batch_op.drop_index("ix_login_failures_address")
        batch_op.drop_index("ix_login_failures_account")
    op.drop_table("login_failures")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_generation")


REFERRAL_COLUMNS = [
    "client_id",
    "referring_professional_id",
    "received_on",
    "reason",
    "diagnosis_codes",
    "diagnosis_text",
    "authorized_sessions",
    "valid_until",
    "precautions_note",
    "status",
    "id",
    "created_at",
    "updated_at",
    "version",
    "archived_at",
]
REFERRAL_INDEXES = {
    "ix_referrals_client_id": ["client_id", "created_at", "id"],
    "ix_referrals_created_at_id": ["created_at", "id"],
    "ix_referrals_referring_professional_id": ["referring_professional_id", "created_at", "id"],
    "ix_referrals_status": ["status", "created_at", "id"],
    "ix_referrals_updated_at": ["updated_at"],
}


def _rebuild_referrals_on_sqlite(*, with_patient: bool) -> None:
    """`referrals` with client_id nullable and `patient` (upgrade), or as 0002 had it; and
    `care_plan_referrals`, its only child, rebuilt alongside."""
    extra = [sa.Column("patient", JSON, nullable=True)] if with_patient else []
    op.create_table(
        "referrals_rebuilt",
        sa.Column("client_id", sa.Uuid(), nullable=with_patient),
        sa.Column("referring_professional_id", sa.Uuid(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("diagnosis_codes", JSON, nullable=False),
        sa.Column("diagnosis_text", sa.Text(), nullable=True),
        sa.Column("authorized_sessions", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("precautions_note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        *extra,
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name="fk_referrals_client_id_clients"
        ),
        sa.ForeignKeyConstraint(
            ["referring_professional_id"],
            ["referring_professionals.id"],
            name="fk_referrals_referring_professional_id_referring_professionals",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_referrals"),
    )
    columns = ", ".join(REFERRAL_COLUMNS)
    op.execute(f"INSERT INTO referrals_rebuilt ({columns}) SELECT {columns} FROM referrals")
    op.create_table(
        "care_plan_referrals_rebuilt",
        sa.Column("care_plan_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["care_plan_id"],
            ["care_plans.id"],
            name="fk_care_plan_referrals_care_plan_id_care_plans",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals_rebuilt.id"],
            name="fk_care_plan_referrals_referral_id_referrals",
        ),
        sa.PrimaryKeyConstraint("care_plan_id", "referral_id", name="pk_care_plan_referrals"),
    )
    op.execute(
        "INSERT INTO care_plan_referrals_rebuilt (care_plan_id, referral_id) "
        "SELECT care_plan_id, referral_id FROM care_plan_referrals"
    )
    op.execute("DROP TABLE care_plan_referrals")
    op.execute("DROP TABLE referrals")
    # SQLite rewrites the child's REFERENCES referrals_rebuilt to the new name
    op.execute("ALTER TABLE referrals_rebuilt RENAME TO referrals")
    op.execute("ALTER TABLE care_plan_referrals_rebuilt RENAME TO care_plan_referrals")
    for name, indexed in REFERRAL_INDEXES.items():
        op.create_index(name, "referrals", indexed, unique=False)
    op.create_index(
        "ix_care_plan_referrals_referral_id", "care_plan_referrals", ["referral_id"], unique=False
    )
