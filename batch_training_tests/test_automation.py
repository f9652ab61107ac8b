"""Failure classes, relaunch planning, the daily schedule and the model freshness check."""

import datetime as dt
import errno

import dagster as dg
import pytest

from batch_training.errors import CODE, CONFIG, DATA, GATE, INFRASTRUCTURE, TRANSIENT, GateError
from batch_training.features.window import NotEnoughDays
from batch_training.operations.classify import FAILURE_CLASS_KEY, classify_exception, classify_record, summary
from batch_training.operations.planner import contiguous_ranges, next_attempt_at
from batch_training.registry import Registry
from batch_training.registry.versions import ConflictError, RegistryConfigError, RegistryUnavailable
from batch_training.spec import SpecError, load_specs
from batch_training.warehouse import WarehouseError
from batch_training.warehouse.base import WarehouseConfigError, WarehouseQueryError, WarehouseUnavailable
from batch_training_tests.support.automation import AlertReceiver, automation_defs, make_settings


def chained(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as e:
            raise outer from e
    except Exception as e:
        return e


@pytest.mark.parametrize("error, expected", [
    (chained(WarehouseUnavailable("cannot connect to PostgreSQL: refused"), ConnectionRefusedError()), TRANSIENT),
    (WarehouseConfigError("cannot connect to PostgreSQL: password authentication failed"), CONFIG),
    (WarehouseQueryError("PostgreSQL read failed: syntax error"), CODE),
    (RegistryUnavailable("registry database failed: terminating connection"), TRANSIENT),
    (RegistryConfigError("registry database failed: database \"x\" does not exist"), CONFIG),
    (ConflictError("concurrent change"), TRANSIENT),
    (ConnectionResetError("reset by peer"), TRANSIENT),
    (TimeoutError(), TRANSIENT),
    (OSError(errno.ENOSPC, "No space left on device"), INFRASTRUCTURE),
    (chained(RuntimeError("writing raw"), OSError(errno.EROFS, "Read-only file system")), INFRASTRUCTURE),
    (OSError(errno.ENOENT, "No such file"), CODE),
    (NotEnoughDays("as of 2013-01-02: 1 training day"), DATA),
    (GateError("not promoted"), GATE),
    (SpecError("flights.yaml: columns: ..."), CONFIG),
    # a message is never read: a plain RuntimeError that talks of connections is still a bug
    (RuntimeError("FATAL: terminating connection due to administrator command"), CODE),
    (RuntimeError("1 blocking asset check failed with ERROR severity: AssetCheckKey(name='gate')"), CODE),
    (KeyError("feature"), CODE),
    (ZeroDivisionError(), CODE),
])
def test_live_failures_are_classified_by_type(error, expected):
    assert classify_exception(error) == expected


class _Record:
    """The shape of Dagster's stored SerializableErrorInfo: a class name, a message, causes."""

    def __init__(self, cls_name: str, message: str = "", cause=None):
        self.cls_name, self.message, self.cause, self.context = cls_name, message, cause, None


@pytest.mark.parametrize("record, metadata, expected", [
    (_Record("Failure", "extracting flights: ..."), {FAILURE_CLASS_KEY: "config"}, CONFIG),
    (_Record("Failure", "building the server"), {FAILURE_CLASS_KEY: "infrastructure"}, INFRASTRUCTURE),
    (_Record("DagsterExecutionStepExecutionError", "", _Record("WarehouseUnavailable", "refused")), None, TRANSIENT),
    (_Record("DagsterExecutionStepExecutionError", "", _Record("ConnectionResetError")), None, TRANSIENT),
    (_Record("DagsterExecutionStepExecutionError", "", _Record("NotEnoughDays")), None, DATA),
    (_Record("RuntimeError", "connection refused"), None, CODE),  # no message parsing
    (_Record("Failure", "x"), {FAILURE_CLASS_KEY: "not-a-class"}, CODE),
])
def test_stored_failures_are_classified_by_recorded_class_then_type(record, metadata, expected):
    assert classify_record(record, metadata) == expected


def test_summary_names_the_error_and_its_cause():
    text = summary(chained(WarehouseError("cannot connect to PostgreSQL: refused"), ConnectionRefusedError("port 5")))
    assert text == "WarehouseError: cannot connect to PostgreSQL: refused (caused by ConnectionRefusedError: port 5)"


def test_failed_days_group_into_contiguous_ranges():
    days = ["2013-01-05", "2013-01-01", "2013-01-02", "2013-01-03", "2013-01-07", "2013-01-08", "2013-01-02"]
    assert contiguous_ranges(days) == [("2013-01-01", "2013-01-03"), ("2013-01-05", "2013-01-05"),
                                       ("2013-01-07", "2013-01-08")]
    assert contiguous_ranges(["2013-02-28", "2013-03-01"]) == [("2013-02-28", "2013-03-01")]


def test_relaunch_backoff_doubles():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert [(next_attempt_at(now, n, 60) - now).total_seconds() for n in range(4)] == [60, 120, 240, 480]


@pytest.fixture
def defs(tmp_path):
    receiver = AlertReceiver()
    settings = make_settings(tmp_path)
    yield automation_defs(load_specs()[0], settings, f"duckdb://{tmp_path / 'dwh.duckdb'}", receiver.url), settings, receiver
    receiver.close()


def test_daily_schedule_ingests_yesterday_in_the_spec_timezone(defs):
    d, _, _ = defs
    schedule = d.get_schedule_def("flights_delay__daily")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "America/New_York"
    tick = dt.datetime(2013, 6, 15, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    [request] = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick, repository_def=d.get_repository_def())).run_requests
    assert request.partition_key == "2013-06-14" and request.tags["batch_training/trigger"] == "daily"
    after = dt.datetime(2014, 1, 3, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=after, repository_def=d.get_repository_def())).run_requests == []


