"""projects and squads

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 17:41:08.024176

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Projects, squad slots and squad members."""
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('customer_unit_id', sa.Integer(), nullable=True),
    sa.Column('product_line_unit_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'closed', 'archived', name='projectstatus', native_enum=False, length=16), nullable=False),
    sa.Column('outcome', sa.Enum('won', 'lost', 'cancelled', name='outcome', native_enum=False, length=16), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_projects_ends_after_start')),
    sa.ForeignKeyConstraint(['customer_unit_id'], ['units.id'], name=op.f('fk_projects_customer_unit_id_units')),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_projects_owner_id_people')),
    sa.ForeignKeyConstraint(['product_line_unit_id'], ['units.id'], name=op.f('fk_projects_product_line_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_projects_customer_unit_id'), ['customer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_projects_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_projects_product_line_unit_id'), ['product_line_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_projects_status'), ['status', 'ends_at'], unique=False)

    op.create_table('squad_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('headcount', sa.Integer(), nullable=False),
    sa.Column('allocation_pct', sa.Integer(), nullable=False),
    sa.CheckConstraint('allocation_pct BETWEEN 1 AND 100', name=op.f('ck_squad_slots_allocation_in_range')),
    sa.CheckConstraint('headcount >= 1', name=op.f('ck_squad_slots_headcount_positive')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_squad_slots_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_squad_slots'))
    )
    with op.batch_alter_table('squad_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_squad_slots_project_id'), ['project_id'], unique=False)

    op.create_table('squad_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('allocation_pct', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('allocation_pct BETWEEN 1 AND 100', name=op.f('ck_squad_members_allocation_in_range')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_squad_members_grant_id_grants')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_squad_members_person_id_people')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_squad_members_project_id_projects')),
    sa.ForeignKeyConstraint(['slot_id'], ['squad_slots.id'], name=op.f('fk_squad_members_slot_id_squad_slots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_squad_members'))
    )
    with op.batch_alter_table('squad_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_squad_members_person_id'), ['person_id', 'left_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_squad_members_project_id'), ['project_id', 'left_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_squad_members_slot_id'), ['slot_id'], unique=False)



def downgrade() -> None:
    """Drop every table of this revision."""
    with op.batch_alter_table('squad_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_squad_members_slot_id'))
        batch_op.drop_index(batch_op.f('ix_squad_members_project_id'))
        batch_op.drop_index(batch_op.f('ix_squad_members_person_id'))

    op.drop_table('squad_members')
    with op.batch_alter_table('squad_slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_squad_slots_project_id'))

    op.drop_table('squad_slots')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_status'))
        batch_op.drop_index(batch_op.f('ix_projects_product_line_unit_id'))
        batch_op.drop_index(batch_op.f('ix_projects_owner_id'))
        batch_op.drop_index(batch_op.f('ix_projects_customer_unit_id'))

    op.drop_table('projects')
