"""OCPP 2.0.1 beside 1.6 (#16): each charge point's protocol version, and its EVSE topology

``ocpp_version`` is the version its last connection negotiated; ``ocpp_version_pinned`` the one an
operator requires of it (null: the newest both sides speak). 2.0.1 names a station's vendor in up
to 50 characters (1.6: 20). ``evse_connectors`` keeps a 2.0.1 station's EVSEs and their
connectors as its StatusNotifications report them (1.6 has connectors only).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ocpp_version', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('ocpp_version_pinned', sa.String(length=8), nullable=True))
        batch_op.alter_column('vendor', existing_type=sa.String(length=20), type_=sa.String(length=50),
                              existing_nullable=True)
    op.create_table('evse_connectors',
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['charge_point_id'], ['charge_points.id'],
                            name=op.f('fk_evse_connectors_charge_point_id_charge_points'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('charge_point_id', 'evse_id', 'connector_id', name=op.f('pk_evse_connectors'))
    )


def downgrade() -> None:
    op.drop_table('evse_connectors')
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.alter_column('vendor', existing_type=sa.String(length=50), type_=sa.String(length=20),
                              existing_nullable=True)
        batch_op.drop_column('ocpp_version_pinned')
        batch_op.drop_column('ocpp_version')
