"""design registry

- `design_registrations`: designs filed in the registry (fingerprint, ISCC codes, the index's
  codes, title, designers, owner reference, authorization, creative source, licences, lineage,
  the commitment and the filing transaction, priority evidence);
- `design_reviews`: the near-duplicates found at registration, for a person to decide.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "design_registrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("active_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("file_kind", sa.String(length=8), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("instance_code", sa.String(length=80), nullable=False),
        sa.Column("data_code", sa.String(length=80), nullable=False),
        sa.Column("image_code", sa.String(length=80), nullable=True),
        sa.Column("perceptual_code", sa.String(length=16), nullable=False),
        sa.Column("fingerprint_data", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("designers", sa.JSON(), nullable=False),
        sa.Column("owner_ref", sa.String(length=200), nullable=False),
        sa.Column("owner_ref_hash", sa.String(length=66), nullable=False),
        sa.Column("owner_organisation_id", sa.String(length=36), nullable=True),
        sa.Column("authorization", sa.String(length=24), nullable=False),
        sa.Column("authorization_document", sa.String(length=64), nullable=True),
        sa.Column("creative_source", sa.JSON(), nullable=False),
        sa.Column("licences", sa.JSON(), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("metadata_canonical", sa.Text(), nullable=False),
        sa.Column("metadata_hash", sa.String(length=66), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=True),
        sa.Column("registrant", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("salt", sa.String(length=66), nullable=False),
        sa.Column("commitment", sa.String(length=66), nullable=False),
        sa.Column("commitment_record_id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_block", sa.BigInteger(), nullable=True),
        sa.Column("final_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("thumbnail_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["commitment_record_id"],
            ["records.id"],
            name=op.f("fk_design_registrations_commitment_record_id_records"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_design_registrations_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_design_registrations_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_design_registrations_owner_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["design_registrations.id"],
            name=op.f("fk_design_registrations_parent_id_design_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_design_registrations")),
        sa.UniqueConstraint("number", name=op.f("uq_design_registrations_number")),
        sa.UniqueConstraint(
            "active_fingerprint", name=op.f("uq_design_registrations_active_fingerprint")
        ),
        sa.UniqueConstraint(
            "commitment_record_id", name=op.f("uq_design_registrations_commitment_record_id")
        ),
    )
    with op.batch_alter_table("design_registrations", schema=None) as batch_op:
        for column in (
            "fingerprint",
            "owner_ref",
            "owner_organisation_id",
            "parent_id",
            "organisation_id",
            "status",
            "tx_hash",
            "created_at",
        ):
            batch_op.create_index(batch_op.f(f"ix_design_registrations_{column}"), [column])
        batch_op.create_index(
            "ix_design_registrations_org_status", ["organisation_id", "status"], unique=False
        )
    op.create_table(
        "design_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["design_registrations.id"],
            name=op.f("fk_design_reviews_registration_id_design_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_design_reviews")),
        sa.UniqueConstraint("registration_id", name=op.f("uq_design_reviews_registration_id")),
    )
    with op.batch_alter_table("design_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_design_reviews_state"), ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("design_reviews")
    op.drop_table("design_registrations")
