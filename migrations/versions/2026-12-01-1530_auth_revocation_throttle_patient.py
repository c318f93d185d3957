"""token revocation, login throttling in the database, referrals that name a patient

- `users.token_generation`: every access token carries it; deactivation, a new password or a
  new role bumps it, so older tokens stop working at once on every worker.
- `login_failures`: failed logins per account and client address, counted by the throttle.
- `referrals.client_id` may be null and `referrals.patient` holds the patient a referrer names
  (`{given_name, family_name, date_of_birth, phone?, email?}`) until the clinic links a client.

Downgrading refuses while a referral has no client: the older schema cannot hold it.

Revision ID: 0003_auth
Revises: 0002
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_auth"
down_revision: str | None = "0002"
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

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient", JSON, nullable=True))
        batch_op.alter_column("client_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    unlinked = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM referrals WHERE client_id IS NULL")
    )
    if unlinked:
        raise RuntimeError(
            f"{unlinked} referral(s) have no client yet: link or archive them before "
            "downgrading below 0003_auth"
        )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("patient")

    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_at")
        batch_op.drop_index("ix_login_failures_address")
        batch_op.drop_index("ix_login_failures_account")
    op.drop_table("login_failures")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
