"""Bring a registry database made by an earlier version up to the current tables, in place.

``metadata.create_all`` creates what is missing but never changes a table that exists. The failure
ledger has since gained three columns (a pending relaunch: ``relaunch_key``, ``relaunch_requested_at``;
the backfill that relaunched it: ``backfill_id``)
and three failure classes (``config``, ``infrastructure``; the class CHECK names them). PostgreSQL
alters the table; SQLite cannot change a CHECK constraint, so there the table is rebuilt (renamed,
created anew, rows copied, old one dropped), all in the caller's write transaction.

The ledger itself is ``batch_training.operations.ledger``; its table is declared on the registry's
``MetaData`` (``operations.ledger_schema``), and importing it here is what makes every registry
``Database`` create and migrate it with the registry's own tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from batch_training.errors import FAILURE_CLASSES

# A module import, not ``from ... import failures``: ledger_schema imports the registry's ``MetaData``,
# so whichever of the two is imported first finds the other part way through its own import.
from batch_training.operations import ledger_schema

_NEW_COLUMNS = {"relaunch_key": "VARCHAR(400)", "relaunch_requested_at": "TIMESTAMP", "backfill_id": "VARCHAR(200)"}
_CLASS_CHECK = "ck_failure_ledger_class"


def _classes_sql() -> str:
    return "failure_class IN (" + ", ".join(f"'{c}'" for c in FAILURE_CLASSES) + ")"


def _sqlite_check_is_current(conn: Connection) -> bool:
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'failure_ledger'").scalar()
    return all(f"'{c}'" in (sql or "") for c in FAILURE_CLASSES)


def _rebuild_sqlite(conn: Connection) -> None:
    old_columns = [c["name"] for c in sa.inspect(conn).get_columns("failure_ledger")]
    conn.exec_driver_sql("ALTER TABLE failure_ledger RENAME TO failure_ledger_old")
    failures = ledger_schema.failures
    for index in failures.indexes:
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    failures.create(conn)
    names = ", ".join(f'"{c}"' for c in old_columns)
    conn.exec_driver_sql(f"INSERT INTO failure_ledger ({names}) SELECT {names} FROM failure_ledger_old")
    conn.exec_driver_sql("DROP TABLE failure_ledger_old")


def _update_postgres_check(conn: Connection) -> None:
    found = conn.execute(sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
                         {"name": _CLASS_CHECK}).scalar()
    if found is not None and all(f"'{c}'" in found for c in FAILURE_CLASSES):
        return
    conn.exec_driver_sql(f"ALTER TABLE failure_ledger DROP CONSTRAINT IF EXISTS {_CLASS_CHECK}")
    conn.exec_driver_sql(f"ALTER TABLE failure_ledger ADD CONSTRAINT {_CLASS_CHECK} CHECK ({_classes_sql()})")


def migrate(conn: Connection, dialect: str) -> None:
    """Apply what an older failure ledger lacks; a current database is left as it is."""
    inspector = sa.inspect(conn)
    if "failure_ledger" not in inspector.get_table_names():
        return
    if dialect == "sqlite" and not _sqlite_check_is_current(conn):
        _rebuild_sqlite(conn)
        return
    have = {c["name"] for c in inspector.get_columns("failure_ledger")}
    for name, kind in _NEW_COLUMNS.items():
        if name not in have:
            kind = "TIMESTAMP WITH TIME ZONE" if dialect == "postgresql" and kind == "TIMESTAMP" else kind
            conn.exec_driver_sql(f"ALTER TABLE failure_ledger ADD COLUMN {name} {kind}")
    if dialect == "postgresql":
        _update_postgres_check(conn)
