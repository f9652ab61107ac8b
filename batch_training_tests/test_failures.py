"""A ledger that sees every failure, and records exactly what failed: a data failure of one day in a
range (the others go on), a full disk (infrastructure, not retried, the written days kept), CLI runs
with no daemon (recorded at once, exactly once), and a CLI run killed with SIGKILL (marked failed and
recorded on the next start)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from batch_training.operations.ledger import Ledger
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training_tests.support.automation import Daemon, automation_defs, make_settings
from batch_training_tests.test_cli import run_cli

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04", "2013-03-05"]


def seeded(tmp_path: Path, last: str = DAYS[-1], empty: tuple[str, ...] = ()) -> str:
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date.fromisoformat(last),
                                    empty_days=[dt.date.fromisoformat(d) for d in empty]))
    return url


def entries(settings) -> list:
    with Ledger(f"sqlite:///{settings.home / 'registry.db'}") as book:
        return book.list(spec="flights_delay")


def ingest(defs, instance, first: str, last: str) -> dg.ExecuteInProcessResult:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_job_def("flights_delay__ingest").execute_in_process(instance=instance, tags=tags,
                                                                           raise_on_error=False)


def materialized(instance, asset: str) -> list[str]:
    return sorted(instance.get_materialized_partitions(dg.AssetKey(["flights_delay", asset])))


def test_a_data_failure_of_one_day_records_that_day_and_the_others_go_on(tmp_path, alerts, flights):
    url = seeded(tmp_path, empty=("2013-03-03",))  # raw's blocking not_empty fails for that day alone
    settings = make_settings(tmp_path)
    defs = automation_defs(flights, settings, url, alerts.url)
    instance = dg.DagsterInstance.ephemeral()
    assert not ingest(defs, instance, DAYS[0], DAYS[-1]).success
    assert materialized(instance, "raw") == DAYS and materialized(instance, "cleansed") == []

    daemon = Daemon(defs, instance)
    requests = daemon.tick()
    assert [(e.asset, e.partition, e.failure_class) for e in entries(settings)] == [
        ("flights_delay/raw", "2013-03-03", "data")]
    assert alerts.kinds() == ["data_failure"]
    assert alerts.received[0]["batch_training"]["days"] == "2013-03-03"
    [request] = requests  # the days that passed, in one backfill of the steps after raw
    subset = request.asset_graph_subset
    assert {k.path[-1] for k in subset.asset_keys} == {"cleansed", "quarantine"}
    assert request.tags["batch_training/trigger"] == "continuation"
    continued = daemon.launch(request)
    assert continued.status == "COMPLETED_SUCCESS"
    ranges = sorted((r.dagster_run.tags["dagster/asset_partition_range_start"],
                     r.dagster_run.tags["dagster/asset_partition_range_end"]) for r in continued.results)
    assert ranges == [("2013-03-01", "2013-03-02"), ("2013-03-04", "2013-03-05")]  # a run per contiguous range
    assert materialized(instance, "cleansed") == ["2013-03-01", "2013-03-02", "2013-03-04", "2013-03-05"]
    assert daemon.tick() == [] and alerts.kinds() == ["data_failure"]  # nothing twice


class _Disk:
    """A small real file system (tmpfs) for the data folder, so that writes fail with ENOSPC."""

    def __init__(self, path: Path, size: str):
        path.mkdir(parents=True)
        self.path = path
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def test_a_full_disk_is_an_infrastructure_failure_that_keeps_the_written_days(tmp_path, alerts, flights):
    url = seeded(tmp_path, last="2013-03-31")
    settings = make_settings(tmp_path, retry_max=3)
    disk = _Disk(settings.data_dir, "600k")  # room for some raw days of March, not all
    # a week a chunk: a chunk's days are written together, so the whole weeks before the full disk stay
    flights = flights.model_copy(update={"source": flights.source.model_copy(update={"extract_chunk_days": 7})})
    try:
        defs = automation_defs(flights, settings, url, alerts.url)
        instance = dg.DagsterInstance.ephemeral()
        failed = ingest(defs, instance, "2013-03-01", "2013-03-31")
        assert not failed.success
        assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # not retried blindly
        written = sorted(p.stem for p in (settings.data_dir / "flights_delay" / "raw").glob("*.parquet"))
        assert 0 < len(written) < 31 and len(written) % 7 == 0
        for day in written:
            assert pq.read_metadata(settings.data_dir / "flights_delay" / "raw" / f"{day}.parquet").num_rows > 0
        assert materialized(instance, "raw") == written  # every whole file recorded, none more
        Daemon(defs, instance).tick()
        recorded = entries(settings)
        assert {e.failure_class for e in recorded} == {"infrastructure"}
        assert sorted(e.partition for e in recorded if e.asset == "flights_delay/raw") == [
            f"2013-03-{d:02d}" for d in range(1, 32) if f"2013-03-{d:02d}" not in written]
        assert alerts.kinds() == ["infrastructure_failure"]
        assert "free or repair the storage" in alerts.received[0]["batch_training"]["hint"]
    finally:
        disk.close()


# --- the command line, with no daemon ------------------------------------------------------------
def ledger_of(home: Path) -> list:
    with Ledger(f"sqlite:///{home / 'registry.db'}") as book:
        return book.list()


def test_a_failed_cli_ingest_is_in_the_ledger_once_and_says_why_day_by_day(tmp_path):
    home = tmp_path / "home"
    assert run_cli("seed", "--first-day", "2013-03-01", "--last-day", "2013-03-05", "--empty-day", "2013-03-03",
                   home=home).returncode == 0
    out = run_cli("ingest", "--first-day", DAYS[0], "--last-day", DAYS[-1], home=home)
    assert out.returncode == 1
    text = out.stdout
    assert "days materialized: raw 5, weather/cleansed 5, weather/quarantine 5, weather/raw 5" in text
    assert "check flights_delay/raw:not_empty: ERROR: 1 day(s) ERROR (blocking)" in text
    assert "ERROR 2013-03-03: 0 rows, below the minimum of 1" in text
    assert "ledger: data failure of flights_delay/raw for 2013-03-03 recorded as #1" in text
    assert "the days that passed went on in run(s)" in text and "days materialized: cleansed 4, quarantine 4" in text
    [entry] = ledger_of(home)
    assert (entry.asset, entry.partition, entry.failure_class, entry.status) == (
        "flights_delay/raw", "2013-03-03", "data", "open")
    again = run_cli("failures", home=home)  # a later start records nothing twice
    assert again.returncode == 0 and len(ledger_of(home)) == 1 and "flights_delay/raw" in again.stdout


_SLOW_INGEST = """
import os, sys, time
def slow(days, spec):
    print("cleansing", flush=True)
    time.sleep(600)
    yield from ()
