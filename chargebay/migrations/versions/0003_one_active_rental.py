"""at most one active rental per locker (a partial unique index)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('uq_rentals_one_active', 'rentals', ['locker_id'], unique=True,
                    sqlite_where=sa.text('released_at IS NULL'),
                    postgresql_where=sa.text('released_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_rentals_one_active', table_name='rentals')
