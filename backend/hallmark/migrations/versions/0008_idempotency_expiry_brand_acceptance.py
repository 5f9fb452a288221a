"""idempotency expiry and brand acceptance

- an index on `idempotency_keys.created_at`, to delete expired answers;
- `products.brand_accepted_at`: when the brand accepted a product a factory named it in (products
  stored before are taken as accepted when they were created: their brands saw them already).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("brand_accepted_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE products SET brand_accepted_at = created_at WHERE brand_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("brand_accepted_at")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
