"""design rights

- `design_rights_actions`: assignments (propose, accept, cancel) and licences (grant,
  terminate) of registered designs, recorded before their transaction is sent (resumable).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "design_rights_actions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("new_organisation_id", sa.String(length=36), nullable=True),
        sa.Column("new_registrant", sa.String(length=42), nullable=True),
        sa.Column("owner_ref", sa.String(length=200), nullable=True),
        sa.Column("owner_salt", sa.String(length=64), nullable=True),
        sa.Column("owner_ref_hash", sa.String(length=66), nullable=True),
        sa.Column("owner_organisation_id", sa.String(length=36), nullable=True),
        sa.Column("licensee_ref", sa.String(length=200), nullable=True),
        sa.Column("licensee_salt", sa.String(length=64), nullable=True),
        sa.Column("licensee_ref_hash", sa.String(length=66), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["design_registrations.id"],
            name=op.f("fk_design_rights_actions_registration_id_design_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_design_rights_actions_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["new_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_design_rights_actions_new_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_design_rights_actions_owner_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_design_rights_actions")),
    )
    with op.batch_alter_table("design_rights_actions", schema=None) as batch_op:
        for column in ("registration_id", "organisation_id", "document_sha256", "status"):
            batch_op.create_index(batch_op.f(f"ix_design_rights_actions_{column}"), [column])
        batch_op.create_index(
            "ix_design_rights_actions_status_created", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("design_rights_actions")
