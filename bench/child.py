"""Work measured in a fresh process, so its peak memory is its own. Prints one JSON line.

``python -m bench.child scale URL SCALE``: extract every day of ``flights_<SCALE>x`` (chunked, as
the raw asset does) and write it as raw Parquet, then read the raw days back with text as
dictionaries and cleanse them in batches, as the cleanse step does, discarding its outputs.

``python -m bench.child core WAREHOUSE_URL DATA_DIR FIRST LAST``: the pipeline's core work without
Dagster, for each table of the flagship (flights, weather): extract + write raw Parquet + day checks, then read raw + cleanse + write cleansed and
quarantine + preview + checks, exactly the calls the two assets make.

``python -m bench.child runstats`` (with DAGSTER_HOME set): the latest run's own timeline, how long
creating it took (Dagster logs one ASSET_MATERIALIZATION_PLANNED event per asset and day then) and
how long it executed, and how many events of each type it wrote to the event log.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time

import pyarrow as pa

from batch_training.arrow_memory import prefer_jemalloc
from batch_training.cleansing import checks
from batch_training.cleansing.chunk import cleanse_days
from batch_training.cleansing.order import canonical_order
from batch_training.cleansing.preview import quarantine_preview
from batch_training.spec import load_specs
from batch_training.storage import PartitionStore
from batch_training.storage.partitions import write_batches
from batch_training.warehouse import open_warehouse
from batch_training.warehouse.extract import day_chunks, extract_chunks, extract_days
from bench.measure import peak_rss_mib, rss_mib
from bench.pg_data import last_day, scaled_spec

_BASELINE_RSS = rss_mib()  # after importing everything above, before touching any data


def _arrow_peak() -> int:
    return pa.default_memory_pool().max_memory()


def scale(url: str, n: int) -> dict:
    prefer_jemalloc()
    spec = scaled_spec(load_specs()[0], n)
    first, last = spec.source.first_day, last_day(spec.source.first_day, n)
    chunk_of = {}
    for i, (a, b) in enumerate(day_chunks(first, last, spec.source.extract_chunk_days)):
        chunk_of.update({a + dt.timedelta(days=d): i for d in range((b - a).days + 1)})
    chunk_bytes: dict[int, int] = {}
    t_extract = t_write = 0.0
    rows = clean = 0
    max_day_bytes = 0
    keys = []
    with tempfile.TemporaryDirectory() as tmp:
        store = PartitionStore(tmp)
        with open_warehouse(url) as wh:
            connected_rss = rss_mib()  # the driver's libraries are loaded now: a fixed cost, not data
            arrow_before = pa.total_allocated_bytes()
            days_iter = extract_days(wh, spec.source, first, last)
            while True:
                start = time.perf_counter()
                item = next(days_iter, None)
                t_extract += time.perf_counter() - start
                if item is None:
                    break
                day, table = item
                start = time.perf_counter()
                store.write(spec.name, "raw", day, table)
                t_write += time.perf_counter() - start
                rows += table.num_rows
                keys.append(day)
                chunk_bytes[chunk_of[day]] = chunk_bytes.get(chunk_of[day], 0) + table.nbytes
                max_day_bytes = max(max_day_bytes, table.nbytes)
        timer = {"read": 0.0}

        def raw_days():
            for day in keys:
                start = time.perf_counter()
                table = store.read(spec.name, "raw", day, text_as_dictionary=True)
                timer["read"] += time.perf_counter() - start
                yield day, table

        start = time.perf_counter()
        for _, result in cleanse_days(raw_days(), spec):
            clean += result.rows_clean
        t_cleanse = time.perf_counter() - start - timer["read"]
    return {"scale": n, "table": spec.source.table, "days": len(keys), "rows": rows, "rows_clean": clean,
            "extract_s": t_extract, "write_raw_s": t_write, "read_raw_s": timer["read"], "cleanse_s": t_cleanse,
            "baseline_rss_mib": _BASELINE_RSS, "connected_rss_mib": connected_rss,
            "peak_rss_mib": peak_rss_mib(), "arrow_allocated_before_bytes": arrow_before, "arrow_peak_bytes": _arrow_peak(),
            "largest_day_bytes": max_day_bytes, "largest_chunk_bytes": max(chunk_bytes.values()),
            "table_bytes": sum(chunk_bytes.values()), "batch_rows": spec.source.cleanse_batch_rows}


def core(url: str, data_dir: str, first: str, last: str) -> dict:
    """Every table of the flagship (flights and the weather it joins), as the ingest job runs them."""
    prefer_jemalloc()
    spec = load_specs()[0]
    store = PartitionStore(data_dir)
    t = {"extract": 0.0, "write_raw": 0.0, "read_raw": 0.0, "cleanse": 0.0, "write_cleansed": 0.0, "checks": 0.0}
    start_all = time.perf_counter()
    tables = [("", spec)] + [(f"{name}/", join.as_table(spec.source)) for name, join in spec.joins.items()]
    days = 0
    for prefix, table_spec in tables:
        days += _core_table(url, store, spec.name, prefix, table_spec, first, last, t)
    t["cleanse"] -= t["read_raw"]
    return {"days": days, "tables": len(tables), "total_s": time.perf_counter() - start_all, "parts_s": t,
            "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": _BASELINE_RSS}


def _core_table(url, store, name, prefix, spec, first, last, t) -> int:
    keys = []
    with open_warehouse(url, read_only=True) as wh:
        chunks = extract_chunks(wh, spec.source, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
        while True:
            start = time.perf_counter()
            chunk = next(chunks, None)
            t["extract"] += time.perf_counter() - start
            if chunk is None:
                break
            start = time.perf_counter()
            store.write_days(name, {(f"{prefix}raw", day): table for day, table in chunk.days.items()})
            t["write_raw"] += time.perf_counter() - start
            start = time.perf_counter()
            for day, table in chunk.days.items():
                checks.schema_drift(table.schema, spec), checks.empty_day(table.num_rows, spec)
                keys.append(day)
            t["checks"] += time.perf_counter() - start

    def raw_days():  # as the cleanse step reads (a few days decoded ahead); the waits count as reading
        reads = store.read_days(name, f"{prefix}raw", keys, text_as_dictionary=True)
        while True:
            start = time.perf_counter()
            item = next(reads, None)
            t["read_raw"] += time.perf_counter() - start
            if item is None:
                return
            yield dt.date.fromisoformat(item[0]), item[1]

    judged = write_batches(cleanse_days(raw_days(), spec))  # as the cleanse step writes
    while True:
        start = time.perf_counter()
        batch = next(judged, None)
        t["cleanse"] += time.perf_counter() - start  # (less the reads, subtracted by the caller)
        if batch is None:
            break
        start = time.perf_counter()
        store.write_days(name, {key: tab for day, result in batch for key, tab in
                                (((f"{prefix}cleansed", day), canonical_order(result.clean)),
                                 ((f"{prefix}quarantine", day), result.quarantine))})
        t["write_cleansed"] += time.perf_counter() - start
        start = time.perf_counter()
        for _, result in batch:
            quarantine_preview(result.quarantine)
            checks.quarantine_rate(result, spec.quality), checks.duplicates(result, spec.quality)
        t["checks"] += time.perf_counter() - start
    return len(keys)


def runstats(index: int = 0) -> dict:
    """The timeline of the latest run (``index`` 1: the one before it, ...), its steps' durations."""
    from collections import Counter

    import dagster as dg

    instance = dg.DagsterInstance.get()
    record = instance.get_run_records(limit=index + 1)[index]
    run_id = record.dagster_run.run_id
    stats = instance.get_run_stats(run_id)
    created = record.create_timestamp.timestamp()
    events = Counter(e.dagster_event.event_type_value if e.dagster_event else "log" for e in instance.all_logs(run_id))
    return {"run_id": run_id, "status": record.dagster_run.status.value,
            "create_to_start_s": stats.start_time - created, "execution_s": stats.end_time - stats.start_time,
            "events": sum(events.values()), "events_by_type": dict(events.most_common()),
            "steps_s": {st.step_key: round(st.end_time - st.start_time, 3)
                        for st in instance.get_run_step_stats(run_id) if st.end_time and st.start_time}}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "runstats":
        out = runstats(int(args[0]) if args else 0)
    else:
        out = scale(args[0], int(args[1])) if command == "scale" else core(*args)
    print(json.dumps(out))
