"""``dg`` on this project ([tool.dg] in pyproject.toml), and a pipeline scaffolded with
``dg scaffold defs batch_training.TrainingPipeline`` that loads and materializes with the built-in specs.

The scaffolding runs in a copy of the project (pyproject.toml and the package) so the repository's
defs folder is never written; every ``dg`` and Dagster home is a temporary folder."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from batch_training.defs.project import build_project_defs, pipelines_tree, project_specs
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.settings import get_settings, settings_from_env
from batch_training.spec import SpecError, builtin_spec_dir, load_spec
from batch_training.warehouse import open_warehouse
from batch_training_tests.support.flights import small_flights_data
from batch_training_tests.test_definitions import EXPECTED_ASSETS, STAGES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAME = "my_flights"
FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 1, 3)
DAYS = ["2013-01-02", "2013-01-03"]


def dg_env(tmp: Path, pythonpath: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_TRAINING_")}
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env.update(BATCH_TRAINING_HOME=str(tmp / "home"), DAGSTER_HOME=str(home), VIRTUAL_ENV=sys.prefix,
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="200")
    if pythonpath:  # the copy's package, ahead of the installed one
        env["PYTHONPATH"] = str(pythonpath)
    return env


def run_dg(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([str(BIN / "dg"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"dg {' '.join(args)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def listed(cwd: Path, env: dict[str, str]) -> dict:
    return json.loads(run_dg(["list", "defs", "--json"], cwd, env))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the project with a pipeline scaffolded into its defs folder by dg."""
    tmp = tmp_path_factory.mktemp("dg_project")
    copy = tmp / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copytree(ROOT / "batch_training", copy / "batch_training", ignore=shutil.ignore_patterns("__pycache__"))
    env = dg_env(tmp, pythonpath=copy)
    run_dg(["scaffold", "defs", "batch_training.TrainingPipeline", NAME], copy, env)
    return copy, env


def test_dg_checks_and_lists_the_definitions_of_this_project(tmp_path):
    env = dg_env(tmp_path)
    run_dg(["check", "defs"], ROOT, env)
    defs = listed(ROOT, env)
    assert {a["asset_key"] for a in defs["assets"]} == EXPECTED_ASSETS
    assert "recovery" in {s["name"] for s in defs["sensors"]}
    assert not (tmp_path / "home" / "data").exists()  # loading touched no data


def test_a_scaffolded_pipeline_is_a_spec_beside_its_defs_yaml_and_loads_with_the_builtin_specs(project):
    copy, env = project
    folder = copy / "batch_training" / "pipelines" / NAME
    assert yaml.safe_load((folder / "defs.yaml").read_text()) == {
        "type": "batch_training.TrainingPipeline", "attributes": {"spec": f"{NAME}.yaml"}}
    assert load_spec(folder / f"{NAME}.yaml").name == NAME  # a packaged spec, renamed: valid as scaffolded
    run_dg(["check", "defs"], copy, env)
    defs = listed(copy, env)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert EXPECTED_ASSETS <= keys
    assert {f"{NAME}/{stage}" for stage in STAGES} <= keys
    sensors = [s["name"] for s in defs["sensors"]]
    assert sensors.count("recovery") == 1 and f"{NAME}__train_after_ingest" in sensors
    assert f"{NAME}__ingest" in {j["name"] for j in defs["jobs"]}


