"""Monitoring between retrains, materialized on small real data with an ephemeral instance: the
reference profile stored with the model, data drift per day against the production model, its
live error as served (ONNX Runtime) beside its offline figure, and training skipped when nothing
changed."""

import datetime as dt
import types

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from batch_training.candidate import Predictor
from batch_training.defs.automation.schedule import train_request
from batch_training.defs.monitoring import build_monitoring_defs, monitor_job_name
from batch_training.defs.resources import AlertsResource, ArtifactStoreResource, RegistryResource
from batch_training.features.dataset import read_training_data
from batch_training.monitoring import load_profile
from batch_training.monitoring.retrain import decide_training
from batch_training.registry import Registry
from batch_training.sample.seed import seed_warehouse
from batch_training.storage import PartitionStore, atomic_write_parquet
from batch_training.training import load_checkpoint
from batch_training_tests.support import flights
from batch_training_tests.support.automation import make_settings
from batch_training_tests.support.dagster_run import pipeline_defs, run_range, run_training

AS_OF = "2013-02-05"
CLEAN_DAYS = ["2013-02-05", "2013-02-06", "2013-02-07"]
BAD_TARGET_DAYS = ["2013-02-08", "2013-02-09"]
DRIFT_DAY = "2013-02-10"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    spec = flights.small_flights(champion_tolerance=0.5)
    spec = spec.model_copy(update={"monitoring": spec.monitoring.model_copy(update={"live_warn_days": 2})})
    root = tmp_path_factory.mktemp("monitoring")
    url = f"duckdb://{root / 'dwh.duckdb'}"
    seed_warehouse(url, flights.SEED)
    registry_url = f"sqlite:///{root / 'registry.db'}"
    defs = pipeline_defs(spec, url, root / "data", registry_url=registry_url)
    instance = dg.DagsterInstance.ephemeral()
    assert run_range(defs, spec, flights.FIRST.isoformat(), flights.LAST.isoformat(), instance).success
    trained = run_training(defs, spec, AS_OF, instance, override_reason="monitoring test: the gate is not under test")
    assert trained.success
    return types.SimpleNamespace(spec=spec, root=root, instance=instance, store=PartitionStore(root / "data"),
                                 registry_url=registry_url)


def _monitor(world, alerts, first: str, last: str) -> dg.ExecuteInProcessResult:
    settings = make_settings(world.root)
    resources = {"artifacts": ArtifactStoreResource(root=str(world.root / "data")),
                 "registry": RegistryResource(url=world.registry_url),
                 "alerts": AlertsResource(kind="webhook", webhook_url=alerts.url)}
    defs = dg.Definitions.merge(build_monitoring_defs(world.spec, settings), dg.Definitions(resources=resources))
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_job_def(monitor_job_name(world.spec)).execute_in_process(
        instance=world.instance, tags=tags, raise_on_error=False)


def _meta(world, asset: str, day: str) -> dict:
    [record] = world.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([world.spec.name, asset]), asset_partitions=[day]), limit=1).records
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _production(world):
    with Registry(world.registry_url) as reg:
        return reg.production(world.spec.name)


def _rewrite(world, day: str, column: str, change) -> None:
    table = world.store.read(world.spec.name, "cleansed", day)
    i = table.column_names.index(column)
    values = change(table.column(column).cast("float64").to_numpy(zero_copy_only=False))
    table = table.set_column(i, column, pa.array(values, from_pandas=True).cast(table.schema.field(column).type))
    atomic_write_parquet(table, world.store.path(world.spec.name, "cleansed", day))


def test_the_reference_profile_is_stored_with_the_model(world):
    folder = world.store.artifact_dir(world.spec.name, "trained_model", AS_OF)
    profile = load_profile(folder)
    data = read_training_data(world.store.artifact_dir(world.spec.name, "training_dataset", AS_OF))
    assert profile.rows == data.train.num_rows
    assert {p.name for p in profile.numeric} == set(world.spec.features.numeric)
    assert {p.name for p in profile.categorical} == set(world.spec.features.categorical)


