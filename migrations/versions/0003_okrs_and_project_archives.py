"""okrs and project archives

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:51:20.080919

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from cellorg.core.db import append_only_ddl


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """OKRs with horizontal alignment, immutable project archives, and when a project went active."""
    op.create_table('objectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_objectives_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objectives'))
    )
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objectives_project_id'), ['project_id'], unique=False)

    op.create_table('project_archives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_archives_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_archives')),
    sa.UniqueConstraint('project_id', name=op.f('uq_project_archives_project_id'))
    )
    op.create_table('key_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('target', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('current', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('target > 0', name=op.f('ck_key_results_target_positive')),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_key_results_objective_id_objectives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_results'))
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_results_objective_id'), ['objective_id'], unique=False)

    op.create_table('objective_alignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.Column('aligned_objective_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('objective_id <> aligned_objective_id', name=op.f('ck_objective_alignments_not_self')),
    sa.ForeignKeyConstraint(['aligned_objective_id'], ['objectives.id'], name=op.f('fk_objective_alignments_aligned_objective_id_objectives')),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_objective_alignments_objective_id_objectives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objective_alignments')),
    sa.UniqueConstraint('objective_id', 'aligned_objective_id', name=op.f('uq_objective_alignments_objective_id_aligned_objective_id'))
    )
    with op.batch_alter_table('objective_alignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objective_alignments_aligned_objective_id'), ['aligned_objective_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objective_alignments_objective_id'), ['objective_id'], unique=False)

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True))



    for statement in append_only_ddl("project_archives", op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Drop every table of this revision."""
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('activated_at')

    with op.batch_alter_table('objective_alignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objective_alignments_objective_id'))
        batch_op.drop_index(batch_op.f('ix_objective_alignments_aligned_objective_id'))

    op.drop_table('objective_alignments')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_results_objective_id'))

    op.drop_table('key_results')
    op.drop_table('project_archives')
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objectives_project_id'))

    op.drop_table('objectives')
