"""Cleansing throughput: the flagship contract over a whole year as one table, and day by day as
the pipeline runs it (one ``cleanse`` call per day), plus what dominates each: cProfile of the
contract's steps, and the time spent in each Arrow compute function."""

from __future__ import annotations

import cProfile
import pstats

import pyarrow as pa

from batch_training.cleansing import cleanse
from batch_training.spec import TrainingSpec
from batch_training.warehouse.extract import split_by_day

from bench.kernels import kernel_breakdown
from bench.measure import best_of, figure, say

#: functions of the contract whose cumulative time splits a cleanse call into its steps
STEPS = ("parse_column", "_rule_masks", "duplicate_mask", "_fingerprint", "_exact_duplicates", "_quarantine",
         "clean_schema", "cleanse")


def _per_day(days: list[pa.Table], spec: TrainingSpec) -> int:
    return sum(cleanse(day, spec).rows_clean for day in days)


def _profile(days: list[pa.Table], spec: TrainingSpec, top: int) -> dict:
    """cProfile of one ``cleanse`` call per table: the contract's steps (cumulative) and the top
    functions by self time."""
    profiler = cProfile.Profile()
    profiler.enable()
    _per_day(days, spec)
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


def measure(year: pa.Table, spec: TrainingSpec, rounds: int = 3, day_rounds: int = 2) -> dict:
    """Rows/s of cleansing ``year`` whole and per day (days cut as ``extract_days`` cuts them)."""
    days = list(split_by_day(year, spec.source.partition_column, spec.source.timezone).values())
    n = year.num_rows
    say(f"cleansing: whole year as one table ({n} rows), best of {rounds}")
    whole, whole_all, result = best_of(lambda: cleanse(year, spec), rounds)
    say(f"cleansing: whole year {whole:.2f} s; now per day ({len(days)} calls), best of {day_rounds}")
    per_day, per_day_all, clean_rows = best_of(lambda: _per_day(days, spec), day_rounds)
    say(f"cleansing: per day {per_day:.2f} s; profiling (cProfile, then time per Arrow compute function)")
    return {
        "rows": figure(n, "rows"), "days": figure(len(days), "days"),
        "rows_clean_whole": result.rows_clean, "rows_quarantined_whole": result.rows_quarantined,
        "rows_clean_per_day": clean_rows,
        "whole_year": {"best": figure(whole, "s"), "all": [round(t, 4) for t in whole_all],
                       "rows_per_s": figure(n / whole, "rows/s")},
        "per_day": {"best": figure(per_day, "s"), "all": [round(t, 4) for t in per_day_all],
                    "rows_per_s": figure(n / per_day, "rows/s"),
                    "ms_per_call": figure(1000 * per_day / len(days), "ms")},
        "profile_whole_year": _profile([year], spec, top=12),
        "profile_per_day": _profile(days, spec, top=12),
        "kernels_whole_year": kernel_breakdown(lambda: cleanse(year, spec)),
        "kernels_per_day": kernel_breakdown(lambda: _per_day(days, spec)),
    }
