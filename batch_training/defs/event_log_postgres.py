"""The production event log: Dagster's PostgreSQL storage with a small connection pool.

Dagster's ``PostgresEventLogStorage`` opens a new connection for every statement outside the
webserver (``NullPool``): a run's steps write each event that is not batched (step starts, check
evaluations, logs) on a connection of its own, which on a password-authenticated server is a TCP
connect, a SCRAM exchange and a new server process each (~2 s of a full-year range run on 2 cores,
profiled). This subclass keeps what the webserver already gets from Dagster
(``optimize_for_webserver``: a pool of one connection kept open, recycled, more opened under
concurrency and closed again) in every process that loads the instance, and writes a partitioned
check's planned rows with the event serialized once (``PlannedRowsOnce``). Every row is Dagster's.

A process holds at most one idle connection; ``dispose`` closes it. Name this class in
``dagster.yaml`` only where every process that reads that file (webserver, daemon, run and step
workers) has this package installed: the repository's stack (``make up``) and image do; Dagster's
Helm chart runs its own webserver and daemon images, so ``deploy/helm`` keeps Dagster's storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from batch_training.defs.event_log import PlannedRowsOnce

POOL = {"pool_size": 1, "max_overflow": 8, "pool_recycle": 300, "pool_pre_ping": True}


class PooledPostgresEventLogStorage(PlannedRowsOnce, PostgresEventLogStorage):
    """``PostgresEventLogStorage`` with a kept-open connection (see the module's docstring)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None,
                 token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        self._engine.dispose()  # Dagster's NullPool engine (it holds nothing once its set-up is done)
        self._engine = create_pg_engine(self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT", **POOL)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data, token_provider=get_token_provider_from_config(config_value))

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
