"""Deployments of the contracts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_block", sa.BigInteger(), nullable=False),
        sa.Column("admin_address", sa.String(length=42), nullable=False),
        sa.Column("service_address", sa.String(length=42), nullable=False),
        sa.Column("contracts", sa.JSON(), nullable=False),
        sa.Column("record_hash", sa.String(length=66), nullable=False),
        sa.Column("deployed_at_iso", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("record_hash", name=op.f("uq_deployments_record_hash")),
    )
    op.create_index(op.f("ix_deployments_chain_id"), "deployments", ["chain_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deployments_chain_id"), table_name="deployments")
    op.drop_table("deployments")
