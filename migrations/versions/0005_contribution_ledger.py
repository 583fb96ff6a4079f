"""contribution ledger

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:06:14.932720

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from cellorg.core.db import append_only_ddl

LEDGER_TABLES = ("ledger_entries", "ledger_nodes", "ledger_checkpoints", "ledger_anchors")


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The ledger's tables, each refusing UPDATE and DELETE."""
    op.create_table('ledger_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=65), nullable=False),
    sa.Column('signer', sa.String(length=42), nullable=False),
    sa.Column('previous_size', sa.BigInteger(), nullable=True),
    sa.Column('consistency_proof', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_checkpoints')),
    sa.UniqueConstraint('tree_size', name=op.f('uq_ledger_checkpoints_tree_size'))
    )
    op.create_table('ledger_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'position', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('ledger_anchors',
    sa.Column('checkpoint_id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('transaction_hash', sa.String(length=66), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('sender', sa.String(length=42), nullable=False),
    sa.Column('anchored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['ledger_checkpoints.id'], name=op.f('fk_ledger_anchors_checkpoint_id_ledger_checkpoints')),
    sa.PrimaryKeyConstraint('checkpoint_id', name=op.f('pk_ledger_anchors')),
    sa.UniqueConstraint('transaction_hash', name=op.f('uq_ledger_anchors_transaction_hash'))
    )
    op.create_table('ledger_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_type', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('contribution_kind', sa.String(length=64), nullable=True),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('amends', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=65), nullable=False),
    sa.Column('signer', sa.String(length=42), nullable=False),
    sa.Column('signed_by_service', sa.Boolean(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('chain_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['amends'], ['ledger_entries.seq'], name=op.f('fk_ledger_entries_amends_ledger_entries')),
    sa.ForeignKeyConstraint(['author_id'], ['people.id'], name=op.f('fk_ledger_entries_author_id_people')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_ledger_entries_project_id_projects')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('digest', name=op.f('uq_ledger_entries_digest'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_project_id'), ['project_id', 'entry_type', 'seq'], unique=False)

    for table in LEDGER_TABLES:
        for statement in append_only_ddl(table, op.get_bind().dialect.name):
            op.execute(statement)


def downgrade() -> None:
    """Drop every table of this revision."""
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_project_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_author_id'))

    op.drop_table('ledger_entries')
    op.drop_table('ledger_anchors')
    op.drop_table('ledger_nodes')
    op.drop_table('ledger_checkpoints')
