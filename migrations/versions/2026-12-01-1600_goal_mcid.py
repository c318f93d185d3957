"""a goal's own minimal important change

`goals.mcid`: the minimal important change of a range-of-motion or custom goal, which have none
of their own (and an override for the standard measures).

Revision ID: 0003_goal_mcid
Revises: 0002
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_goal_mcid"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("goals") as batch:
        batch.add_column(sa.Column("mcid", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("goals") as batch:
        batch.drop_column("mcid")
