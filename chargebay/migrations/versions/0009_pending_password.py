"""a password a charge point may hold: an AuthorizationKey sent and never answered (#15)

A rotation whose ChangeConfiguration timed out leaves the central system unsure which password the
charge point holds. The old one stays; the new one's hash is kept beside it, and whichever the
charge point presents first settles it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_pending_hash', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.drop_column('password_pending_hash')
