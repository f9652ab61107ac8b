"""The real OCI image: built with buildah on a Debian-bootstrapped base, started, smoke-tested, registered.

Slow (a debootstrap the first time on a machine, then a pip install inside the image): one test.
"""

import datetime as dt
import json

import dagster as dg
import pytest

from batch_training.registry import Registry
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.spec import load_specs
from batch_training_tests.support.dagster_run import check_evaluations, pipeline_defs, run_range, run_training
from batch_training_tests.support.images import require_base_image

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def base_image():
    return require_base_image()


def test_image_is_built_smoke_tested_and_registered(base_image, tmp_path):
    spec = load_specs()[0]
    spec = spec.model_copy(update={
        "source": spec.source.model_copy(update={"last_day": dt.date(2013, 1, 14)}),
        "split": spec.split.model_copy(update={"window_days": 10, "holdout_days": 3, "min_train_days": 5}),
        "model": spec.model.model_copy(update={"epochs": 8, "batch_size": 256}),
        "gate": spec.gate.model_copy(update={"min_improvement_over_naive": 0.0}),
    })
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 1, 1), last_day=dt.date(2013, 1, 14)))
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    defs = pipeline_defs(spec, url, tmp_path / "data", registry_url=registry_url,
                         image_builder="buildah", base_image=base_image)
    instance = dg.DagsterInstance.ephemeral()
    assert run_range(defs, spec, "2013-01-01", "2013-01-14", instance).success
    result = run_training(defs, spec, "2013-01-15", instance, override_reason="image test: the gate is not under test")
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    smoke = check_evaluations(result)["server_image:smoke_test"]
    assert smoke.passed, smoke.description
    assert smoke.metadata["max_abs_diff"].value <= 1e-4
    record = json.loads((tmp_path / "data" / spec.name / "server_image" / "2013-01-15" / "image.json").read_text())
    assert record["builder"] == "buildah"
    assert record["image"]["ref"] == f"localhost/batch-training/{spec.name}:{record['version']}"
    assert record["image"]["size_bytes"] > 50 * 2**20
    with Registry(registry_url) as reg:
        current = reg.production(spec.name)
    assert current.image_ref == record["image"]["ref"]
    assert current.image_digest == record["image"]["digest"]
