"""brand acceptance anchored

- `products.acceptance_record_id`: the record (`hallmark/product-acceptance@1`, kind Product,
  written and anchored by the brand) of the brand's acceptance of a product a factory named it
  in. Products accepted before have none: their acceptance was not recorded.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acceptance_record_id", sa.String(36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_products_acceptance_record_id_records"),
            "records",
            ["acceptance_record_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_products_acceptance_record_id_records"), type_="foreignkey"
        )
        batch_op.drop_column("acceptance_record_id")
