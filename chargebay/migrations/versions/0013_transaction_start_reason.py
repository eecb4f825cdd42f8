"""Why a transaction started (#16): an OCPP 2.0.1 transaction's ``start_reason``

The triggerReason of the TransactionEvent that made the row (Authorized, RemoteStart,
CablePluggedIn, ...), listed beside ``stop_reason``. OCPP 1.6 says no start reason: null there.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('transactions', sa.Column('start_reason', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transactions') as batch:
        batch.drop_column('start_reason')
