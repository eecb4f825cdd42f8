"""how a command's callback went: delivered, failed, or refused (its address not allowed)

The callback URL is checked again when the outcome is sent (its name may resolve elsewhere by
then); a delivery refused or failed at that moment is recorded here instead of only in the log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('callback_error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_column('callback_error')
        batch_op.drop_column('callback_status')