import batch_training.defs.ingest.cleansed as cleansed
cleansed.cleanse_days = slow
from batch_training.cli import main
sys.exit(main(["ingest", "--first-day", "2013-03-01", "--last-day", "2013-03-02"]))
"""


def test_a_cli_run_killed_with_sigkill_is_marked_failed_and_recorded_on_the_next_start(tmp_path):
    home = tmp_path / "home"
    assert run_cli("seed", "--first-day", "2013-03-01", "--last-day", "2013-03-02", home=home).returncode == 0
    env = {**os.environ, "BATCH_TRAINING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}
    for var in ("BATCH_TRAINING_ENV", "BATCH_TRAINING_WAREHOUSE_URL", "BATCH_TRAINING_SPEC_DIR"):
        env.pop(var, None)
    worker = subprocess.Popen([sys.executable, "-c", _SLOW_INGEST], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and worker.stdout.readline().strip() != "cleansing":
            pass
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    instance = dg.DagsterInstance.from_config(str(home / "dagster_home"))
    [run] = [r for r in instance.get_runs() if r.job_name == "flights_delay__ingest"]
    assert run.status == dg.DagsterRunStatus.STARTED  # the run store cannot know the process died

    later = run_cli("failures", home=home)
    assert later.returncode == 0
    assert f"run {run.run_id}: its process is gone; marked failed" in later.stdout
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    recorded = ledger_of(home)
    assert [(e.asset, e.partition, e.failure_class) for e in recorded] == [
        ("flights_delay/cleansed", "2013-03-01", "transient"), ("flights_delay/cleansed", "2013-03-02", "transient")]
    assert run_cli("failures", home=home).stdout.count("flights_delay/cleansed") == 2  # not twice
