"""Our event logs beside Dagster's own: the embedded default's (SQLite, batches of events in one
transaction) and the production one's (PostgreSQL, a kept-open connection) store the same events and
rows, and the recovery sensor finds exactly the failed days with Dagster's event-cost settings on
(batched events, one planned event per asset)."""

import datetime as dt
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.test_utils import instance_for_test
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_shared.check import CheckError

from batch_training.defs.event_log import BatchingSqliteEventLogStorage
from batch_training.defs.event_log_postgres import PooledPostgresEventLogStorage
from batch_training.operations.ledger import Ledger
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.settings import DAGSTER_EVENT_ENV
from batch_training.warehouse import open_warehouse
from batch_training_tests.support.automation import Daemon, automation_defs, make_settings

DAYS = [f"2013-03-{d:02d}" for d in range(1, 31)]
BAD = ["2013-03-02", "2013-03-04"]


# Dagster's storages without the event settings, ours with them (as the runner and the stack set them)
OURS = {"batching": BatchingSqliteEventLogStorage, "pooled": PooledPostgresEventLogStorage}
DAGSTERS = {"dagster": ConsolidatedSqliteEventLogStorage, "postgres": PostgresEventLogStorage}
OTHER = {"dagster": "batching", "batching": "dagster", "postgres": "pooled", "pooled": "postgres"}
POSTGRES_KINDS = ("postgres", "pooled")


def _instance(kind: str, tmp_path, postgres_url: str | None = None):
    (tmp_path / "inst").mkdir(parents=True, exist_ok=True)
    return instance_for_test(overrides=_storage(kind, tmp_path / "events", postgres_url), temp_dir=str(tmp_path / "inst"))


def _storage(kind: str, folder, postgres_url: str | None = None) -> dict:
    cls = {**OURS, **DAGSTERS}[kind]
    config = {"postgres_url": postgres_url} if kind in POSTGRES_KINDS else {"base_dir": str(folder)}
    return {"event_log_storage": {"module": cls.__module__, "class": cls.__name__, "config": config}}


def _event_settings(kind: str, monkeypatch) -> None:
    for name, value in DAGSTER_EVENT_ENV.items():
        if kind in OURS:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["dagster", "batching", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("pooled", marks=pytest.mark.postgres)])
def configured(request, tmp_path, monkeypatch):
    """An instance with Dagster's event log (SQLite, PostgreSQL) and no event settings, or with ours
    and the settings the local runner and the stack set."""
    _event_settings(request.param, monkeypatch)
    url = request.getfixturevalue("postgres_url") if request.param in POSTGRES_KINDS else None
    with _instance(request.param, tmp_path, url) as instance:
        yield request.param, instance


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2013-03-01", end_date="2013-03-31"),
          backfill_policy=dg.BackfillPolicy.single_run())
def days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


def _commits(instance) -> list[int]:
    """Commits of the batching storage; new connections opened by a PostgreSQL one."""
    storage = instance.event_log_storage
    counted = [0]
    bump = lambda *_: counted.__setitem__(0, counted[0] + 1)  # noqa: E731
    if isinstance(storage, BatchingSqliteEventLogStorage):
        sa.event.listen(storage._shared_engine(), "commit", bump)
    elif isinstance(storage, PostgresEventLogStorage):
        sa.event.listen(storage._engine, "connect", bump)
    return counted


def test_a_range_run_stores_every_partition_and_batches_commit_once(configured):
    kind, instance = configured
    commits = _commits(instance)
    result = dg.materialize([days], instance=instance, tags={"dagster/asset_partition_range_start": DAYS[0],
                                                              "dagster/asset_partition_range_end": DAYS[-1]})
    assert result.success
    assert sorted(instance.get_materialized_partitions(days.key)) == DAYS
    events = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    assert len(events) == len(DAYS)
    assert {e.event_log_entry.dagster_event.partition for e in events} == set(DAYS)
    # the asset key index (whose columns the batching storage inspects once) points at the last day
    entry = instance.get_asset_records([days.key])[0].asset_entry
    assert entry.last_materialization.dagster_event.partition == DAYS[-1]
    assert entry.last_run_id == result.run_id
    planned = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    if kind in OURS:
        assert len(planned) == 1
    else:
        assert len(planned) == len(DAYS)
    if kind == "batching":
        # the 30 materializations share one transaction (the rest of the run's events commit one by
        # one). If an upgrade of Dagster stops routing writes through the storage's _connect, this
        # count grows to one per connection and fails here.
        assert commits[0] < len(DAYS)
    elif kind == "pooled":
        # a connection kept open for the run (another while two threads write at once: 3 seen)
        assert 1 <= commits[0] <= 3
    elif kind == "postgres":
        assert commits[0] > 20, commits  # Dagster's: a new connection for every statement


def test_a_failed_batch_is_rolled_back_whole(tmp_path):
    with _instance("batching", tmp_path) as instance:
        result = dg.materialize([days], instance=instance, partition_key=DAYS[0])
        stored = [r.event_log_entry for r in instance.get_records_for_run(result.run_id).records]
    storage = BatchingSqliteEventLogStorage(str(tmp_path / "events"))
    before = len(storage.get_records_for_run(result.run_id).records)

    class Broken:  # not an event: Dagster's store_event refuses it, after the three good ones
        pass

    with pytest.raises(CheckError, match="not a EventLogEntry"):
        storage.store_event_batch(stored[:3] + [Broken()])
    # the three good events of the failed batch were not kept: Dagster then stores them one by one
    assert len(storage.get_records_for_run(result.run_id).records) == before


