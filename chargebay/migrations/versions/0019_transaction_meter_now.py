"""Open transactions keep their latest power, energy register and 2.0.1 chargingState (#21)

The dashboard's totals (kW now, kWh today) and the per-site gauges read them for every open
transaction at once: found among the meter values each time, that was a search through every
sample of every session. They are written with the transaction's last-heard time (the writer's
coalesced touches), so a meter value costs no statement of its own. A 2.0.1 connector's status
says only Occupied: its transaction's chargingState says whether it charges.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('power_w', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('register_wh', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('charging_state', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('charging_state')
        batch_op.drop_column('register_wh')
        batch_op.drop_column('power_w')