def test_live_error_as_served_beside_offline_and_naive_then_a_warning_streak(world, alerts):
    for day in BAD_TARGET_DAYS:  # the model did not change, the world did: every arrival 300 minutes later
        _rewrite(world, day, world.spec.target, lambda v: v + 300)
    result = _monitor(world, alerts, CLEAN_DAYS[0], BAD_TARGET_DAYS[-1])
    assert result.success
    production = _production(world)
    checkpoint = load_checkpoint(world.store.artifact_dir(world.spec.name, "trained_model", AS_OF) / "model.pt")
    predictor = Predictor(checkpoint)
    from batch_training.defs.training.dataset import cleansed_days
    from batch_training.features.dataset import day_rows

    days = cleansed_days(world.store, world.spec)
    for day in CLEAN_DAYS:
        meta = _meta(world, "live_performance", day)
        rows = day_rows(world.spec, dt.date.fromisoformat(day), days.read_day, days.joined)
        rows = rows.filter(pc.is_valid(rows.column(world.spec.target)))
        y = rows.column(world.spec.target).cast("float64").to_numpy(zero_copy_only=False)
        expected = float(np.mean(np.abs(np.asarray(predictor(rows)) - y)))  # PyTorch, independently of the server
        assert meta["rows"] == rows.num_rows
        assert meta["live_error"] == pytest.approx(expected, rel=1e-4)
        assert meta["offline_error"] == pytest.approx(production.metrics["mae"])
        assert meta["ratio_to_offline"] == pytest.approx(meta["live_error"] / meta["offline_error"])
        assert meta["naive_error"] > 0 and meta["production_version"] == production.version
    streaks = [_meta(world, "live_performance", day)["bad_days_in_a_row"] for day in BAD_TARGET_DAYS]
    assert streaks == [1, 2]
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "live_error"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert list(check.metadata["warnings"].value) == [BAD_TARGET_DAYS[-1]]
    assert "live_vs_offline" in _meta(world, "live_performance", BAD_TARGET_DAYS[-1])
    assert "live_error" in alerts.kinds()


def test_a_shifted_feature_is_drift_with_an_error_and_an_alert(world, alerts):
    _rewrite(world, DRIFT_DAY, "dep_delay", lambda v: v + 240)
    result = _monitor(world, alerts, CLEAN_DAYS[0], DRIFT_DAY)
    assert result.success  # never blocks
    calm = [_meta(world, "data_drift", day) for day in CLEAN_DAYS]
    assert [m["level"] for m in calm] == ["OK"] * len(CLEAN_DAYS)
    assert all(isinstance(m["psi/dep_delay"], float) and m["psi/dep_delay"] < 0.1 for m in calm)
    # reported, never judged: the weekday of a day, and one day's weather (the flagship's not_judged)
    assert all(m["psi/weekday"] > 1.0 and "weather.temp" not in m["top_features"] for m in calm)
    # 2013-02-08/09, the blizzard: half the flights cancelled, so half without a departure delay
    for day in BAD_TARGET_DAYS:
        storm = _meta(world, "data_drift", day)
        assert storm["level"] == "ERROR" and any("dep_delay: missing rate increase" in r for r in storm["reasons"])
    drifted = _meta(world, "data_drift", DRIFT_DAY)
    assert drifted["level"] == "ERROR" and drifted["psi/dep_delay"] > 1.0
    assert drifted["top_features"][0] == "dep_delay"
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "data_drift"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert set(check.metadata["errors"].value) == {*BAD_TARGET_DAYS, DRIFT_DAY}
    assert "data_drift" in alerts.kinds()


