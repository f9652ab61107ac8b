"""Failure classes, relaunch planning, the daily schedule and the model freshness check."""

import datetime as dt

import dagster as dg
import pytest

from batch_training.faults import CODE, DATA, GATE, TRANSIENT, classify, summary
from batch_training.recovery import contiguous_ranges, next_attempt_at
from batch_training.registry import Registry
from batch_training.spec import load_specs
from batch_training.warehouse import WarehouseError
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
    (chained(WarehouseError("cannot connect to PostgreSQL: refused"), ConnectionRefusedError()), TRANSIENT),
    (ConnectionResetError("reset by peer"), TRANSIENT),
    (RuntimeError("FATAL: terminating connection due to administrator command"), TRANSIENT),
    (TimeoutError(), TRANSIENT),
    (RuntimeError("1 blocking asset check failed with ERROR severity: flights_delay/cleansed quarantine_rate"), DATA),
    (RuntimeError("1 blocking asset check failed with ERROR severity: AssetCheckKey(name='gate')"), GATE),
    (RuntimeError("1 blocking asset check failed with ERROR severity: AssetCheckKey(name='smoke_test')"), GATE),
    (KeyError("feature"), CODE),
    (ZeroDivisionError(), CODE),
])
def test_failures_are_classified(error, expected):
    assert classify(error) == expected


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


def _run_freshness(d):
    job = d.resolve_job_def("flights_delay__freshness")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_stale_production_model_fails_the_check_and_alerts(defs):
    d, settings, receiver = defs
    version = _register(settings, dt.date.today() - dt.timedelta(days=10))
    evaluation = _run_freshness(d)
    assert not evaluation.passed and evaluation.metadata["age_days"].value >= 10
    assert receiver.kinds() == ["model_stale"]
    assert receiver.received[0]["batch_training"]["details"]["version"] == version


def test_fresh_production_model_passes_quietly(defs):
    d, settings, receiver = defs
    _register(settings, dt.date.today() - dt.timedelta(days=1))
    assert _run_freshness(d).passed
    assert receiver.received == []


def test_a_failure_in_an_implicit_asset_job_is_recovered_through_the_named_job(tmp_path):
    """A run launched from the asset graph (not the ingest job) that fails transiently is still
    recorded and relaunched, through the spec's ingest job."""
    from batch_training.registry.ledger import Ledger
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
        [request] = daemon.tick()
        assert request.job_name == "flights_delay__ingest" and request.partition_key == "2013-01-02"
        assert daemon.launch(request).success
        assert daemon.tick() == []
        with Ledger(f"sqlite:///{settings.home / 'registry.db'}") as book:
            [entry] = book.list(spec="flights_delay")
        assert (entry.job, entry.partition, entry.failure_class, entry.status) == (
            "flights_delay__ingest", "2013-01-02", "transient", "resolved")
    finally:
        receiver.close()
