"""Alerts (#21): rules (offline for N minutes, Faulted, boot rejected, transaction stuck, load
group over its limit) and the alerts they open, each acknowledged by a person; at most one open
alert per rule and subject (a unique key set only while open). Four rules to start with.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TS = sa.DateTime(timezone=True)
# what a new installation watches before anyone set a rule: a charge point gone for ten minutes,
# a connector Faulted, a boot refused, a session silent past CHARGEBAY_STUCK_TRANSACTION_AFTER
DEFAULT_RULES = (("offline", 10), ("faulted", 0), ("boot_rejected", 0), ("stuck_transaction", 0))


def upgrade() -> None:
    rules = op.create_table('alert_rules',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('emails', sa.Text(), nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('updated_at', _TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sqlite_autoincrement=True
    )
    op.create_table('alerts',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('rule_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=120), nullable=False),
    sa.Column('charge_point_id', sa.String(length=48), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('load_group_id', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('since', _TS, nullable=True),
    sa.Column('opened_at', _TS, nullable=False),
    sa.Column('cleared_at', _TS, nullable=True),
    sa.Column('acknowledged_at', _TS, nullable=True),
    sa.Column('acknowledged_by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('open_key', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('open_key', name='uq_alerts_open_key'),
    sqlite_autoincrement=True
    )
    op.create_index('ix_alerts_cleared_id', 'alerts', ['cleared_at', 'id'])
    now = datetime.now(UTC)
    op.bulk_insert(rules, [{"kind": kind, "minutes": minutes, "enabled": True, "emails": "[]",
                            "created_at": now, "updated_at": now} for kind, minutes in DEFAULT_RULES])


def downgrade() -> None:
    op.drop_index('ix_alerts_cleared_id', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alert_rules')
