"""The code location loads, with the asset keys, checks and jobs we expect, from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from batch_training.settings import SettingsError, get_settings

ROOT = Path(__file__).resolve().parents[1]

STAGES = ("raw", "cleansed", "quarantine", "training_dataset", "trained_model", "evaluation_report",
          "server_image", "production_model", "data_drift", "live_performance")
EXPECTED_ASSETS = {f"flights_delay/{stage}" for stage in STAGES} | {
    f"flights_delay/weather/{stage}" for stage in ("raw", "cleansed", "quarantine")}
EXPECTED_CHECKS = {
    "flights_delay/raw:schema_drift", "flights_delay/raw:not_empty", "flights_delay/raw:conservation",
    "flights_delay/raw:source_fresh",
    "flights_delay/weather/raw:schema_drift", "flights_delay/weather/raw:not_empty",
    "flights_delay/weather/raw:conservation", "flights_delay/weather/cleansed:quarantine_rate",
    "flights_delay/weather/cleansed:duplicates",
    "flights_delay/cleansed:quarantine_rate", "flights_delay/cleansed:duplicates",
    "flights_delay/evaluation_report:gate", "flights_delay/server_image:smoke_test", "flights_delay/production_model:fresh",
    "flights_delay/data_drift:data_drift", "flights_delay/live_performance:live_error",
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("BATCH_TRAINING_HOME", str(tmp_path / "home"))
    for var in ("BATCH_TRAINING_ENV", "BATCH_TRAINING_WAREHOUSE_URL", "BATCH_TRAINING_SPEC_DIR"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def load():
    from batch_training.definitions import defs

    return defs()


def test_asset_keys_checks_and_jobs(env):
    defs = load()
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert checks == EXPECTED_CHECKS
    assert defs.resolve_job_def("flights_delay__ingest") is not None
    assert defs.resolve_job_def("flights_delay__train").tags["batch_training/training"] == "flights_delay"
    assert sorted(s.name for s in defs.schedules) == ["flights_delay__daily", "flights_delay__freshness",
                                                      "flights_delay__source_freshness"]
    assert {s.name for s in defs.sensors} == {"recovery", "flights_delay__train_after_ingest",
                                              "flights_delay__monitor_after_ingest", "flights_delay__retrain_on_drift"}
    assert defs.resolve_job_def("flights_delay__monitor") is not None
    # off in the embedded default until turned on
    assert defs.get_schedule_def("flights_delay__daily").default_status == dg.DefaultScheduleStatus.STOPPED
    blocking = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys
                if graph.get_check_spec(k).blocking}
    assert blocking == {"flights_delay/raw:schema_drift", "flights_delay/raw:not_empty", "flights_delay/raw:conservation",
                        "flights_delay/weather/raw:schema_drift", "flights_delay/weather/raw:not_empty",
                        "flights_delay/weather/raw:conservation", "flights_delay/weather/cleansed:quarantine_rate",
                        "flights_delay/cleansed:quarantine_rate", "flights_delay/evaluation_report:gate",
                        "flights_delay/server_image:smoke_test"}


def test_local_default_points_at_the_duckdb_file_under_home(env, tmp_path):
    resource = load().resources["warehouse"]
    assert resource.url == f"duckdb://{tmp_path / 'home' / 'warehouse.duckdb'}"


def test_warehouse_url_from_the_environment_stays_a_secret(env):
    env.setenv("BATCH_TRAINING_WAREHOUSE_URL", "postgresql://etl:s3cret@127.0.0.1:1/dwh")
    resource = load().resources["warehouse"]
    assert isinstance(resource.url, dg.EnvVar)
    assert "s3cret" not in repr(resource)


def test_production_without_a_warehouse_url_is_refused(env):
    env.setenv("BATCH_TRAINING_ENV", "production")
    with pytest.raises(SettingsError, match="BATCH_TRAINING_WAREHOUSE_URL"):
        load()


def test_another_spec_folder_changes_the_assets(env):
    env.setenv("BATCH_TRAINING_SPEC_DIR", str(ROOT / "batch_training_tests" / "specs"))
    keys = {k.to_user_string() for k in load().resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"sensor_health/{stage}" for stage in STAGES} | {
        f"sensor_health/calibration/{stage}" for stage in ("raw", "cleansed", "quarantine")}


def test_dagster_cli_validates_the_workspace(tmp_path):
    env = {**os.environ, "BATCH_TRAINING_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path)}
    env.pop("BATCH_TRAINING_ENV", None)
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "batch_training" in proc.stdout + proc.stderr