def _corrupt(url: str, days: list[str]) -> None:
    with open_warehouse(url) as wh:
        wh.execute(f"UPDATE flights SET arr_delay = 100000 WHERE flight_date IN ({', '.join(repr(d) for d in days)})")


def test_the_recovery_sensor_finds_exactly_the_failed_days_either_way(configured, tmp_path, flights, alerts):
    kind, instance = configured
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 3, 1), last_day=dt.date(2013, 3, 5), anomaly_rate=0.0))
    _corrupt(url, BAD)
    settings = make_settings(tmp_path / kind)
    defs = automation_defs(flights, settings, url, alerts.url)
    job = defs.resolve_job_def("flights_delay__ingest")
    tags = {"dagster/asset_partition_range_start": "2013-03-01", "dagster/asset_partition_range_end": "2013-03-05"}
    run = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert not run.success

    daemon = Daemon(defs, instance)
    assert daemon.tick() == []  # bad data: recorded and alerted, never relaunched
    with Ledger(f"sqlite:///{settings.home / 'registry.db'}") as book:
        entries = book.list(spec="flights_delay")
    assert sorted((e.asset, e.partition, e.failure_class) for e in entries) == [
        ("flights_delay/cleansed", day, "data") for day in BAD]
    assert sorted(instance.get_materialized_partitions(dg.AssetKey(["flights_delay", "raw"]))) == [
        "2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04", "2013-03-05"]


def test_every_process_that_creates_or_runs_runs_gets_the_event_settings(tmp_path, monkeypatch):
    import yaml

    from batch_training.stack import control

    values = yaml.safe_load((Path(__file__).resolve().parents[1] / "deploy" / "helm" / "values.yaml").read_text())
    as_pairs = lambda env: {e["name"]: e["value"] for e in env}  # noqa: E731
    [code] = values["dagster-user-deployments"]["deployments"]
    for env in (values["dagsterWebserver"]["env"], values["dagsterDaemon"]["env"], code["env"]):
        assert as_pairs(env).items() >= DAGSTER_EVENT_ENV.items()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    assert set(launcher) >= {f"{k}={v}" for k, v in DAGSTER_EVENT_ENV.items()}

    for name in DAGSTER_EVENT_ENV:
        monkeypatch.delenv(name, raising=False)
    where = control.Layout(tmp_path)
    assert control._environment(where, {}, "http://127.0.0.1:3000", None).items() >= DAGSTER_EVENT_ENV.items()
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # an operator's own choice wins
    assert control._environment(where, {}, "http://127.0.0.1:3000", None)["DAGSTER_EVENT_BATCH_SIZE"] == "0"


_PARTITIONED = dg.DailyPartitionsDefinition(start_date="2013-03-01", end_date="2013-03-31")


@dg.asset(partitions_def=_PARTITIONED, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("fine", asset="checked", partitions_def=_PARTITIONED)])
def checked(context: dg.AssetExecutionContext):
    yield dg.MaterializeResult(metadata={"days": len(context.partition_keys)})
    yield dg.AssetCheckResult(check_name="fine", passed=True)


def _check_rows(instance) -> list[tuple]:
    """The asset check execution rows of the instance, without ids and times."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
    from dagster._serdes import deserialize_value

    table = AssetCheckExecutionsTable
    with instance.event_log_storage.index_connection() as conn:
        found = conn.execute(sa.select(table.c.asset_key, table.c.check_name, table.c.partition,
                                       table.c.execution_status, table.c.evaluation_event)).fetchall()
    return sorted(((a, c, p, s, deserialize_value(e).dagster_event_type.value) for a, c, p, s, e in found),
                  key=lambda r: (r[2] or "", r[3]))


def test_a_partitioned_checks_planned_rows_are_dagsters_own(configured, tmp_path, request):
    """The planned rows our storage writes in one statement (the event serialized once) are the rows
    Dagster's own storage writes: one per day of the range (a range run's result, unpartitioned,
    is a row of its own)."""
    kind, instance = configured
    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[9]}
    assert dg.materialize([checked], instance=instance, tags=tags).success
    rows = _check_rows(instance)
    planned = ('["checked"]', "fine", "PLANNED", "ASSET_CHECK_EVALUATION_PLANNED")
    assert [r[2] for r in rows if (r[0], r[1], r[3], r[4]) == planned] == DAYS[:10]
    assert [r for r in rows if r[3] != "PLANNED"] == [('["checked"]', "fine", None, "SUCCEEDED", "ASSET_CHECK_EVALUATION")]
    other_url = request.getfixturevalue("postgres_server").create_database(f"t_{uuid.uuid4().hex}") \
        if kind in POSTGRES_KINDS else None
    with _instance(OTHER[kind], tmp_path / "other", other_url) as other:
        assert dg.materialize([checked], instance=other, tags=tags).success
        assert _check_rows(other) == rows
