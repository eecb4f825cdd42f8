"""the meter-value identity index leads with the timestamp (#18): new samples land at its end

The unique index that makes a resent MeterValues a no-op (0004) led with the charge point: with
thousands of charge points, every batch of samples touched as many leaf pages of it, all of them
written to SQLite's log at each commit (22 µs a sample on this machine; PostgreSQL's B-tree pays
in the same coin). Samples arrive with timestamps near now, so an index led by the timestamp
takes them near its right-hand end, a handful of pages per commit (6 µs a sample). It holds the
same columns: the same samples are duplicates. No query used its leading columns (meter values
are read by transaction).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_IDENTITY = ("measurand", "phase", "location", "context", "source")
_COALESCED = [f"coalesce({c}, '')" for c in _IDENTITY]


def _index(*leading: str) -> None:
    op.drop_index('ux_meter_values_sample', table_name='meter_values')
    op.create_index('ux_meter_values_sample', 'meter_values',
                    [*leading, *(sa.text(c) for c in _COALESCED)], unique=True)


def upgrade() -> None:
    _index('timestamp', 'charge_point_id', 'connector_id')


def downgrade() -> None:
    _index('charge_point_id', 'connector_id', 'timestamp')
