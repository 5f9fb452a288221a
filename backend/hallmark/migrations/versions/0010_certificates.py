"""certificates

- `certificate_orders`: B2B orders issuing certificates for many products, with their progress;
- `certificates`: one row per issued certificate (its signed document is a `certificate` record),
  its issuance id, signature, the personal data and salt behind its commitment, and its status.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("issuance_id", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("serials", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_certificate_orders_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_orders")),
        sa.UniqueConstraint("issuance_id", name=op.f("uq_certificate_orders_issuance_id")),
    )
    op.create_index(
        op.f("ix_certificate_orders_organisation_id"),
        "certificate_orders",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("issuance_id", sa.String(length=66), nullable=False),
        sa.Column("certificate_hash", sa.String(length=66), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("personal", sa.JSON(), nullable=True),
        sa.Column("personal_salt", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoke_reason", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supersedes_id", sa.String(length=36), nullable=True),
        sa.Column("superseded_by_id", sa.String(length=36), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["id"], ["records.id"], name=op.f("fk_certificates_id_records")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["certificate_orders.id"],
            name=op.f("fk_certificates_order_id_certificate_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_certificates_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_certificates_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
    )
    for column in ("product_id", "organisation_id", "order_id", "supersedes_id"):
        op.create_index(op.f(f"ix_certificates_{column}"), "certificates", [column], unique=False)


def downgrade() -> None:
    for column in ("supersedes_id", "order_id", "organisation_id", "product_id"):
        op.drop_index(op.f(f"ix_certificates_{column}"), table_name="certificates")
    op.drop_table("certificates")
    op.drop_index(op.f("ix_certificate_orders_organisation_id"), table_name="certificate_orders")
    op.drop_table("certificate_orders")
