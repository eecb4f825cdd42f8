"""the message log's per-charge-point index is kept in batches (#18): frames land unindexed

``ix_messages_cp_id`` (charge point, id) took every frame at the right-hand end of that charge
point's range of the index: with a thousand charge points a commit of a few hundred frames
touched a few hundred leaf pages, each written whole to SQLite's log — 12 of the 16 µs a frame
cost on this machine (1.7 µs with ten charge points). Frames now land in ``messages`` alone
(appended at its end) and a trigger notes each in ``message_pending`` (id, charge point: a narrow
append). A job of the central system moves the pending ones into ``message_index`` (charge point,
id) every ten seconds, sorted, so a leaf page takes ten seconds of a charge point's frames in one
write. A charge point's log is read from both (``csms.store.message_log``), so nothing is ever
missing from it; several nodes moving at once each move a row once (PostgreSQL: ``DELETE …
RETURNING`` locks what it takes; SQLite has one writer).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER messages_pending AFTER INSERT ON messages
BEGIN
    INSERT INTO message_pending (id, charge_point_id) VALUES (new.id, new.charge_point_id);
END
"""
# a statement-level trigger with its transition table: one INSERT … SELECT per multi-row insert
_PG_FUNCTION = """
CREATE FUNCTION messages_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_pending (id, charge_point_id) SELECT id, charge_point_id FROM inserted;
    RETURN NULL;
END
$$
"""
_PG_TRIGGER = """
CREATE TRIGGER messages_pending AFTER INSERT ON messages REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION messages_pending()
"""


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        'message_pending',
        sa.Column('id', id_type, primary_key=True, autoincrement=False),
        sa.Column('charge_point_id', sa.String(48), nullable=False),
    )
    op.create_table(
        'message_index',
        sa.Column('charge_point_id', sa.String(48), primary_key=True),
        sa.Column('id', id_type, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        # Other nodes may still be logging: a frame committed after the backfill's snapshot and
        # before the trigger exists would be in neither table. Writers wait for this migration's
        # commit instead (readers do not); SQLite's migration holds the write lock already.
        op.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
    op.execute("INSERT INTO message_index (charge_point_id, id) "
               "SELECT charge_point_id, id FROM messages ORDER BY charge_point_id, id")
    op.drop_index('ix_messages_cp_id', table_name='messages')
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER messages_pending" + (
        " ON messages" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION messages_pending()")
    op.create_index('ix_messages_cp_id', 'messages', ['charge_point_id', 'id'])
    op.drop_table('message_index')
    op.drop_table('message_pending')
