"""deployment history: each batch knows its deployment; organisations' grants per deployment

- `deployments.version`: the contracts' version (every earlier row is version 1.0.0);
- `anchor_batches.deployment_id`: the deployment whose ledger the batch is anchored on. Existing
  batches get the newest deployment recorded before they were created (the first one when none
  was);
- `anchor_batches.salt`: the extra leaf of a batch formed again because another account (or
  another kind or count) holds its root;
- `anchor_batches.flag_cause`, `flag_reason`, `flagged_at`: a batch flagged on chain;
- `account_compromises`: accounts declared compromised on a deployment's ledger, from a block;
- `organisation_grants`: what each organisation's account should hold on each deployment's
  ledger, and whether it does yet. Existing organisations are recorded as applied on the newest
  deployment (they were granted their role when created).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ROLES = {
    "supplier": "SUPPLIER_ROLE",
    "factory": "FACTORY_ROLE",
    "brand": "ISSUER_ROLE",
    "legal": "REGISTRAR_ROLE",
}


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.String(length=16), server_default="1.0.0", nullable=False)
        )
    with op.batch_alter_table("anchor_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("salt", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("flag_cause", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("flag_reason", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_anchor_batches_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_anchor_batches_deployment_id_deployments"),
            "deployments",
            ["deployment_id"],
            ["id"],
        )
    op.execute(
        "UPDATE anchor_batches SET deployment_id = ("
        "SELECT max(deployments.id) FROM deployments "
        "WHERE deployments.created_at <= anchor_batches.created_at)"
    )
    op.execute(
        "UPDATE anchor_batches SET deployment_id = (SELECT min(id) FROM deployments) "
        "WHERE deployment_id IS NULL"
    )
    op.create_table(
        "organisation_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("account_address", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("wanted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_organisation_grants_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_grants_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_grants")),
        sa.UniqueConstraint(
            "organisation_id", "deployment_id", name=op.f("uq_organisation_grants_organisation_id")
        ),
    )
    with op.batch_alter_table("organisation_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_grants_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_organisation_grants_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organisation_grants_status"), ["status"], unique=False)
    op.create_table(
        "account_compromises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("account_address", sa.String(length=42), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_account_compromises_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_compromises")),
        sa.UniqueConstraint(
            "deployment_id", "account_address", name=op.f("uq_account_compromises_deployment_id")
        ),
    )
    with op.batch_alter_table("account_compromises", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_compromises_account_address"), ["account_address"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_account_compromises_deployment_id"), ["deployment_id"], unique=False
        )
    for kind, role in _ROLES.items():
        op.execute(
            sa.text(
                "INSERT INTO organisation_grants (organisation_id, deployment_id, "
                "account_address, role, wanted, status, updated_at) "
                "SELECT organisations.id, (SELECT max(id) FROM deployments), "
                "organisations.account_address, :role, organisations.status = 'active', "
                "'applied', CURRENT_TIMESTAMP FROM organisations "
                "WHERE organisations.kind = :kind AND EXISTS (SELECT 1 FROM deployments)"
            ).bindparams(role=role, kind=kind)
        )


def downgrade() -> None:
    with op.batch_alter_table("account_compromises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_compromises_deployment_id"))
        batch_op.drop_index(batch_op.f("ix_account_compromises_account_address"))
    op.drop_table("account_compromises")
    with op.batch_alter_table("organisation_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_grants_status"))
        batch_op.drop_index(batch_op.f("ix_organisation_grants_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_organisation_grants_deployment_id"))
    op.drop_table("organisation_grants")
    with op.batch_alter_table("anchor_batches", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_anchor_batches_deployment_id_deployments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_anchor_batches_deployment_id"))
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flag_cause")
        batch_op.drop_column("salt")
        batch_op.drop_column("deployment_id")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("version")
