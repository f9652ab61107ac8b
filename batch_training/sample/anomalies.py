"""Inject the anomalies that real DWH extracts have, at a seeded rate.

Each anomalous row gets exactly one anomaly, drawn from its own pool of eligible rows, so the
number of injected anomalies of a kind is known and reproducible for a given seed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: kind -> (columns it may touch, what it becomes)
KINDS = (
    "whitespace",        # " 15 "       lossless repair, stays clean
    "thousands",         # "1,400"      lossless repair, stays clean
    "garbage",           # "12a"        not_a_number
    "empty_text",        # ""           null in a required column
    "out_of_range",      # "-1400" distance, "99999" delay
    "impossible_time",   # "2575"       clock time
    "null_required",     # carrier/origin NULL
    "unknown_category",  # carrier "ZZ"
    "duplicate",         # exact copy of a row
)
REPAIRABLE = {"whitespace", "thousands"}


@dataclass
class InjectionReport:
    rows_before: int
    rows_after: int
    counts: dict[str, int] = field(default_factory=dict)


def _pick(rng: np.random.Generator, eligible: np.ndarray, used: np.ndarray, n: int) -> np.ndarray:
    pool = np.flatnonzero(eligible & ~used)
    chosen = np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))
    used[chosen] = True
    return chosen


def inject(table: pa.Table, rate: float, seed: int) -> tuple[pa.Table, InjectionReport]:
    """Return the table with anomalies in about ``rate`` of its rows, and what was injected."""
    if not 0 <= rate <= 1:
        raise ValueError(f"anomaly rate must be within [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    n = table.num_rows
    per_kind = int(round(n * rate / len(KINDS)))
    cols = {name: table[name].to_pylist() for name in ("dep_time", "sched_dep_time", "sched_arr_time", "dep_delay",
                                                        "arr_delay", "distance", "carrier", "origin")}
    used = np.zeros(n, dtype=bool)
    everywhere = np.ones(n, dtype=bool)
    long_haul = (pc.fill_null(table["distance"], "0").cast(pa.int64()).to_numpy() >= 1000)
    report = InjectionReport(rows_before=n, rows_after=n)

    def mutate(kind: str, eligible: np.ndarray, choices: tuple[str, ...], change) -> np.ndarray:
        rows = _pick(rng, eligible, used, per_kind)
        for i, row in enumerate(rows):
            col = choices[i % len(choices)]
            cols[col][row] = change(col, cols[col][row])
        report.counts[kind] = len(rows)
        return rows

    mutate("whitespace", everywhere, ("sched_dep_time", "sched_arr_time", "distance"), lambda c, v: f" {v} ")
    mutate("thousands", long_haul, ("distance",), lambda c, v: f"{int(v):,}")
    mutate("garbage", everywhere, ("sched_dep_time", "distance", "sched_arr_time"), lambda c, v: f"{v}a")
    mutate("empty_text", everywhere, ("sched_arr_time", "distance"), lambda c, v: "")
    mutate("out_of_range", everywhere, ("distance", "dep_delay", "arr_delay"),
           lambda c, v: f"-{v}" if c == "distance" else "99999")
    mutate("impossible_time", everywhere, ("dep_time", "sched_dep_time"), lambda c, v: "2575")
    mutate("null_required", everywhere, ("carrier", "origin"), lambda c, v: None)
    mutate("unknown_category", everywhere, ("carrier",), lambda c, v: "ZZ")
    dup_rows = _pick(rng, everywhere, used, per_kind)
    report.counts["duplicate"] = len(dup_rows)

    for name, values in cols.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type))
    if len(dup_rows):
        table = pa.concat_tables([table, table.take(pa.array(dup_rows))])
    report.rows_after = table.num_rows
    return table, report


def drop_days(table: pa.Table, partition_column: str, days: list[dt.date]) -> pa.Table:
    """Remove every row of the given days (an "empty day" fault)."""
    if not days:
        return table
    gone = pc.is_in(table[partition_column], value_set=pa.array(days, pa.date32()))
    return table.filter(pc.invert(gone))


def rename_columns(table: pa.Table, renames: dict[str, str]) -> pa.Table:
    """Rename columns (a "renamed column" fault: the DWH changed under the pipeline)."""
    missing = [old for old in renames if old not in table.column_names]
    if missing:
        raise ValueError(f"cannot rename missing columns {missing}")
    return table.rename_columns([renames.get(c, c) for c in table.column_names])