def test_training_is_skipped_when_the_inputs_are_those_of_the_production_model(world):
    spec, production = world.spec, _production(world)
    context = types.SimpleNamespace(instance=world.instance)
    artifacts = ArtifactStoreResource(root=str(world.root / "data"))
    registry = RegistryResource(url=world.registry_url)
    again = train_request(context, spec, "flights_delay__train", AS_OF, "recovery", registry, artifacts)
    assert isinstance(again, dg.SkipReason) and f"unchanged since version {production.version}" in again.skip_message
    # a day of the window re-ingested with other rows: new inputs, so it trains (as of the same day)
    day = (dt.date.fromisoformat(AS_OF) - dt.timedelta(days=3)).isoformat()
    table = world.store.read(spec.name, "cleansed", day)
    atomic_write_parquet(table.slice(0, table.num_rows - 1), world.store.path(spec.name, "cleansed", day))
    changed = train_request(context, spec, "flights_delay__train", AS_OF, "recovery", registry, artifacts)
    assert isinstance(changed, dg.RunRequest) and changed.partition_key == AS_OF


def test_the_retraining_decision():
    spec = flights.small_flights()
    weekly = spec.model_copy(update={"schedule": spec.schedule.model_copy(update={"train_every_days": 7})})
    model = types.SimpleNamespace(version="v1", as_of=dt.date(2013, 2, 1), data_window={"inputs_identity": "abc"})
    day = dt.date(2013, 2, 4)
    assert decide_training(weekly, day, "abc", model).train is False                      # unchanged
    assert decide_training(weekly, day, "abc", model, force=True).train is True           # forced
    assert decide_training(weekly, day, "new", None).train is True                        # nothing in production
    assert decide_training(weekly, day, "new", model).train is False                      # not due (3 of 7 days)
    assert decide_training(weekly, dt.date(2013, 2, 8), "new", model).train is True       # due
    assert decide_training(weekly, day, "new", model, ["2013-02-03"]).train is False      # drift, but not asked to
    eager = weekly.model_copy(update={"monitoring": weekly.monitoring.model_copy(update={"retrain_on_drift_error": True})})
    decision = decide_training(eager, day, "new", model, ["2013-02-03"])
    assert decision.train is True and "drift" in decision.reason
    assert decide_training(spec, day, "new", model).train is True                         # daily by default


def test_a_drift_error_trains_early_only_when_the_spec_asks(world, alerts):
    from batch_training.defs.automation.plans import plan_of
    from batch_training.defs.automation.schedule import build_retrain_on_drift
    from batch_training.defs.partitions import daily_partitions
    from batch_training.defs.training import build_training_defs

    _rewrite(world, DRIFT_DAY, "dep_delay", lambda v: v + 240)
    result = _monitor(world, alerts, DRIFT_DAY, DRIFT_DAY)
    run = world.instance.get_run_by_id(result.run_id)
    resources = {"registry": RegistryResource(url=world.registry_url),
                 "artifacts": ArtifactStoreResource(root=str(world.root / "data"))}

    def tick(spec):
        monitoring = build_monitoring_defs(spec, make_settings(world.root))
        plan = plan_of(spec.name, monitoring.jobs[0].name, monitoring, daily_partitions(spec))
        sensor = build_retrain_on_drift(spec, plan, build_training_defs(spec).jobs[0], dg.DefaultSensorStatus.STOPPED)
        context = dg.build_run_status_sensor_context(
            sensor_name="flights_delay__retrain_on_drift", dagster_event=result.get_run_success_event(),
            dagster_instance=world.instance, dagster_run=run, resources=resources)
        return sensor(context)

    weekly = world.spec.model_copy(update={"schedule": world.spec.schedule.model_copy(update={"train_every_days": 30})})
    assert "retrain_on_drift_error is off" in tick(weekly).skip_message
    eager = weekly.model_copy(update={"monitoring": weekly.monitoring.model_copy(update={"retrain_on_drift_error": True})})
    request = tick(eager)
    next_day = (dt.date.fromisoformat(DRIFT_DAY) + dt.timedelta(days=1)).isoformat()
    assert isinstance(request, dg.RunRequest) and request.partition_key == next_day
    assert request.tags["batch_training/trigger"] == "drift"
    assert request.tags["batch_training/train_reason"] == f"early: data drift ERROR on {DRIFT_DAY}"
