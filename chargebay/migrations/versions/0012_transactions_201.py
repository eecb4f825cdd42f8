"""OCPP 2.0.1 transactions in the one transactions table (#16)

A 2.0.1 transaction is named by its station (``station_transaction_id``, a string unique per
charge point) and reported by TransactionEvents with a sequence number each; ``transaction_events``
keeps one row per event, so a replay is answered without a duplicate and gaps show. A token of
2.0.1 may be 36 characters (1.6's idTag: 20): ``id_token`` keeps it whole.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('transactions', sa.Column('station_transaction_id', sa.String(length=36), nullable=True))
    op.add_column('transactions', sa.Column('remote_start_id', sa.Integer(), nullable=True))
    op.add_column('transactions', sa.Column('id_token', sa.String(length=36), nullable=True))
    op.create_index('ix_transactions_station_tx', 'transactions', ['charge_point_id', 'station_transaction_id'],
                    unique=True)
    op.create_table('transaction_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('seq_no', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=8), nullable=False),
    sa.Column('trigger_reason', sa.String(length=32), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transaction_events')),
    sa.UniqueConstraint('transaction_id', 'seq_no', name=op.f('uq_transaction_events_transaction_id_seq_no')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('transaction_events')
    op.drop_index('ix_transactions_station_tx', table_name='transactions')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('id_token')
        batch_op.drop_column('remote_start_id')
        batch_op.drop_column('station_transaction_id')
