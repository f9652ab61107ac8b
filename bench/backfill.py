"""The full-year single-run backfill, as a user runs it, and its split.

In a fresh ``BATCH_TRAINING_HOME`` and ``DAGSTER_HOME``: ``batch-training seed`` (DuckDB file), then
``batch-training ingest`` over 2013 (one run of raw + cleansed + quarantine of both tables, with
their checks), each timed from outside, start-up included. Then the same core work without Dagster
(``bench.child core``) and a bare start-up (imports + building the definitions), so what Dagster's
run machinery and event log add is visible.

``measure()`` runs it on the embedded default (SQLite event log, written by the CLI); with
``postgres=`` the Dagster instance is the repository's ``dagster.yaml`` on that PostgreSQL server
(as on the production-shaped stack), the DWH the same DuckDB file, so only the instance differs.
Both run with the event settings of ``batch_training.settings.DAGSTER_EVENT_ENV`` unless
``event_env=False`` (Dagster's defaults: one planned event per day, one insert per event).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from batch_training.settings import DAGSTER_EVENT_ENV
from bench.measure import figure, say, timed

ROOT = Path(__file__).resolve().parents[1]

STARTUP = ("from batch_training.defs.runner import local_instance, run_ingest; "
           "from batch_training.defs import build_defs; from batch_training.spec import load_specs; "
           "from batch_training.settings import settings_from_env; "
           "build_defs(load_specs(), settings_from_env())")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "batch-training"
    return [str(script)] if script.exists() else [sys.executable, "-m", "batch_training.cli"]


def _env(home: Path, event_env: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BATCH_TRAINING_WAREHOUSE_URL", "BATCH_TRAINING_ENV", "BATCH_TRAINING_SPEC_DIR", *DAGSTER_EVENT_ENV)}
    if not event_env:  # Dagster's own defaults (the CLI only fills in what is unset)
        env |= {"DAGSTER_EVENT_BATCH_SIZE": "0", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "false"}
    return {**env, "BATCH_TRAINING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}


# Dagster's own PostgreSQL storages (what the repository's dagster.yaml named before its event log
# kept a connection open): the side-by-side "before" of the PostgreSQL instance
DAGSTER_POSTGRES_YAML = """telemetry:
  enabled: false
storage:
  postgres:
    postgres_db:
      hostname: {env: DAGSTER_PG_HOST}
      port: {env: DAGSTER_PG_PORT}
      db_name: {env: DAGSTER_PG_DB}
      username: {env: DAGSTER_PG_USER}
      password: {env: DAGSTER_PG_PASSWORD}
"""


def _postgres_instance(env: dict[str, str], server, database: str, ours: bool = True) -> dict[str, str]:
    """Point DAGSTER_HOME at the repository's production dagster.yaml on ``server`` (``ours``), or
    at Dagster's own PostgreSQL storages there."""
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    if ours:
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(DAGSTER_POSTGRES_YAML)
    server.create_database(database)
    return {**env, "DAGSTER_PG_HOST": server.host, "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USER": server.user, "DAGSTER_PG_PASSWORD": server.password}


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    return timed(lambda: subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                                          cwd=ROOT))


def measure(first: str = "2013-01-01", last: str = "2013-12-31", postgres=None, event_env: bool = True,
            database: str = "bench_dagster", own_storage: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        home = Path(tmp)
        env = _env(home, event_env)
        if postgres is not None:
            env = _postgres_instance(env, postgres, database, ours=own_storage)
        elif not event_env:  # and Dagster's own consolidated SQLite event log (the CLI keeps a file it did not write)
            Path(env["DAGSTER_HOME"]).mkdir(parents=True)
            (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(
                "telemetry:\n  enabled: false\nevent_log_storage:\n  module: dagster.core.storage.event_log\n"
                f"  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {home}/dagster_home/history/events\n")
        say("backfill: batch-training seed (DuckDB)")
        seed_s, seed = _run(_cli() + ["seed"], env)
        if seed.returncode:
            raise RuntimeError(f"batch-training seed failed:\n{seed.stdout}\n{seed.stderr}")
        say(f"backfill: seeded in {seed_s:.1f} s; batch-training ingest {first}..{last} (one run)")
        ingest_s, ingest = _run(_cli() + ["ingest", "--spec", "flights_delay", "--first-day", first,
                                          "--last-day", last], env)
        ok = ingest.returncode == 0 and " succeeded " in ingest.stdout
        say(f"backfill: ingest {'succeeded' if ok else 'FAILED'} in {ingest_s:.1f} s; core work without Dagster")
        url = f"duckdb://{home / 'warehouse.duckdb'}"
        core_s, core = _run([sys.executable, "-m", "bench.child", "core", url, str(home / "core_data"), first, last], env)
        if core.returncode:
            raise RuntimeError(f"bench.child core failed:\n{core.stderr}")
        parts = json.loads(core.stdout.strip().splitlines()[-1])
        say(f"backfill: core work {parts['total_s']:.1f} s; bare start-up (imports + definitions)")
        startup_s, startup = _run([sys.executable, "-c", STARTUP], env)
        _, stats = _run([sys.executable, "-m", "bench.child", "runstats"], env)
        run = json.loads(stats.stdout.strip().splitlines()[-1]) if stats.returncode == 0 else {"error": stats.stderr[-500:]}
        out = _report(seed_s, ingest_s, ok, ingest, parts, startup_s, startup.returncode == 0, run)
        out["instance"] = "postgres" if postgres is not None else "sqlite"
        out["event_settings"] = dict(DAGSTER_EVENT_ENV) if event_env else "Dagster defaults"
        out["storage"] = "ours" if own_storage else "Dagster's"
        return out


def _report(seed_s, ingest_s, ok, ingest, core, startup_s, startup_ok, run) -> dict:
    overhead = ingest_s - core["total_s"] - startup_s
    return {
        "run_timeline": {"creating_the_run": figure(run.get("create_to_start_s", float("nan")), "s",
                                                    note="run created -> started: planned events logged"),
                         "executing_the_run": figure(run.get("execution_s", float("nan")), "s"),
                         "events": figure(run.get("events", 0), "events", by_type=run.get("events_by_type"))},
        "seed_wall": figure(seed_s, "s"),
        "ingest_wall": figure(ingest_s, "s", succeeded=ok, returncode=ingest.returncode),
        "ingest_output": ingest.stdout.strip().splitlines()[-12:] + ingest.stderr.strip().splitlines()[-5:],
        "core_without_dagster": figure(core["total_s"], "s", days=core["days"],
                                       parts_s={k: round(v, 3) for k, v in core["parts_s"].items()},
                                       peak_rss_mib=round(core["peak_rss_mib"], 1)),
        "startup_imports_and_definitions": figure(startup_s, "s", succeeded=startup_ok),
        "dagster_run_overhead": figure(overhead, "s", note="ingest wall - core work - bare start-up"),
        "core_share_of_ingest": figure(core["total_s"] / ingest_s, "fraction"),
        "ingest_over_core": figure(ingest_s / core["total_s"], "x", note="the Dagster overhead as a ratio"),
    }
