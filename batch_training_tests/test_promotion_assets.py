"""server_image (bundle + smoke test) and production_model (registry promotion), end to end on small real data."""

import json

import dagster as dg
import pytest

from batch_training.defs.serving import image as image_module
from batch_training.registry import Registry
from batch_training.sample.seed import seed_warehouse
from batch_training.storage import PartitionStore, sha256_file
from batch_training_tests.support import flights
from batch_training_tests.support.dagster_run import check_evaluations, pipeline_defs, run_range, run_training

AS_OF, LATER = "2013-02-10", "2013-02-11"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    spec = flights.small_flights(champion_tolerance=0.5)
    root = tmp_path_factory.mktemp("promotion")
    url = f"duckdb://{root / 'dwh.duckdb'}"
    seed_warehouse(url, flights.SEED)
    registry_url = f"sqlite:///{root / 'registry.db'}"
    defs = pipeline_defs(spec, url, root / "data", registry_url=registry_url)
    instance = dg.DagsterInstance.ephemeral()
    assert run_range(defs, spec, flights.FIRST.isoformat(), flights.LAST.isoformat(), instance).success
    return spec, defs, instance, PartitionStore(root / "data"), registry_url


@pytest.fixture(scope="module")
def first(world):
    """The first candidate, trained, bundled and promoted: the champion every other test starts from
    (a fixture, so no test depends on another having run before it)."""
    spec, defs, instance, _, _ = world
    return run_training(defs, spec, AS_OF, instance)


def production(registry_url: str, spec: str):
    with Registry(registry_url) as reg:
        return reg.production(spec)


def test_candidate_is_bundled_smoke_tested_and_promoted_with_lineage(world, first):
    spec, defs, instance, store, registry_url = world
    result = first
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    smoke = check_evaluations(result)["server_image:smoke_test"]
    assert smoke.passed
    assert smoke.metadata["rows_compared"].value > 1000
    assert smoke.metadata["max_abs_diff"].value <= 1e-4
    assert 400 <= smoke.metadata["malformed_status"].value < 500
    record = json.loads((store.artifact_dir(spec.name, "server_image", AS_OF) / "image.json").read_text())
    sha = sha256_file(store.artifact_dir(spec.name, "trained_model", AS_OF) / "model.pt")
    assert record["version"] == f"{AS_OF}-{sha[:8]}" and record["image"] is None and record["builder"] == "none"

    current = production(registry_url, spec.name)
    assert current.version == record["version"] and current.status == "production"
    assert current.bundle_hash == record["bundle"]["content_hash"]
    assert current.data_window["holdout_days"] == ["2013-02-06", "2013-02-09", 4]
    assert current.metrics["mae"] == pytest.approx(
        json.loads((store.artifact_dir(spec.name, "evaluation_report", AS_OF) / "report.json").read_text())["candidate"]["mae"])


def test_the_champion_feeds_the_next_gate(world, first):
    spec, defs, instance, store, registry_url = world
    champion = production(registry_url, spec.name)
    assert champion is not None
    result = run_training(defs, spec, LATER, instance)
    assert result.success
    report = json.loads((store.artifact_dir(spec.name, "evaluation_report", LATER) / "report.json").read_text())
    assert report["champion"]["version"] == champion.version
    assert report["champion"]["n"] == report["candidate"]["n"]
    assert report["slice_reference"] == "champion"


def test_failed_smoke_test_blocks_promotion(world, first, monkeypatch):
    spec, defs, instance, store, registry_url = world
    before = production(registry_url, spec.name)
    real = image_module.smoke_test
    monkeypatch.setattr(image_module, "smoke_test", lambda *a, **k: real(*a, **{**k, "tolerance": -1.0}))
    result = run_training(defs, spec, LATER, instance)

    assert not result.success
    smoke = check_evaluations(result)["server_image:smoke_test"]
    assert not smoke.passed and "differ from offline predictions" in smoke.description
    made = {e.event_specific_data.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "server_image" in made and "production_model" not in made
    assert production(registry_url, spec.name).version == before.version


def test_rejected_candidate_never_reaches_the_registry_and_rollback_restores(world, first):
    spec, defs, instance, store, registry_url = world
    before = production(registry_url, spec.name)
    blocked = run_training(defs, spec, AS_OF, instance, epochs=0)
    assert not blocked.success
    assert production(registry_url, spec.name).version == before.version

    shipped = run_training(defs, spec, AS_OF, instance, epochs=0, override_reason="drill: ship an untrained model")
    assert shipped.success
    forced = production(registry_url, spec.name)
    assert forced.version != before.version
    with Registry(registry_url) as reg:
        assert "overridden: drill" in reg.history(spec.name)[-1]["reason"]
        restored = reg.rollback(spec.name, None, "the drill is over")
    assert restored.version == before.version
    assert production(registry_url, spec.name).version == before.version
