"""certificate order outcomes

- `certificate_order_outcomes`: one row per product of a certificate order (its position in
  the order, serial, status, and the certificate issued or the error it was refused with),
  inserted with the chunk that processed it; pages are read by (order, position).
- `certificate_orders.results` (one JSON list rewritten whole with every chunk) is dropped; the
  outcomes it held move into the new table, and the downgrade puts them back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Outcomes inserted per statement while moving an order's list.
BATCH = 1000

orders = sa.table(
    "certificate_orders",
    sa.column("id", sa.String(36)),
    sa.column("results", sa.JSON()),
)
outcomes = sa.table(
    "certificate_order_outcomes",
    sa.column("order_id", sa.String(36)),
    sa.column("position", sa.Integer()),
    sa.column("serial", sa.String(64)),
    sa.column("status", sa.String(16)),
    sa.column("certificate_id", sa.String(36)),
    sa.column("number", sa.String(32)),
    sa.column("certificate_hash", sa.String(66)),
    sa.column("error_code", sa.String(64)),
    sa.column("error_message", sa.Text()),
)


def _row(order_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """The outcome row of one entry of an order's `results` list."""
    error = result.get("error") or {}
    return {
        "order_id": order_id,
        "position": int(result["row"]) - 1,
        "serial": result["serial"],
        "status": result["status"],
        "certificate_id": result.get("certificate"),
        "number": result.get("number"),
        "certificate_hash": result.get("certificate_hash"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
    }


def _result(row: Any) -> dict[str, Any]:
    """The entry of an order's `results` list of one outcome row (the keys the API answered)."""
    head: dict[str, Any] = {"row": row.position + 1, "serial": row.serial, "status": row.status}
    if row.status == "issued":
        return head | {
            "certificate": row.certificate_id,
            "number": row.number,
            "certificate_hash": row.certificate_hash,
        }
    return head | {"error": {"code": row.error_code, "message": row.error_message}}


def upgrade() -> None:
    op.create_table(
        "certificate_order_outcomes",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("certificate_hash", sa.String(length=66), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["certificate_orders.id"],
            name=op.f("fk_certificate_order_outcomes_order_id_certificate_orders"),
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_certificate_order_outcomes")),
    )
    connection = op.get_bind()
    order_ids = list(connection.execute(sa.select(orders.c.id)).scalars())
    for order_id in order_ids:  # one order's list in memory at a time
        results = connection.execute(
            sa.select(orders.c.results).where(orders.c.id == order_id)
        ).scalar_one()
        rows = [_row(order_id, result) for result in results or []]
        for start in range(0, len(rows), BATCH):
            connection.execute(outcomes.insert(), rows[start : start + BATCH])
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.drop_column("results")


def downgrade() -> None:
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("results", sa.JSON(), nullable=True))
    connection = op.get_bind()
    order_ids = list(connection.execute(sa.select(orders.c.id)).scalars())
    for order_id in order_ids:
        rows = connection.execute(
            sa.select(outcomes).where(outcomes.c.order_id == order_id).order_by(outcomes.c.position)
        ).all()
        connection.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(results=[_result(row) for row in rows])
        )
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.alter_column("results", existing_type=sa.JSON(), nullable=False)
    op.drop_table("certificate_order_outcomes")
