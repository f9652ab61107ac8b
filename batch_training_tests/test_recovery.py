"""Recovery against a real PostgreSQL DWH, a real local HTTP server receiving the alerts, and the
recovery sensor evaluated with the real instance (the daemon's launches done in process)."""

import datetime as dt
import signal
import subprocess
import sys

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest

from batch_training.operations.ledger import Ledger
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training_tests.support.automation import Daemon, automation_defs, make_settings
from batch_training_tests.support.dagster_run import check_evaluations

pytestmark = pytest.mark.postgres
DAYS = ["2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04"]


def ingest_range(defs, instance, first, last):
    job = defs.resolve_job_def("flights_delay__ingest")
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def ledger(settings) -> Ledger:
    return Ledger(f"sqlite:///{settings.home / 'registry.db'}")


def targeted(request) -> dict[str, list[str]]:
    """What a backfill request targets: asset (under the spec) -> days."""
    subset = request.asset_graph_subset
    return {"/".join(key.path[1:]): sorted(subset.get_partitions_subset(key).get_partition_keys())
            for key in subset.asset_keys}


def ledger_story(instance, asset, day) -> list[tuple]:
    """The ledger's observations on one asset partition, oldest first: (change, status, attempts, id)."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["flights_delay", *asset.split("/")]), asset_partitions=[day]),
        limit=100, ascending=True).records
    meta = [r.asset_observation.metadata for r in records]
    return [(m["ledger_change"].value, m["ledger_status"].value, m["attempts"].value, m["ledger_id"].value)
            for m in meta if "ledger_id" in m]


def materialized(instance, asset):
    return sorted(instance.get_materialized_partitions(dg.AssetKey(["flights_delay", asset])))


def test_dwh_outage_is_retried_relaunched_within_budget_and_recovered_exactly(
        postgres_server, postgres_url, tmp_path, alerts, flights):
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 6)))
    settings = make_settings(tmp_path, relaunch_budget=3)
    defs = automation_defs(flights, settings, postgres_url, alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    assert ingest_range(defs, instance, "2013-03-05", "2013-03-06").success  # a healthy earlier backfill

    postgres_server.stop()
    try:
        failed = ingest_range(defs, instance, DAYS[0], DAYS[-1])
        assert not failed.success
        retries = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        # each table's extract retried the transient fault, then gave up
        assert sorted(e.step_key for e in retries) == sorted(["flights_delay__raw", "flights_delay__weather__raw"]
                                                             * settings.retry_max)

        daemon = Daemon(defs, instance)
        [request] = daemon.tick()  # both tables failed on the same days: one backfill takes both
        assert targeted(request) == {asset: DAYS for asset in (
            "raw", "cleansed", "quarantine", "weather/raw", "weather/cleansed", "weather/quarantine")}
        assert request.tags["batch_training/trigger"] == "recovery" and request.tags["batch_training/attempt"] == "1"
        with ledger(settings) as book:
            entries = book.list(spec="flights_delay")
        # asked for, not yet seen to exist: the entries wait for the backfill (no attempt counted yet)
        key = request.tags["batch_training/relaunch"]
        assert sorted((e.asset, e.partition, e.failure_class, e.status, e.attempts, e.relaunch_key) for e in entries) == \
            sorted((asset, day, "transient", "open", 0, key)
                   for asset in ("flights_delay/raw", "flights_delay/weather/raw") for day in DAYS)
        assert request.tags["batch_training/ledger_ids"] == ",".join(str(e.id) for e in sorted(entries, key=lambda e: e.id))
        assert "connect" in entries[0].error.lower() and postgres_server.password not in entries[0].error

        first = daemon.launch(request)  # still down: the backfill's one run fails, the budget is counted
        assert first.status == "COMPLETED_FAILED" and len(first.results) == 1
        [again] = daemon.tick()
        assert again.tags["batch_training/relaunch"] != key and again.tags["batch_training/attempt"] == "2"
        assert targeted(again) == targeted(request)
    finally:
        postgres_server.start()

    second = daemon.launch(again)
    assert second.status == "COMPLETED_SUCCESS"
    assert daemon.tick() == []
    with ledger(settings) as book:
        entries = book.list(spec="flights_delay")
    assert {(e.partition, e.status, e.attempts, e.backfill_id) for e in entries} == {
        (day, "resolved", 2, second.backfill_id) for day in DAYS}
    assert len(entries) == 2 * len(DAYS)
    assert materialized(instance, "cleansed") == sorted(DAYS + ["2013-03-05", "2013-03-06"])
    # each attempt is one Dagster backfill whose one run covers the range
    recovery = {b.backfill_id: b for b in instance.get_backfills() if b.tags.get("batch_training/trigger") == "recovery"}
    assert {i: (b.status.value, b.tags["batch_training/attempt"]) for i, b in recovery.items()} == {
        first.backfill_id: ("COMPLETED_FAILED", "1"), second.backfill_id: ("COMPLETED_SUCCESS", "2")}
    for backfill_id in recovery:
        [run] = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))]
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == \
            (DAYS[0], DAYS[-1])
    # the ledger's story is on each failed partition, newest last
    story = ledger_story(instance, "raw", DAYS[1])
    assert story[0][:2] == ("recorded", "open") and story[-1][:3] == ("resolved", "resolved", 2)
    assert ("relaunched", "rekicked", 2) in [s[:3] for s in story]
    assert alerts.received == []  # transient and recovered within the budget: nobody is paged


def test_spent_budget_alerts_once_and_stops_launching(postgres_server, postgres_url, tmp_path, alerts, flights):
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 2)))
    settings = make_settings(tmp_path, relaunch_budget=1, retry_max=0)
    defs = automation_defs(flights, settings, postgres_url, alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    daemon = Daemon(defs, instance)
    postgres_server.stop()
    try:
        assert not ingest_range(defs, instance, DAYS[0], DAYS[1]).success
        [request] = daemon.tick()
        assert not daemon.launch(request).success
        assert daemon.tick() == [] and daemon.tick() == []
    finally:
        postgres_server.start()
    assert alerts.kinds() == ["retries_exhausted"]
    body = alerts.received[0]
    assert body["batch_training"]["ledger_id"] is not None and "/runs/" in body["batch_training"]["run_url"]
    # the last attempt was a recovery backfill: the alert links it
    [backfill] = [b for b in dg.DagsterInstance.get_backfills(instance) if b.tags.get("batch_training/trigger") == "recovery"]
    assert body["batch_training"]["link"] == f"http://127.0.0.1:3000/runs/b/{backfill.backfill_id}"
    with ledger(settings) as book:
        assert {(e.status, e.attempts) for e in book.list(spec="flights_delay")} == {("open", 1)}


def test_anomalies_over_the_limit_fail_once_without_retry_then_rekick_after_the_fix(
        postgres_url, tmp_path, alerts, flights):
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 1), anomaly_rate=0.9))
    settings = make_settings(tmp_path)
    defs = automation_defs(flights, settings, postgres_url, alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("flights_delay__ingest")
    failed = job.execute_in_process(instance=instance, partition_key=DAYS[0], raise_on_error=False)
    assert not failed.success
    assert not check_evaluations(failed)["cleansed:quarantine_rate"].passed
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]

    daemon = Daemon(defs, instance)
    assert daemon.tick() == [] and daemon.tick() == []  # evaluated twice: nothing launched, nothing doubled
    assert alerts.kinds() == ["data_failure"]
    with ledger(settings) as book:
        [entry] = book.list(spec="flights_delay")
    assert (entry.asset, entry.partition, entry.failure_class, entry.status) == (
        "flights_delay/cleansed", DAYS[0], "data", "open")

    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 1)))  # fixed
    from batch_training.defs import build_plans
    from batch_training.defs.rekick import rekick
    from batch_training.defs.runner import LocalRunner
    from batch_training.operations.alerts import alert_sink

    runner = LocalRunner(defs, build_plans([flights], settings), settings, instance,
                         ledger_url=f"sqlite:///{settings.home / 'registry.db'}", sink=alert_sink("webhook", alerts.url))
    [result] = rekick(runner, [entry.id])
    assert result.success
    daemon.tick()
    with ledger(settings) as book:
        assert book.get(entry.id).status == "resolved"
    assert materialized(instance, "cleansed") == [DAYS[0]]


def test_killed_connection_mid_extract_is_retried_with_exact_rows(postgres_url, tmp_path, alerts, flights):
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 20)))
    settings = make_settings(tmp_path, retry_max=3)
    defs = automation_defs(flights, settings, postgres_url, alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    # The killer locks the table, so the extract's query waits where it can be seen, then terminates
    # that backend (pg_terminate_backend) and releases the lock: the retry reads the whole range again.
    killer = subprocess.Popen([sys.executable, "-c", _KILLER, postgres_url], stdout=subprocess.PIPE, text=True)
    try:
        assert killer.stdout.readline().strip() == "locked"
        result = ingest_range(defs, instance, "2013-03-01", "2013-03-20")
    finally:
        killer.wait(timeout=60)
    assert killer.returncode == 0, "the killer never saw the extract's query"
    assert result.success
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    with psycopg.connect(postgres_url) as con:
        dwh = dict(con.execute("SELECT flight_date::text, count(*) FROM flights GROUP BY 1").fetchall())
    assert len(dwh) == 20
    for day, rows in dwh.items():
        assert pq.read_metadata(settings.data_dir / "flights_delay" / "raw" / f"{day}.parquet").num_rows == rows


_KILLER = """
import sys, time, psycopg
url = sys.argv[1]
with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
    locker.execute("LOCK TABLE flights IN ACCESS EXCLUSIVE MODE")
    print("locked", flush=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        rows = watcher.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                               "AND query LIKE 'SELECT * FROM %%flights%%' AND pid <> pg_backend_pid()").fetchall()
        if rows:
            watcher.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
            locker.rollback()
            sys.exit(0)
        time.sleep(0.02)
