"""records: batches in record_anchors, proofs computed when read, no unique index on the hash

- `record_anchors` (record id → batch) replaces the records' `batch_id`, `leaf_index` and
  `proof` columns: the worker inserts one narrow row per record instead of rewriting every
  record row with its proof. A record's leaf index and proof follow from the hashes of its
  batch's records.
- `records.record_hash` loses its unique index: the hashed document holds the record's id (the
  primary key), so hashes are distinct without one, and keeping an index of random values up to
  date took a third of the time to store a batch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:30:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from hallmark.core.merkle import StandardMerkleTree

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_anchors",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["anchor_batches.id"],
            name=op.f("fk_record_anchors_batch_id_anchor_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_record_anchors_record_id_records")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_anchors")),
    )
    with op.batch_alter_table("record_anchors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_anchors_batch_id"), ["batch_id"], unique=False)
    op.execute(
        "INSERT INTO record_anchors (record_id, batch_id) "
        "SELECT id, batch_id FROM records WHERE batch_id IS NOT NULL"
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_records_record_hash", type_="unique")
        batch_op.drop_index(batch_op.f("ix_records_batch_id"))
        batch_op.drop_constraint("fk_records_batch_id_anchor_batches", type_="foreignkey")
        batch_op.drop_column("batch_id")
        batch_op.drop_column("leaf_index")
        batch_op.drop_column("proof")


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proof", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("leaf_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_records_batch_id_anchor_batches", "anchor_batches", ["batch_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_records_batch_id"), ["batch_id"], unique=False)
        batch_op.create_unique_constraint("uq_records_record_hash", ["record_hash"])
    # The earlier schema keeps each record's leaf index and proof: computed again per batch.
    connection = op.get_bind()
    members: dict[int, list[tuple[str, str]]] = {}
    for record_id, batch_id, record_hash in connection.execute(
        sa.text(
            "SELECT a.record_id, a.batch_id, r.record_hash FROM record_anchors a "
            "JOIN records r ON r.id = a.record_id"
        )
    ):
        members.setdefault(batch_id, []).append((record_id, record_hash.lower()))
    for batch_id, records in members.items():
        ordered = sorted(record_hash for _, record_hash in records)
        tree = StandardMerkleTree.of(ordered)
        index_of = {record_hash: index for index, record_hash in enumerate(ordered)}
        connection.execute(
            sa.text(
                "UPDATE records SET batch_id = :batch, leaf_index = :leaf, proof = :proof "
                "WHERE id = :id"
            ),
            [
                {
                    "batch": batch_id,
                    "leaf": index_of[record_hash],
                    "proof": json.dumps(
                        ["0x" + node.hex() for node in tree.proof(index_of[record_hash])]
                    ),
                    "id": record_id,
                }
                for record_id, record_hash in records
            ],
        )
    op.drop_table("record_anchors")
