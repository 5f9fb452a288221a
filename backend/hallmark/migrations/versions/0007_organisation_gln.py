"""organisations.gln: an organisation's GS1 Global Location Number, when it has one

EPCIS exports name where an event happened (`readPoint`, `bizLocation`) by the GLN of the
organisation that recorded it; the public organisation directory shows it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("gln", sa.String(length=13), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("gln")
