"""security profiles, reservations, local lists, issued certificates and security events (#15)

Each charge point gets the security profile it must connect at (0 for all existing ones: what
they did before) and the version of the local list it accepted last. The security events a charge
point reported so far move from ``notifications`` to their own table, with the ones the central
system records itself (refused handshakes, refused CSRs).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issued_certificates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('key_type', sa.String(length=16), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('certificate', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issued_certificates')),
    sa.UniqueConstraint('serial', name=op.f('uq_issued_certificates_serial')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('issued_certificates', schema=None) as batch_op:
        batch_op.create_index('ix_issued_certificates_cp', ['charge_point_id', 'created_at'], unique=False)

    op.create_table('local_list_entries',
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('id_tag', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expiry_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('parent_id_tag', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('charge_point_id', 'id_tag', name=op.f('pk_local_list_entries'))
    )
    op.create_table('reservations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('id_tag', sa.String(length=20), nullable=False),
    sa.Column('parent_id_tag', sa.String(length=20), nullable=True),
    sa.Column('expiry_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('requested_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index('ix_reservations_cp_status', ['charge_point_id', 'status'], unique=False)

    op.create_table('security_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('type', sa.String(length=50), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('tech_info', sa.Text(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_events'))
    )
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index('ix_security_events_cp_time', ['charge_point_id', 'received_at'], unique=False)
        batch_op.create_index('ix_security_events_time', ['received_at'], unique=False)

    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('security_profile', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('security_profile_pending', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('local_list_version', sa.Integer(), nullable=True))

    op.execute("INSERT INTO security_events (charge_point_id, type, source, tech_info, timestamp, "
               "received_at) SELECT charge_point_id, coalesce(status, 'Unknown'), 'charge_point', "
               "detail, coalesce(timestamp, received_at), received_at FROM notifications "
               "WHERE kind = 'security_event' ORDER BY id")
    op.execute("DELETE FROM notifications WHERE kind = 'security_event'")



def downgrade() -> None:
    op.execute("INSERT INTO notifications (charge_point_id, kind, status, timestamp, detail, "
               "received_at) SELECT charge_point_id, 'security_event', type, timestamp, tech_info, "
               "received_at FROM security_events WHERE source = 'charge_point' ORDER BY id")
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.drop_column('local_list_version')
        batch_op.drop_column('security_profile_pending')
        batch_op.drop_column('security_profile')

    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index('ix_security_events_time')
        batch_op.drop_index('ix_security_events_cp_time')

    op.drop_table('security_events')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_reservations_cp_status')

    op.drop_table('reservations')
    op.drop_table('local_list_entries')
    with op.batch_alter_table('issued_certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_issued_certificates_cp')

    op.drop_table('issued_certificates')
