"""talent pool

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:10:34.206765

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Skills, claims with history, endorsements, availability and slot requirements."""
    op.create_table('availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('capacity_pct', sa.Integer(), nullable=False),
    sa.CheckConstraint('capacity_pct BETWEEN 0 AND 100', name=op.f('ck_availability_capacity_in_range')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_availability_ends_after_start')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_availability_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability'))
    )
    with op.batch_alter_table('availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_availability_person_id'), ['person_id', 'starts_on'], unique=False)

    op.create_table('skills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('normalized_name', sa.String(length=120), nullable=False),
    sa.Column('category', sa.String(length=120), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('approved', 'pending', 'rejected', name='skillstatus', native_enum=False, length=16), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['people.id'], name=op.f('fk_skills_decided_by_people')),
    sa.ForeignKeyConstraint(['parent_id'], ['skills.id'], name=op.f('fk_skills_parent_id_skills')),
    sa.ForeignKeyConstraint(['proposed_by'], ['people.id'], name=op.f('fk_skills_proposed_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skills')),
    sa.UniqueConstraint('normalized_name', name=op.f('uq_skills_normalized_name'))
    )
    with op.batch_alter_table('skills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_skills_parent_id'), ['parent_id'], unique=False)

    op.create_table('skill_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('skill_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('level BETWEEN 1 AND 5', name=op.f('ck_skill_claims_level_in_range')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_skill_claims_person_id_people')),
    sa.ForeignKeyConstraint(['skill_id'], ['skills.id'], name=op.f('fk_skill_claims_skill_id_skills')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skill_claims'))
    )
    with op.batch_alter_table('skill_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_skill_claims_person_id'), ['person_id', 'superseded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_skill_claims_skill_id'), ['skill_id', 'superseded_at', 'level'], unique=False)

    op.create_table('endorsements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('endorser_id', sa.Integer(), nullable=False),
    sa.Column('shared_squad', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['skill_claims.id'], name=op.f('fk_endorsements_claim_id_skill_claims')),
    sa.ForeignKeyConstraint(['endorser_id'], ['people.id'], name=op.f('fk_endorsements_endorser_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_endorsements')),
    sa.UniqueConstraint('claim_id', 'endorser_id', name=op.f('uq_endorsements_claim_id_endorser_id'))
    )
    with op.batch_alter_table('endorsements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_endorsements_claim_id'), ['claim_id'], unique=False)

    op.create_table('slot_requirements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('skill_id', sa.Integer(), nullable=False),
    sa.Column('min_level', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.CheckConstraint('min_level BETWEEN 1 AND 5', name=op.f('ck_slot_requirements_min_level_in_range')),
    sa.CheckConstraint('weight > 0', name=op.f('ck_slot_requirements_weight_positive')),
    sa.ForeignKeyConstraint(['skill_id'], ['skills.id'], name=op.f('fk_slot_requirements_skill_id_skills')),
    sa.ForeignKeyConstraint(['slot_id'], ['squad_slots.id'], name=op.f('fk_slot_requirements_slot_id_squad_slots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_requirements')),
    sa.UniqueConstraint('slot_id', 'skill_id', name=op.f('uq_slot_requirements_slot_id_skill_id'))
    )
    with op.batch_alter_table('slot_requirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slot_requirements_slot_id'), ['slot_id'], unique=False)



def downgrade() -> None:
    """Drop every table of this revision."""
    with op.batch_alter_table('slot_requirements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slot_requirements_slot_id'))

    op.drop_table('slot_requirements')
    with op.batch_alter_table('endorsements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_endorsements_claim_id'))

    op.drop_table('endorsements')
    with op.batch_alter_table('skill_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_skill_claims_skill_id'))
        batch_op.drop_index(batch_op.f('ix_skill_claims_person_id'))

    op.drop_table('skill_claims')
    with op.batch_alter_table('skills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_skills_parent_id'))

    op.drop_table('skills')
    with op.batch_alter_table('availability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_availability_person_id'))

    op.drop_table('availability')
