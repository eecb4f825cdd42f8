"""Site load management (#19): load groups, their members, allocations sent, draw samples

A group's limit and a member's rating stay in the unit the operator gave (amps per phase or
watts); an allocation is in watts, as the allocator computes it. One group per outlet: the pair
(charge point, connector) is unique over all members, so a draw is never counted twice.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('load_groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('limit_value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=1), nullable=False),
    sa.Column('phases', sa.Integer(), nullable=False),
    sa.Column('min_per_session', sa.Float(), nullable=False),
    sa.Column('policy', sa.String(length=16), nullable=False),
    sa.Column('windows', sa.Text(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('tag_priorities', sa.Text(), nullable=False),
    sa.Column('strict_failsafe', sa.Boolean(), nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('updated_at', _TS, nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['load_groups.id'], name=op.f('fk_load_groups_parent_id_load_groups'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_load_groups_name')),
    sqlite_autoincrement=True
    )
    op.create_table('load_group_members',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Float(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['load_groups.id'],
                            name=op.f('fk_load_group_members_group_id_load_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_group_members')),
    sa.UniqueConstraint('charge_point_id', 'connector_id', name='uq_load_member_outlet'),
    sqlite_autoincrement=True
    )
    op.create_index('ix_load_group_members_group', 'load_group_members', ['group_id'])
    op.create_table('load_allocations',
    sa.Column('charge_point_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', _ID, nullable=True),
    sa.Column('limit_w', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_at', _TS, nullable=False),
    sa.PrimaryKeyConstraint('charge_point_id', 'connector_id', name=op.f('pk_load_allocations'))
    )
    op.create_table('load_group_samples',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('at', _TS, nullable=False),
    sa.Column('draw_w', sa.Float(), nullable=False),
    sa.Column('allocated_w', sa.Float(), nullable=False),
    sa.Column('limit_w', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['load_groups.id'],
                            name=op.f('fk_load_group_samples_group_id_load_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_group_samples'))
    )
    op.create_index('ix_load_group_samples_group_at', 'load_group_samples', ['group_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_load_group_samples_group_at', table_name='load_group_samples')
    op.drop_table('load_group_samples')
    op.drop_table('load_allocations')
    op.drop_index('ix_load_group_members_group', table_name='load_group_members')
    op.drop_table('load_group_members')
    op.drop_table('load_groups')
