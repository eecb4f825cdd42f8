"""one row per sampled value: a resent MeterValues is stored once (a unique expression index)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_IDENTITY = ("measurand", "phase", "location", "context", "source")
_COALESCED = [f"coalesce({c}, '')" for c in _IDENTITY]


def upgrade() -> None:
    # duplicates stored before this revision: keep the first of each
    op.execute(
        "DELETE FROM meter_values WHERE id NOT IN (SELECT min(id) FROM meter_values GROUP BY "
        f"charge_point_id, connector_id, timestamp, {', '.join(_COALESCED)})")
    op.create_index('ux_meter_values_sample', 'meter_values',
                    ['charge_point_id', 'connector_id', 'timestamp',
                     *(sa.text(c) for c in _COALESCED)], unique=True)


def downgrade() -> None:
    op.drop_index('ux_meter_values_sample', table_name='meter_values')
