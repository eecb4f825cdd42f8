"""Load groups lose ``strict_failsafe`` (#19): every group now keeps its limit through an outage

The failsafe limits are recomputed beside the shares in every round (``csms.energy.outage``), so
shares and failsafes never add up past a limit without holding watts back from the sessions:
there is nothing left to opt into. The failsafe each member accepted is kept (``load_failsafes``):
after a restart a member not connected yet is counted at what it holds.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('load_failsafes',
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('limit_w', sa.Float(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('charge_point_id', 'connector_id', name=op.f('pk_load_failsafes'))
    )
    with op.batch_alter_table('load_groups', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('strict_failsafe')


def downgrade() -> None:
    op.drop_table('load_failsafes')
    with op.batch_alter_table('load_groups', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('strict_failsafe', sa.Boolean(), nullable=False, server_default=sa.false()))
