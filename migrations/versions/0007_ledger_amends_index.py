"""ledger amends index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:00:00

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """A partial index on the few amending entries: a bonus statement no longer scans the ledger for them."""
    op.create_index(
        'ix_ledger_entries_amends',
        'ledger_entries',
        ['amends'],
        postgresql_where=sa.text('amends IS NOT NULL'),
        sqlite_where=sa.text('amends IS NOT NULL'),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index('ix_ledger_entries_amends', table_name='ledger_entries')
