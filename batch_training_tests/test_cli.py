"""The batch-training command as a user runs it (what `make run` does, on a few days)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

BIN = Path(sys.executable).parent


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BATCH_TRAINING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}
    for var in ("BATCH_TRAINING_ENV", "BATCH_TRAINING_WAREHOUSE_URL", "BATCH_TRAINING_SPEC_DIR"):
        env.pop(var, None)
    return subprocess.run([str(BIN / "batch-training"), *args], env=env, capture_output=True, text=True, timeout=600)


def test_seed_then_ingest_prints_a_summary_that_matches_the_files(tmp_path):
    home = tmp_path / "home"
    seed = run_cli("seed", "--first-day", "2013-02-01", "--last-day", "2013-02-03", "--anomaly-rate", "0.09", home=home)
    assert seed.returncode == 0, seed.stderr
    assert re.search(r"flights \d+ rows", seed.stdout)
    assert (home / "warehouse.duckdb").exists()

    ingest = run_cli("ingest", "--first-day", "2013-02-01", "--last-day", "2013-02-03", home=home)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    out = ingest.stdout
    assert "flights_delay: ingest 2013-02-01..2013-02-03 succeeded" in out
    assert "days materialized: cleansed 3, quarantine 3, raw 3" in out
    raw, clean, quarantined = map(int, re.search(r"rows: raw (\d+), clean (\d+), quarantined (\d+)", out).groups())
    data = home / "data" / "flights_delay"
    days = ["2013-02-01", "2013-02-02", "2013-02-03"]
    assert clean == sum(pq.read_metadata(data / "cleansed" / f"{d}.parquet").num_rows for d in days)
    assert quarantined == sum(pq.read_metadata(data / "quarantine" / f"{d}.parquet").num_rows for d in days)
    assert raw == clean + quarantined
    assert quarantined > 0 and "quarantine reasons:" in out
    # the run is recorded in the local instance, where `make dev` shows it
    assert (home / "dagster_home" / "dagster.yaml").exists()
    assert any((home / "dagster_home" / "history").iterdir())


def test_bad_arguments_get_a_clear_error(tmp_path):
    proc = run_cli("seed", "--first-day", "2013-13-01", home=tmp_path)
    assert proc.returncode == 2 and "is not a day" in proc.stderr
    proc = run_cli("seed", "--warehouse", "mysql://u:topsecret@h/db", home=tmp_path)
    assert proc.returncode == 2
    assert "unsupported warehouse URL" in proc.stderr and "topsecret" not in proc.stderr


def test_dev_starts_the_venvs_dagster_on_loopback(tmp_path, monkeypatch):
    """`make dev` runs `batch-training dev`: it must find dagster beside its own Python, even when the
    venv's bin/ is not on PATH, and bind 127.0.0.1 by default."""
    import os as os_module

    from batch_training import cli
    from batch_training.settings import get_settings

    monkeypatch.setenv("BATCH_TRAINING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    get_settings.cache_clear()
    started = []
    monkeypatch.setattr(os_module, "execvp", lambda path, argv: started.append(argv))
    try:
        assert cli.main(["dev"]) == 0
    finally:
        get_settings.cache_clear()
    [argv] = started
    assert Path(argv[0]).exists() and Path(argv[0]).name == "dagster"
    assert argv[1:] == ["dev", "-m", "batch_training.definitions", "-h", "127.0.0.1", "-p", "3000"]
    assert (tmp_path / "home" / "dagster_home" / "dagster.yaml").exists()