sys.exit(1)
"""


def test_worker_killed_while_writing_leaves_no_half_written_artifact(tmp_path, flights):
    """A run worker SIGKILLed in the middle of writing a day's Parquet file: no day's file is half
    written (none of the chunk's days is final yet); the rerun completes and sweeps the temp files."""
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 3)))
    data = tmp_path / "data"
    worker = subprocess.run([sys.executable, "-c", _KILLED_WORKER, url, str(data)], capture_output=True, text=True, timeout=300)
    assert worker.returncode == -signal.SIGKILL, worker.stderr[-2000:]
    raw = data / "flights_delay" / "raw"
    finals = sorted(p.name for p in raw.glob("*.parquet"))
    # the days of a chunk are renamed together once all are on disk: killed while writing one of them,
    # none of them is final, and the torn write stayed a temp file
    assert finals == []
    torn = list(raw.glob(".2013-03-0[123].parquet.*.tmp"))
    assert torn

    from batch_training_tests.support.dagster_run import ingest_defs, run_range

    rerun = run_range(ingest_defs(flights, url, data), flights, "2013-03-01", "2013-03-03", dg.DagsterInstance.ephemeral())
    assert rerun.success
    assert sorted(p.name for p in raw.glob("*.parquet")) == ["2013-03-01.parquet", "2013-03-02.parquet", "2013-03-03.parquet"]
    assert not list(raw.glob("*.tmp"))  # the rerun swept the torn temp file