def _register(settings, as_of: dt.date) -> str:
    with Registry(f"sqlite:///{settings.home / 'registry.db'}") as reg:
        version = f"{as_of}-abcdef12"
        reg.register(spec="flights_delay", version=version, as_of=as_of, data_window={}, data_version="x",
                     code_version="0", metrics={"mae": 13.0}, artifact_uri="/nowhere/model.pt")
        reg.promote("flights_delay", version, "test")
    return version


def _run_check(d, job_name: str, instance=None):
    job = d.resolve_job_def(job_name)
    result = job.execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def _ingested(instance, *days: dt.date) -> dg.DagsterInstance:
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=dg.AssetKey(["flights_delay", "cleansed"]), partition=day.isoformat()))
    return instance


def test_a_model_that_lags_the_data_fails_the_check_and_alerts(defs):
    d, settings, receiver = defs
    version = _register(settings, dt.date(2013, 10, 1))
    instance = _ingested(dg.DagsterInstance.ephemeral(), dt.date(2013, 12, 30), dt.date(2013, 12, 31))
    evaluation = _run_check(d, "flights_delay__freshness", instance)
    assert not evaluation.passed and evaluation.metadata["lag_days"].value == 92  # Oct, Nov, Dec not learnt
    assert evaluation.metadata["newest_day"].value == "2013-12-31"
    assert receiver.kinds() == ["model_stale"]
    assert receiver.received[0]["batch_training"]["details"]["version"] == version


def test_a_model_of_old_data_is_fresh_when_it_learnt_from_every_day(defs):
    """Age is measured against the newest ingested day, not the clock: a 2013 model trained as of the
    day after the last day of 2013 data is fresh in 2026."""
    d, settings, receiver = defs
    _register(settings, dt.date(2014, 1, 1))
    instance = _ingested(dg.DagsterInstance.ephemeral(), dt.date(2013, 12, 31))
    evaluation = _run_check(d, "flights_delay__freshness", instance)
    assert evaluation.passed and evaluation.metadata["lag_days"].value == 0
    assert receiver.received == []


