"""transactions indexed by their stop time (#21): the open ones and today's found without a scan

The fleet gauges of /metrics (csms/queries/gauges.py) read, at every scrape, the open sessions
(kW now, sessions open) and those stopped today (kWh today). No index led with a time, so each
read walked the whole history: 400,000 past sessions cost PostgreSQL a parallel scan of ~100 ms
per scrape, growing with every day kept. Led by ``stop_timestamp``, the open sessions (NULL) are
one range and today's stops another. A session writes it twice (at its start, NULL; at its stop).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_transactions_stop', 'transactions', ['stop_timestamp'])


def downgrade() -> None:
    op.drop_index('ix_transactions_stop', table_name='transactions')
