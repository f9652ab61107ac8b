"""training_dataset, trained_model and evaluation_report materialized end to end on small real data."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest

from batch_training.features.dataset import read_training_data
from batch_training.sample.seed import seed_warehouse
from batch_training.storage import PartitionStore
from batch_training.training import load_checkpoint
from batch_training.warehouse import open_warehouse
from batch_training_tests.support import flights
from batch_training_tests.support.dagster_run import check_evaluations, pipeline_defs, run_range, run_training
from batch_training_tests.support.sensors import alert_readings, binary_sensor_spec, seed_sensors, sensor_spec

AS_OF = "2013-02-11"


def days(first: str, last: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


@pytest.fixture(scope="module")
def small_flights():
    return flights.small_flights()


@pytest.fixture(scope="module")
def ingested(small_flights, tmp_path_factory):
    root = tmp_path_factory.mktemp("flights")
    url = f"duckdb://{root / 'dwh.duckdb'}"
    seed_warehouse(url, flights.SEED)
    instance = dg.DagsterInstance.ephemeral()
    defs = pipeline_defs(small_flights, url, root / "data")
    assert run_range(defs, small_flights, flights.FIRST.isoformat(), flights.LAST.isoformat(), instance).success
    return defs, instance, PartitionStore(root / "data")


def test_chain_materializes_with_lineage_of_its_exact_days(small_flights, ingested):
    defs, instance, store = ingested
    result = run_training(defs, small_flights, AS_OF, instance)
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    data = read_training_data(store.artifact_dir("flights_delay", "training_dataset", AS_OF))
    assert data.info["train_days"] == ["2013-01-14", "2013-02-06", 24]
    assert data.info["holdout_days"] == ["2013-02-07", "2013-02-10", 4]
    expected_train = sum(
        int(np.isfinite(pq.read_table(store.path("flights_delay", "cleansed", d),
                                      columns=["arr_delay"]).column(0).to_numpy(zero_copy_only=False).astype(float)).sum())
        for d in days("2013-01-14", "2013-02-06"))
    assert data.train.num_rows == expected_train
    # the preprocessing was fitted on the training days only
    dep = np.array(data.train.column("dep_delay").to_pylist(), dtype=float)
    assert data.preprocessor.numeric[0].mean == pytest.approx(np.nanmean(dep))

    ckpt = load_checkpoint(store.artifact_dir("flights_delay", "trained_model", AS_OF) / "model.pt")
    assert ckpt.lineage["as_of"] == AS_OF and ckpt.lineage["data_version"] == data.info["data_version"]
    assert ckpt.lineage["run_id"] == result.run_id
    assert {h["member"] for h in ckpt.history} == {0, 1}  # the spec's ensemble of two, each early-stopped
    assert all(1 <= sum(h["member"] == m for h in ckpt.history) <= 12 for m in (0, 1))

    report = json.loads((store.artifact_dir("flights_delay", "evaluation_report", AS_OF) / "report.json").read_text())
    y = np.array(data.holdout.column("arr_delay").to_pylist(), dtype=float)
    assert report["candidate"]["n"] == len(y)
    offset = np.mean(np.array(data.train.column("arr_delay").to_pylist(), dtype=float) - dep)
    naive = np.array(data.holdout.column("dep_delay").to_pylist(), dtype=float) + offset
    assert report["baselines"]["naive"]["mae"] == pytest.approx(np.mean(np.abs(naive - y)), rel=1e-9)
    assert set(report["slices"]) == {"origin", "carrier"}
    gate = check_evaluations(result)["evaluation_report:gate"]
    assert gate.passed == report["gate"]["passed"]
    # the metadata the UI renders: the checkpoint's URI, the metrics as numbers it plots over partitions
    mats = {m.asset_key.path[-1]: m.materialization.metadata for m in result.get_asset_materialization_events()}
    model_pt = store.artifact_dir("flights_delay", "trained_model", AS_OF) / "model.pt"
    assert mats["trained_model"]["dagster/uri"].value == model_pt.resolve().as_uri()
    assert isinstance(mats["trained_model"]["best_valid_loss"], dg.FloatMetadataValue)
    for name in ("candidate_mae", "naive_mae", "constant_mae"):
        assert isinstance(mats["evaluation_report"][name], dg.FloatMetadataValue), name
    assert mats["evaluation_report"]["candidate_mae"].value == pytest.approx(report["candidate"]["mae"])
    if gate.passed:  # built and promoted: both point at the served bundle (no image builder here)
        bundle = (store.artifact_dir("flights_delay", "server_image", AS_OF) / "bundle").resolve().as_uri()
        assert mats["server_image"]["dagster/uri"].value == bundle
        assert mats["production_model"]["dagster/uri"].value == bundle

    # the asset graph knows the window: as-of D depends on exactly the cleansed days D-28..D-1
    dep = defs.resolve_assets_def(dg.AssetKey(["flights_delay", "training_dataset"]))
    mapping = dep.get_partition_mapping(dg.AssetKey(["flights_delay", "cleansed"]))
    cleansed_def = defs.resolve_assets_def(dg.AssetKey(["flights_delay", "cleansed"])).partitions_def
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        dep.partitions_def.subset_with_partition_keys([AS_OF]), dep.partitions_def, cleansed_def)
    assert sorted(upstream.partitions_subset.get_partition_keys()) == [d.isoformat() for d in days("2013-01-14", "2013-02-10")]
    # ... and on the joined weather's cleansed days of the window plus the tolerance's margin (the
    # flight at 00:30 may take the weather of 23:00 the day before)
    mapping = dep.get_partition_mapping(dg.AssetKey(["flights_delay", "weather", "cleansed"]))
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        dep.partitions_def.subset_with_partition_keys([AS_OF]), dep.partitions_def, cleansed_def)
    assert sorted(upstream.partitions_subset.get_partition_keys()) == [d.isoformat() for d in days("2013-01-13", "2013-02-10")]
    # the model's lineage (and so the registry's record) names both tables' days
    assert ckpt.lineage["tables"] == {"flights_delay/cleansed": ["2013-01-14", "2013-02-10", 28],
                                      "flights_delay/weather/cleansed": ["2013-01-13", "2013-02-10", 29]}
    stats = data.info["joins"]["train"]["weather"]
    assert stats["rows"] >= data.train.num_rows  # counted before the rows without a target are dropped
    assert stats["matched"] + stats["unmatched"] + stats["too_old"] == stats["rows"]
    assert stats["matched"] > 0.95 * stats["rows"]
    missing = data.train.column("weather.temp").null_count
    assert missing >= stats["unmatched"] + stats["too_old"]  # an unmatched row is kept, with missing weather


def test_untrained_candidate_is_blocked_and_override_is_recorded(small_flights, ingested):
    defs, instance, store = ingested
    blocked = run_training(defs, small_flights, AS_OF, instance, epochs=0)
    gate = check_evaluations(blocked)["evaluation_report:gate"]
    assert not blocked.success
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert "naive" in gate.description

    shipped = run_training(defs, small_flights, AS_OF, instance, epochs=0, override_reason="ticket OPS-1: ship for the demo")
    gate = check_evaluations(shipped)["evaluation_report:gate"]
    assert shipped.success and gate.passed
    assert gate.metadata["overridden"].value is True
    assert gate.metadata["override_reason"].value == "ticket OPS-1: ship for the demo"
    assert instance.get_run_by_id(shipped.run_id).tags["batch_training/gate_override"] == "true"
    report = json.loads((store.artifact_dir("flights_delay", "evaluation_report", AS_OF) / "report.json").read_text())
    assert report["gate"]["overridden"] and report["gate"]["reasons"]


def test_second_spec_trains_a_classifier_with_no_code_change(tmp_path):
    spec = sensor_spec()
    url = f"duckdb://{tmp_path / 'sensors.duckdb'}"
    with open_warehouse(url) as wh:
        seed_sensors(wh, dt.date(2024, 3, 1), 10)
    instance = dg.DagsterInstance.ephemeral()
    defs = pipeline_defs(spec, url, tmp_path / "data")
    assert run_range(defs, spec, "2024-03-01", "2024-03-10", instance).success
    result = run_training(defs, spec, "2024-03-11", instance)
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    report = json.loads((tmp_path / "data" / "sensor_health" / "evaluation_report" / "2024-03-11" / "report.json").read_text())
    assert report["task"] == "multiclass" and report["metric"] == "log_loss"
    assert report["candidate"]["n"] == 2 * 96
    assert report["candidate"]["log_loss"] < report["baselines"]["constant"]["log_loss"]
    assert report["candidate"]["accuracy"] > report["baselines"]["constant"]["accuracy"]
    assert set(report["slices"]["sensor"]) == {"s1", "s2", "s3", "s4"}


def test_a_binary_spec_gates_on_the_class_prior_and_ships_its_threshold(tmp_path):
    spec = binary_sensor_spec()  # positive class "alert" sorts before "ok"
    url = f"duckdb://{tmp_path / 'alerts.duckdb'}"
    with open_warehouse(url) as wh:
        seed_sensors(wh, dt.date(2024, 3, 1), 10, readings=alert_readings(dt.date(2024, 3, 1), 10))
    instance = dg.DagsterInstance.ephemeral()
    defs = pipeline_defs(spec, url, tmp_path / "data")
    assert run_range(defs, spec, "2024-03-01", "2024-03-10", instance).success
    result = run_training(defs, spec, "2024-03-11", instance)
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    store = PartitionStore(tmp_path / "data")
    ckpt = load_checkpoint(store.artifact_dir(spec.name, "trained_model", "2024-03-11") / "model.pt")
    report = json.loads((store.artifact_dir(spec.name, "evaluation_report", "2024-03-11") / "report.json").read_text())
    threshold = ckpt.metadata["decision_threshold"]["threshold"]
    assert ckpt.preprocessing["target"]["classes"] == ["ok", "alert"]
    assert report["decision_threshold"]["candidate_threshold"] == threshold
    assert [c["rule"] for c in report["gate"]["checks"]] == ["not_degenerate", "beats_class_prior", "auc_above_chance",
                                                             "not_worse_than_champion", "slices"]
    assert report["gate"]["passed"] and report["candidate"]["predicted_classes"] == 2
    assert (store.artifact_dir(spec.name, "evaluation_report", "2024-03-11") / "precision_recall.png").exists()
    mats = {m.asset_key.path[-1]: m.materialization.metadata for m in result.get_asset_materialization_events()}
    assert mats["trained_model"]["decision_threshold"].value == pytest.approx(threshold)
    metadata = mats["evaluation_report"]
    assert metadata["decision_threshold"].value == pytest.approx(threshold)
    assert metadata["candidate_f1"].value == pytest.approx(report["candidate"]["f1"])
    assert metadata["candidate_auc"].value == pytest.approx(report["candidate"]["auc"])