def test_dg_launch_runs_a_range_of_the_scaffolded_pipeline_in_one_run(project):
    copy, env = project
    home = Path(env["BATCH_TRAINING_HOME"])
    seed_warehouse(f"duckdb://{home / 'warehouse.duckdb'}", SeedOptions(first_day=FIRST, last_day=LAST))
    assets = ",".join(f"{NAME}/{stage}" for stage in ("raw", "cleansed", "quarantine"))
    run_dg(["launch", "--assets", assets, "--partition-range", f"{DAYS[0]}...{DAYS[-1]}",
            "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})], copy, env)
    for stage in ("raw", "cleansed", "quarantine"):
        assert sorted(p.stem for p in (home / "data" / NAME / stage).glob("*.parquet")) == DAYS
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert len(instance.get_run_records()) == 1  # the range is one run (BackfillPolicy.single_run)
        assert sorted(instance.get_materialized_partitions(dg.AssetKey([NAME, "cleansed"]))) == DAYS


def _as_module(folder: Path, name: str, monkeypatch):
    """A copied defs folder as a module of its own (``batch_training.pipelines`` is the repository's)."""
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _metadata(instance, key: dg.AssetKey, day: str) -> dict:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records
    return dict(records[0].asset_materialization.metadata)


def test_a_scaffolded_pipeline_materializes_with_the_standard_metadata(project, tmp_path, monkeypatch):
    copy, _ = project
    folder = tmp_path / "pipelines"
    shutil.copytree(copy / "batch_training" / "pipelines", folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec_file = folder / NAME / f"{NAME}.yaml"
    spec_file.write_text(yaml.safe_dump({**small_flights_data(), "name": NAME}, sort_keys=False))
    monkeypatch.setenv("BATCH_TRAINING_HOME", str(tmp_path / "home"))
    for var in ("BATCH_TRAINING_ENV", "BATCH_TRAINING_WAREHOUSE_URL", "BATCH_TRAINING_SPEC_DIR",
                "BATCH_TRAINING_REGISTRY_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        seed_warehouse(settings.local_warehouse_url, SeedOptions(first_day=FIRST, last_day=LAST))
        tree = pipelines_tree(_as_module(folder, "scaffolded_pipelines", monkeypatch))
        defs = build_project_defs(settings, tree)
        # the CLI's specs are the code location's: the folder's, then the scaffolded pipeline's
        assert [spec.name for spec in project_specs(settings, tree)] == ["flights_delay", NAME]
    finally:
        get_settings.cache_clear()

    instance = dg.DagsterInstance.ephemeral()
    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
    result = defs.resolve_job_def(f"{NAME}__ingest").execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

    raw, cleansed = dg.AssetKey([NAME, "raw"]), dg.AssetKey([NAME, "cleansed"])
    for asset in ("raw", "cleansed", "quarantine", "weather/raw", "weather/cleansed"):
        assert sorted(instance.get_materialized_partitions(dg.AssetKey([NAME, *asset.split("/")]))) == DAYS
    assert not instance.get_materialized_partitions(dg.AssetKey(["flights_delay", "raw"]))  # the built-in spec's own
    with open_warehouse(settings.local_warehouse_url) as wh:
        dwh_rows = {r["d"].isoformat(): r["n"] for r in wh.query(
            "SELECT flight_date AS d, count(*) AS n FROM flights GROUP BY 1").to_pylist()}
    spec = load_spec(spec_file)
    for day in DAYS:
        raw_meta, clean_meta = _metadata(instance, raw, day), _metadata(instance, cleansed, day)
        assert raw_meta["dagster/partition_row_count"].value == dwh_rows[day] > 0
        assert clean_meta["dagster/partition_row_count"].value == clean_meta["rows_clean"].value
        assert clean_meta["rows_clean"].value + clean_meta["rows_quarantined"].value == dwh_rows[day]
        raw_schema = raw_meta["dagster/column_schema"].value
        assert {c.name for c in raw_schema.columns} >= set(spec.columns)
        clean_schema = {c.name: c for c in clean_meta["dagster/column_schema"].value.columns}
        assert set(clean_schema) == set(spec.columns)
        assert clean_schema["dep_delay"].type == "int64" and clean_schema["dep_delay"].constraints.nullable

    # the contract's schema is on the definitions too (shown before anything ran), and each asset
    # points at its spec, its defs.yaml (a component's) and the Python of its body
    spec_schema = defs.resolve_assets_def(cleansed).specs_by_key[cleansed].metadata["dagster/column_schema"]
    assert isinstance(spec_schema, dg.TableSchema) and [c.name for c in spec_schema.columns] == list(spec.columns)
    refs = defs.resolve_assets_def(raw).specs_by_key[raw].metadata["dagster/code_references"].code_references
    files = {Path(r.file_path).name for r in refs}
    assert {f"{NAME}.yaml", "defs.yaml", "raw.py"} <= files
    builtin = dg.AssetKey(["flights_delay", "raw"])
    refs = defs.resolve_assets_def(builtin).specs_by_key[builtin].metadata["dagster/code_references"].code_references
    assert {Path(r.file_path).name for r in refs} == {"flights_delay.yaml", "raw.py"}


def test_a_pipeline_named_like_a_builtin_spec_is_refused_naming_both_files(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    (folder / "again").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "again" / "defs.yaml").write_text("type: batch_training.TrainingPipeline\nattributes:\n  spec: flights_delay.yaml\n")
    shutil.copy(builtin_spec_dir() / "flights_delay.yaml", folder / "again")
    settings = settings_from_env({"BATCH_TRAINING_HOME": str(tmp_path / "home")})
    with pytest.raises(SpecError, match=r"again/flights_delay.yaml: name: .*specs/flights_delay.yaml"):
        build_project_defs(settings, pipelines_tree(_as_module(folder, "clashing_pipelines", monkeypatch)))