_KILLED_WORKER = """
import os, signal, sys
from pathlib import Path
import dagster as dg
import pyarrow.parquet as pq
from batch_training.spec import load_specs
from batch_training_tests.support.dagster_run import ingest_defs, run_range

real, calls = pq.write_table, []
def torn_write(table, where, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the second day: write half, then the worker dies
        real(table.slice(0, table.num_rows // 2), where, **kwargs)
        where.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(table, where, **kwargs)
pq.write_table = torn_write
spec = load_specs()[0]
run_range(ingest_defs(spec, sys.argv[1], Path(sys.argv[2])), spec, "2013-03-01", "2013-03-03", dg.DagsterInstance.ephemeral())
"""


def _with(url: str, **change) -> str:
    """The URL with its password, database or options changed."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc if "password" not in change else parts.netloc.replace(parts.password, change["password"])
    path = f"/{change['database']}" if "database" in change else parts.path
    return urlunsplit((parts.scheme, netloc, path, change.get("query", parts.query), ""))


@pytest.mark.parametrize("change, says", [
    ({"password": "not-the-password"}, "password authentication failed"),
    ({"database": "no_such_database"}, 'database "no_such_database" does not exist'),
    ({"query": "sslmode=bogus"}, "invalid sslmode value"),
], ids=["wrong password", "missing database", "bad sslmode"])
def test_wrong_settings_are_config_failures_never_retried_and_alerted_once(
        postgres_url, tmp_path, alerts, flights, change, says):
    seed_warehouse(postgres_url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 2)))
    settings = make_settings(tmp_path, retry_max=3, relaunch_budget=3)
    defs = automation_defs(flights, settings, _with(postgres_url, **change), alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    failed = ingest_range(defs, instance, "2013-03-01", "2013-03-02")
    assert not failed.success
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # not retried
    [failure] = [e for e in failed.get_step_failure_events() if e.step_key == "flights_delay__raw"]
    assert says in failure.event_specific_data.error.message and "[config failure" in failure.event_specific_data.error.message

    daemon = Daemon(defs, instance)
    assert daemon.tick() == [] and daemon.tick() == []  # recorded, never relaunched, alerted once
    with ledger(settings) as book:
        entries = book.list(spec="flights_delay")
    assert sorted((e.asset, e.partition, e.failure_class, e.status) for e in entries) == sorted(
        (asset, day, "config", "open") for asset in ("flights_delay/raw", "flights_delay/weather/raw")
        for day in ("2013-03-01", "2013-03-02"))
    assert alerts.kinds() == ["config_failure"]  # one alert for both tables' extracts
    body = alerts.received[0]["batch_training"]
    assert body["failure_class"] == "config" and body["days"] == "2013-03-01..2013-03-02"
    assert body["ledger_ids"] == [e.id for e in entries] and "BATCH_TRAINING_WAREHOUSE_URL" in body["hint"]
    assert "not-the-password" not in str(alerts.received)
