"""the device model of OCPP 2.0.1 stations (#16): each variable attribute a station reported

NotifyReport chains (GetBaseReport, GetReport) and the answers to GetVariables and SetVariables
keep one row per component (and its instance and EVSE/connector), variable (and instance) and
attribute type (Actual, Target, MinSet, MaxSet), with its value, mutability and characteristics.
Absent parts of the key are stored as '' (instances) and 0 (EVSE and connector ids, which 2.0.1
numbers from 1), so the key has no NULLs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_variables',
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('component', sa.String(length=50), nullable=False),
    sa.Column('component_instance', sa.String(length=50), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=50), nullable=False),
    sa.Column('variable_instance', sa.String(length=50), nullable=False),
    sa.Column('attribute_type', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=2500), nullable=True),
    sa.Column('mutability', sa.String(length=10), nullable=True),
    sa.Column('data_type', sa.String(length=20), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['charge_point_id'], ['charge_points.id'],
                            name=op.f('fk_device_variables_charge_point_id_charge_points'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('charge_point_id', 'component', 'component_instance', 'evse_id', 'connector_id',
                            'variable', 'variable_instance', 'attribute_type', name=op.f('pk_device_variables'))
    )


def downgrade() -> None:
    op.drop_table('device_variables')
