"""ids of the locker domain (and API tokens) are never given twice: SQLite AUTOINCREMENT

Without AUTOINCREMENT SQLite gives a new row ``max(id) + 1``, so deleting the newest locker (user,
bank, …) hands its id to the next one, and the audit log of the new locker shows the deleted one's
history. On SQLite every table whose ids people or the audit log refer to is rebuilt with
AUTOINCREMENT (rows and ids kept), and its ``sqlite_sequence`` starts above the highest id ever
used: the current maximum, or a higher id the audit log names (a record deleted before this
revision). PostgreSQL sequences never go back: nothing to do there.

The rebuild drops and renames tables that others reference: it must run with SQLite's foreign
keys off (``chargebay db upgrade`` and ``serve`` do), or dropping ``lockers`` would cascade into
its rentals; it refuses otherwise.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.engine import Connection

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# table -> where the audit log names its ids: a column of audit_log, or a key of its JSON details
# (the back office's ``<thing>_id`` and the gateway's and smart-lock API's own spellings)
AUDITED: dict[str, tuple[str, ...]] = {
    'api_tokens': (),
    'audit_log': (),
    'locations': ('$.location_id',),
    'areas': ('$.area_id',),
    'devices': ('device_id', '$.deviceId'),
    'locker_types': ('$.locker_type_id', '$.lockerTypeId'),
    'bank_types': ('$.bank_type_id', '$.bankTypeId'),
    'banks': ('$.bank_id', '$.bankId'),
    'lockers': ('locker_id',),
    'roles': ('$.role_id',),
    'users': ('$.user_id', '$.userId', '$.userid'),
    'user_groups': ('$.group_id',),
    'shifts': ('$.shift_id',),
    'shift_devices': ('$.shift_device_id',),
    'rentals': ('$.transactionId',),
    'lock_grants': ('$.grantid',),
    'lock_groups': ('$.groupid',),
}


def _highest_ids(bind: Connection) -> dict[str, int]:
    """The highest id each table ever gave: its rows' and the audit log's (one pass over it)."""
    def named(where: str) -> str:
        if not where.startswith('$'):
            return f'max({where})'
        return (f"max(CASE WHEN json_valid(details) THEN "
                f"CAST(json_extract(details, '{where}') AS INTEGER) END)")

    refs = [(table, where) for table, wheres in AUDITED.items() for where in wheres]
    audited = bind.exec_driver_sql(
        f"SELECT {', '.join(named(where) for _, where in refs)} FROM audit_log").one()
    highest = {table: bind.exec_driver_sql(f'SELECT coalesce(max(id), 0) FROM {table}').scalar_one()
               for table in AUDITED}
    for (table, _), value in zip(refs, audited, strict=True):
        highest[table] = max(highest[table], value or 0)
    return highest


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return  # PostgreSQL: a sequence never gives an id twice
    if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('revision 0007 rebuilds tables others reference: run it with SQLite '
                           'foreign keys off (chargebay db upgrade does), or rows would cascade away')
    highest = _highest_ids(bind) if autoincrement else {}
    for table in AUDITED:
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass
    for table, seq in highest.items():
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('{table}', {int(seq)})")
    broken = bind.exec_driver_sql('PRAGMA foreign_key_check').all()
    if broken:
        raise RuntimeError(f'revision 0007 left broken references: {broken[:10]}')


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