def _open_ended(tmp_path, last_seeded: dt.date):
    """The flights spec without a last day, on a DWH that holds days up to ``last_seeded``."""
    from batch_training.sample.seed import SeedOptions, seed_warehouse

    spec = load_specs()[0]
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"last_day": None})})
    url = f"duckdb://{tmp_path / 'open.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=last_seeded - dt.timedelta(days=1), last_day=last_seeded))
    receiver = AlertReceiver()
    return automation_defs(spec, make_settings(tmp_path), url, receiver.url), receiver


def test_source_freshness_compares_the_newest_dwh_day_with_the_clock(tmp_path):
    d, receiver = _open_ended(tmp_path, dt.date(2013, 12, 31))
    try:
        evaluation = _run_check(d, "flights_delay__source_freshness")
        assert not evaluation.passed and evaluation.metadata["newest_day"].value == "2013-12-31"
        assert evaluation.metadata["lag_days"].value > 4000
        assert receiver.kinds() == ["source_stale"]
    finally:
        receiver.close()


def test_source_freshness_skips_a_bounded_data_set_and_is_not_part_of_ingest(defs):
    d, _, receiver = defs
    evaluation = _run_check(d, "flights_delay__source_freshness")
    assert evaluation.passed and "bounded" in evaluation.description
    assert receiver.received == []
    ingest_checks = {k.name for k in d.resolve_job_def("flights_delay__ingest").asset_layer.asset_graph.asset_check_keys}
    assert "source_fresh" not in ingest_checks and {"schema_drift", "conservation"} <= ingest_checks


def test_a_failure_in_an_implicit_asset_job_is_recovered_through_the_named_job(tmp_path):
    """A run launched from the asset graph (not the ingest job) that fails transiently is still
    recorded and relaunched, through the spec's ingest job."""
    from batch_training.operations.ledger import Ledger
    from batch_training.sample.seed import SeedOptions, seed_warehouse
    from batch_training_tests.support.automation import Daemon

    receiver = AlertReceiver()
    try:
        settings = make_settings(tmp_path, retry_max=0)
        broken = automation_defs(load_specs()[0], settings, "postgresql://u:pw@127.0.0.1:9/nowhere", receiver.url)
        instance = dg.DagsterInstance.ephemeral()
        raw = broken.resolve_assets_def(dg.AssetKey(["flights_delay", "raw"]))
        result = dg.materialize([raw], partition_key="2013-01-02", instance=instance, raise_on_error=False)
        assert not result.success and result.dagster_run.job_name.startswith("__")

        url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
        seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 1, 1), last_day=dt.date(2013, 1, 3)))
        fixed = automation_defs(load_specs()[0], settings, url, receiver.url)
        daemon = Daemon(fixed, instance)
        [request] = daemon.tick()  # a backfill of the day: the failed asset and what depends on it
        subset = request.asset_graph_subset
        assert sorted(k.to_user_string() for k in subset.asset_keys) == [
            "flights_delay/cleansed", "flights_delay/quarantine", "flights_delay/raw"]
        assert {d for k in subset.asset_keys for d in subset.get_partitions_subset(k).get_partition_keys()} == {"2013-01-02"}
        relaunched = daemon.launch(request)
        assert relaunched.success
        [run] = relaunched.results  # of the implicit asset job, as the daemon's backfill runs are
        assert run.dagster_run.job_name == "__ASSET_JOB"
        assert run.dagster_run.tags["dagster/asset_partition_range_end"] == "2013-01-02"
        # the recovered day is monitored (and trained on) as the ingest job's run would have been
        sensor = fixed.get_sensor_def("flights_delay__monitor_after_ingest")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=run.get_run_success_event(), dagster_instance=instance,
            dagster_run=run.dagster_run)
        monitor = sensor(context)
        assert isinstance(monitor, dg.RunRequest) and monitor.tags["dagster/asset_partition_range_end"] == "2013-01-02"
        assert daemon.tick() == []
        with Ledger(f"sqlite:///{settings.home / 'registry.db'}") as book:
            [entry] = book.list(spec="flights_delay")
        assert (entry.job, entry.partition, entry.failure_class, entry.status) == (
            "flights_delay__ingest", "2013-01-02", "transient", "resolved")
    finally:
        receiver.close()
