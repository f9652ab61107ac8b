"""``make bench``: extraction, cleansing, full-year backfill and scaling, measured side by side.

Prints a readable report on stdout (progress on stderr) and writes ``bench/results.json``. Nothing
is asserted: a missed target is printed as MISSED. Takes about five minutes on 2 cores.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from bench import backfill, cleansing_bench, extraction, increment, report, scaling
from bench.measure import say
from bench.pg_data import load_scales, scaled_spec, table_name

SCALES = [1, 3, 10]
EXTRACTION_SCALE = 3   # 3 years = 1,011,450 rows: the "1M+ rows" of the extraction comparison
RESULTS = Path(__file__).with_name("results.json")


def _machine() -> dict:
    import adbc_driver_postgresql  # noqa: E401 - versions only
    import dagster
    import duckdb
    import pandas
    import psycopg
    import pyarrow

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "versions": {m.__name__: getattr(m, "__version__", "?") for m in
                         (pyarrow, duckdb, pandas, psycopg, adbc_driver_postgresql, dagster)}}


def _postgres_sections(results: dict) -> None:
    from batch_training.spec import load_specs
    from batch_training.warehouse import open_warehouse
    from batch_training_tests.support.postgres import postgres_available, running_postgres

    if not postgres_available():
        raise ImportError("no PostgreSQL server binaries here (apt-get install postgresql)")
    flagship = load_specs()[0]
    with running_postgres() as server:
        url = server.create_database("bench_ingest")
        say(f"postgres: loading {SCALES}x replicated years (server side)")
        start = time.perf_counter()
        counts = load_scales(url, SCALES)
        results["postgres_load"] = {"rows": {f"{n}x": c for n, c in counts.items()},
                                    "seconds": round(time.perf_counter() - start, 2)}
        say(f"postgres: loaded {counts} in {results['postgres_load']['seconds']} s")

        spec = scaled_spec(flagship, EXTRACTION_SCALE)
        say("backfill on the PostgreSQL instance (the repository's dagster.yaml)")
        results["backfill_postgres"] = backfill.measure(postgres=server)
        report.print_backfill(results["backfill_postgres"], "on the PostgreSQL instance (DuckDB DWH, dagster-postgres)")
        say("the same with Dagster's own PostgreSQL storages (the before of the pooled event log)")
        results["backfill_postgres_dagster_storage"] = backfill.measure(postgres=server, database="bench_dagster_own",
                                                                        own_storage=False)
        report.print_backfill(results["backfill_postgres_dagster_storage"],
                              "on the PostgreSQL instance with Dagster's own storage classes (same event settings)")

        results["extraction"] = extraction.compare(url, spec, spec.source.first_day, spec.source.last_day, rounds=5)
        report.print_extraction(results["extraction"])

        one = scaled_spec(flagship, 1)
        with open_warehouse(url) as wh:
            year = wh.read_days(table_name(1), one.source.partition_column, one.source.first_day, one.source.last_day)
        results["cleansing"] = cleansing_bench.measure(year, flagship)
        del year
        report.print_cleansing(results["cleansing"])

        results["scaling"] = scaling.measure(url, SCALES)
        report.print_scaling(results["scaling"])


def main() -> int:
    started = time.perf_counter()
    results: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
                     "skipped": {}}
    print(f"batch_training benchmark: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
          f"{results['machine']['versions']}")
    results["backfill"] = backfill.measure()
    report.print_backfill(results["backfill"])
    results["backfill_dagster_defaults"] = backfill.measure(event_env=False)
    report.print_backfill(results["backfill_dagster_defaults"], "on the embedded default with Dagster's own event "
                          "settings and SQLite storage class")
    results["daily_increment"] = increment.measure()
    report.print_increment(results["daily_increment"])
    status = 0
    try:
        _postgres_sections(results)
    except ImportError as exc:  # no PostgreSQL here: say so, report the rest as measured
        results["skipped"]["postgres"] = str(exc)
        print(f"\nPostgreSQL sections skipped: {exc}")
    except Exception as exc:  # noqa: BLE001 - still print and save what was measured; exit non-zero
        traceback.print_exc()
        results["skipped"]["postgres"] = f"failed: {exc!r}"
        print(f"\nPostgreSQL sections FAILED: {exc!r}")
        status = 1
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    print(f"\ningest benchmarks took {results['total_seconds']:.0f} s")
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
