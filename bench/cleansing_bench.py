"""Cleansing throughput of the flagship contract over a year: as the pipeline runs it (the raw days
read from their Parquet files with text as dictionaries, whole days judged in batches of
``source.cleanse_batch_rows`` with one value memo), beside the whole year as one plain table and
one ``cleanse`` call per day (the way before batches); plus what dominates each: cProfile of the
contract's steps, and the time spent in each Arrow compute function."""

from __future__ import annotations

import cProfile
import pstats
import statistics
import tempfile

import pyarrow as pa

from batch_training.arrow_memory import prefer_jemalloc
from batch_training.cleansing import cleanse
from batch_training.cleansing.chunk import cleanse_days
from batch_training.spec import TrainingSpec
from batch_training.storage import PartitionStore
from batch_training.warehouse.extract import split_by_day
from bench.kernels import kernel_breakdown
from bench.measure import best_of, figure, say

#: functions of the contract whose cumulative time splits a cleanse call into its steps
STEPS = ("judge_column", "parse_column", "_rule_masks", "duplicate_mask", "_fingerprint", "_exact_duplicates",
         "_quarantine", "split_results", "cleanse_batch", "cleanse")


def _per_day(days: list[pa.Table], spec: TrainingSpec) -> int:
    return sum(cleanse(day, spec).rows_clean for day in days)


def _pipeline(days: list[tuple[str, pa.Table]], spec: TrainingSpec) -> int:
    return sum(result.rows_clean for _, result in cleanse_days(days, spec))


def _profile(work, top: int) -> dict:
    """cProfile of ``work()``: the contract's steps (cumulative) and the top functions by self time."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
        where = "builtin" if filename == "~" else f"{'/'.join(filename.split('/')[-2:])}:{line}"
        rows.append({"function": name, "where": where, "calls": ncalls, "tottime_s": round(tottime, 4),
                     "cumtime_s": round(cumtime, 4), "share_of_total": round(tottime / total, 4)})
    by_self = sorted(rows, key=lambda r: -r["tottime_s"])[:top]
    steps = sorted((r for r in rows if r["function"] in STEPS and "cleansing" in r["where"]),
                   key=lambda r: -r["cumtime_s"])
    return {"profiled_total_s": round(total, 4), "top_self_time": by_self, "contract_steps": steps}


def _timing(best: float, times: list[float], rows: int, calls: int) -> dict:
    return {"best": figure(best, "s"), "median": figure(statistics.median(times), "s"),
            "all": [round(t, 4) for t in times], "rows_per_s": figure(rows / best, "rows/s"),
            "rows_per_s_median": figure(rows / statistics.median(times), "rows/s"),
            "ms_per_call": figure(1000 * best / calls, "ms"), "calls": calls}


def measure(year: pa.Table, spec: TrainingSpec, rounds: int = 5, day_rounds: int = 2) -> dict:
    """Rows/s of cleansing ``year`` as the pipeline does, whole and per day (days cut as
    ``extract_days`` cuts them)."""
    pool = prefer_jemalloc()  # as the ingest steps do
    by_day = split_by_day(year, spec.source.partition_column, spec.source.timezone)
    days = list(by_day.values())
    n = year.num_rows
    with tempfile.TemporaryDirectory() as tmp:
        store = PartitionStore(tmp)
        for day, table in by_day.items():
            store.write(spec.name, "raw", day, table)
        stored = [(day, store.read(spec.name, "raw", day, text_as_dictionary=True)) for day in by_day]
    batches = -(-n // spec.source.cleanse_batch_rows)
    say(f"cleansing: as the pipeline runs it ({n} rows in {batches} batch(es) of <= {spec.source.cleanse_batch_rows} "
        f"rows, text as Parquet dictionaries, Arrow pool {pool}), {rounds} rounds")
    pipe, pipe_all, clean_rows = best_of(lambda: _pipeline(stored, spec), rounds)
    say(f"cleansing: pipeline {pipe:.3f} s; whole year as one plain table, {rounds} rounds")
    whole, whole_all, result = best_of(lambda: cleanse(year, spec), rounds)
    say(f"cleansing: whole year {whole:.2f} s; per day ({len(days)} calls, the way before batches), {day_rounds} rounds")
    per_day, per_day_all, clean_per_day = best_of(lambda: _per_day(days, spec), day_rounds)
    say(f"cleansing: per day {per_day:.2f} s; profiling (cProfile, then time per Arrow compute function)")
    return {
        "rows": figure(n, "rows"), "days": figure(len(days), "days"), "arrow_pool": pool,
        "batch_rows": spec.source.cleanse_batch_rows,
        "rows_clean_pipeline": clean_rows, "rows_clean_whole": result.rows_clean,
        "rows_quarantined_whole": result.rows_quarantined, "rows_clean_per_day": clean_per_day,
        "pipeline": _timing(pipe, pipe_all, n, batches),
        "whole_year": _timing(whole, whole_all, n, 1),
        "per_day": _timing(per_day, per_day_all, n, len(days)),
        "per_day_vs_pipeline": figure(per_day / pipe, "x"),
        "profile_pipeline": _profile(lambda: _pipeline(stored, spec), top=12),
        "profile_per_day": _profile(lambda: _per_day(days, spec), top=12),
        "kernels_pipeline": kernel_breakdown(lambda: _pipeline(stored, spec)),
        "kernels_per_day": kernel_breakdown(lambda: _per_day(days, spec)),
    }
