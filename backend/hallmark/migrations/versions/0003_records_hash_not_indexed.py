"""records: no unique index on record_hash

The hashed document holds the record's id (the primary key), so the hashes are distinct without
an index; keeping one up to date took a third of the time to store a batch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_records_record_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_records_record_hash", ["record_hash"])
