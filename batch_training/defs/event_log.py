"""The embedded default's event log: Dagster's consolidated SQLite storage, writing a batch of events
in one transaction.

A range run materializes every day of an asset as one event; Dagster hands such events to the
storage as a batch when ``DAGSTER_EVENT_BATCH_SIZE`` is set, but the SQLite storages store a batch
one event at a time: per event a new SQLAlchemy engine, four connections and four commits, each
commit an fsync of the WAL (~6.6 ms per event on 2 cores; a year of three assets is 1,100 events).
This subclass keeps one engine, remembers which tables (and asset key columns) exist, and stores
a batch inside one transaction on one connection, so a batch costs one commit. Every event is still written by
Dagster's own ``store_event``, row for row as before; only the transaction around them changes, and
the planned rows of a partitioned check are built with the event serialized once (the same rows).

It relies on internals of Dagster's SQL event log: ``_connect`` (the context manager every run and
index connection goes through), ``_has_asset_key_col_on_connection`` and the row shape of
``_store_asset_check_evaluation_planned`` (``AssetCheckExecutionsTable``); ``test_event_log.py``
pins each against Dagster's own storage, so an upgrade that changes them fails loudly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import serialize_value
from sqlalchemy.pool import NullPool


class PlannedRowsOnce:
    """Dagster's rows for a planned partitioned check (one per planned partition), built with the
    event serialized once instead of once per row and inserted as one executemany: a check planned
    over a year was 365 serializations and a 365-row statement compiled anew, ~0.2 s each of a range
    run's checks. Mixed into a ``SqlEventLogStorage`` subclass, before it."""

    def _store_asset_check_evaluation_planned(self, event, event_id: int | None) -> None:
        planned = event.dagster_event.event_specific_data
        keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = {"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name, "run_id": event.run_id,
               "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
               "evaluation_event": serialize_value(event),
               "evaluation_event_timestamp": self._event_insert_timestamp(event),
               "evaluation_event_storage_id": event_id}
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": key} for key in keys])


class BatchingSqliteEventLogStorage(PlannedRowsOnce, ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with one engine and one transaction per event batch."""

    def __init__(self, base_dir: str, inst_data=None):
        self._held = threading.local()
        self._tables: dict[str, bool] = {}
        self._columns: dict[str, bool] = {}  # asset key table columns found
        self._engine: sa.engine.Engine | None = None
        super().__init__(base_dir, inst_data=inst_data)

    def _shared_engine(self) -> sa.engine.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self._conn_string, poolclass=NullPool,
                                            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        return self._engine

    @contextmanager
    def _connect(self) -> Iterator[sa.engine.Connection]:
        held = getattr(self._held, "conn", None)
        if held is not None:  # inside a batch: join its transaction
            yield held
            return
        with self._shared_engine().connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        # asked on every asset event; a table, once there, stays (only its absence is asked again)
        if not self._tables.get(table_name):
            self._tables[table_name] = super().has_table(table_name)
        return self._tables[table_name]

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        # inspected on every asset event (~0.3 ms each); a column, once there, stays
        if not self._columns.get(column_name):
            self._columns[column_name] = super()._has_asset_key_col_on_connection(conn, column_name)
        return self._columns[column_name]

    def store_event_batch(self, events: Sequence) -> None:
        if getattr(self._held, "conn", None) is not None:
            for event in events:
                self.store_event(event)
            return
        with self._shared_engine().connect() as conn, conn.begin():
            self._held.conn = conn
            try:
                for event in events:
                    self.store_event(event)
            finally:
                self._held.conn = None

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        super().dispose()
