"""how a transaction ended, when it was last heard of, and meter values outside its window

A transaction can now end other than by its charge point's StopTransaction (superseded by a newer
one on its connector, the charge point rebooted and reported the connector Available, silent past
the stale age, or closed by an operator): ``end_source`` says which, ``ended_by`` who (an
operator), ``end_detail`` why. ``last_activity_at`` is when the central system last heard of the
transaction (its start, a meter value). ``meter_values.outside_tx`` flags samples that arrived for a
transaction outside its window (after its stop, or above its meterStop).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('ended_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('end_detail', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
    # what ended before this revision ended by its charge point's word
    op.execute("UPDATE transactions SET end_source = 'charge_point' WHERE stop_timestamp IS NOT NULL")
    op.execute("UPDATE transactions SET stop_reason = 'Local' "
               "WHERE stop_timestamp IS NOT NULL AND stop_reason IS NULL")
    op.execute("UPDATE stop_records SET reason = 'Local' WHERE reason IS NULL")
    op.execute("UPDATE transactions SET last_activity_at = created_at")
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outside_tx', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.drop_column('outside_tx')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('last_activity_at')
        batch_op.drop_column('end_detail')
        batch_op.drop_column('ended_by')
        batch_op.drop_column('end_source')
