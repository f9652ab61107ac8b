"""The production configuration against a real PostgreSQL: the top-level dagster.yaml for Dagster's
own storage, and a PostgreSQL DWH for the extract."""

import datetime as dt
import shutil
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest

from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.spec import load_specs
from batch_training_tests.support.dagster_run import ingest_defs, materialized_days, run_range

ROOT = Path(__file__).resolve().parents[1]
DAYS = ["2013-05-01", "2013-05-02", "2013-05-03"]


@pytest.fixture
def production_instance(postgres_server, tmp_path, monkeypatch):
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    for var, value in {"DAGSTER_PG_HOST": postgres_server.host, "DAGSTER_PG_PORT": str(postgres_server.port),
                       "DAGSTER_PG_DB": name, "DAGSTER_PG_USER": postgres_server.user,
                       "DAGSTER_PG_PASSWORD": postgres_server.password}.items():
        monkeypatch.setenv(var, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    yield instance, postgres_server.url(name)
    instance.dispose()
    postgres_server.drop_database(name)


def test_dagster_yaml_configures_postgres_storage_and_recovery(production_instance):
    instance, _ = production_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert instance.run_monitoring_enabled
    assert not instance.run_retries_retry_on_asset_or_op_failure


def test_ingest_from_a_postgres_dwh_is_recorded_in_postgres(production_instance, postgres_url, tmp_path):
    instance, dagster_db_url = production_instance
    spec = load_specs()[0]
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 5, 1), last_day=dt.date(2013, 5, 3),
                                             anomaly_rate=0.05))
    result = run_range(ingest_defs(spec, postgres_url, tmp_path / "data"), spec, DAYS[0], DAYS[-1], instance)

    assert result.success
    assert materialized_days(instance, spec, "cleansed") == DAYS
    with psycopg.connect(dagster_db_url) as con:
        counts = dict(con.execute(
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1",
            (result.run_id,)).fetchall())
    assert counts["ASSET_MATERIALIZATION"] == 6 * len(DAYS)  # raw, cleansed, quarantine of flights and weather
    with psycopg.connect(postgres_url) as con:
        per_day = dict(con.execute(
            "SELECT flight_date::text, count(*) FROM flights GROUP BY 1").fetchall())
    data = tmp_path / "data" / "flights_delay"
    for day in DAYS:
        clean = pq.read_metadata(data / "cleansed" / f"{day}.parquet").num_rows
        quarantined = pq.read_metadata(data / "quarantine" / f"{day}.parquet").num_rows
        assert clean + quarantined == per_day[day]
        assert quarantined > 0
