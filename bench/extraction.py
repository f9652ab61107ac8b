"""Extraction from PostgreSQL, side by side: ours (chunked ``extract_days``, and one ``read_between``),
a raw binary ``COPY (query) TO STDOUT`` drained by the client, and ``pandas.read_sql``.

Same query text and bounds for all (``SELECT * FROM t WHERE flight_date >= lo AND flight_date < hi``;
``extract_days`` streams it once and cuts chunks of ``extract_chunk_days`` days from its batches,
after one statement that counts every chunk), same rows. The methods
are interleaved round by round so each sees the same server state; the best round counts.
Diagnostics (``diag_*``, not compared with a target) show where our time goes: the same single
query through ADBC with its bounds as SQL literals instead of bound parameters, and the day split.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable

import pandas as pd
import psycopg
import sqlalchemy as sa

from batch_training.spec import TrainingSpec
from batch_training.warehouse import open_warehouse
from batch_training.warehouse.base import day_range_sql
from batch_training.warehouse.extract import extract_days, split_by_day
from bench.measure import figure, ratio, say, timed


def _ours_days(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> int:
    with open_warehouse(url) as wh:
        return sum(t.num_rows for _, t in extract_days(wh, spec.source, first, last))


def _ours_one_query(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> int:
    with open_warehouse(url) as wh:
        return wh.read_days(spec.source.table, spec.source.partition_column, first, last).num_rows


def _adbc_literal_bounds(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> int:
    """Diagnostic: the same single query through ADBC with the bounds written into the SQL
    (ISO dates, safe) instead of bound as parameters."""
    sql = day_range_sql(spec.source.table, spec.source.partition_column, "$BOUND{}")
    sql = sql.replace("$BOUND1", f"DATE '{first.isoformat()}'")
    sql = sql.replace("$BOUND2", f"DATE '{(last + dt.timedelta(days=1)).isoformat()}'")
    with open_warehouse(url) as wh:
        return wh.query(sql).num_rows


def _split_only(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> tuple[float, int]:
    """Diagnostic: seconds of ``split_by_day`` alone on the whole range (the read is not timed)."""
    with open_warehouse(url) as wh:
        table = wh.read_days(spec.source.table, spec.source.partition_column, first, last)
    seconds, by_day = timed(lambda: split_by_day(table, spec.source.partition_column, spec.source.timezone))
    return seconds, sum(t.num_rows for t in by_day.values())


def _raw_copy(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> int:
    query = day_range_sql(spec.source.table, spec.source.partition_column, "%s")
    upper = last + dt.timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
        # COPY takes no server-side parameters: psycopg binds them client side into the statement.
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", (first, upper)) as copy:
            for _block in copy:
                pass
        return cur.rowcount


def _read_sql(url: str, spec: TrainingSpec, first: dt.date, last: dt.date) -> int:
    query = day_range_sql(spec.source.table, spec.source.partition_column, ":p{}")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        frame = pd.read_sql(sa.text(query), engine, params={"p1": first, "p2": last + dt.timedelta(days=1)})
    finally:
        engine.dispose()
    return len(frame)


#: pandas takes ~7x the COPY: it runs in the first rounds only, to keep `make bench` short
SLOW, SLOW_ROUNDS = ("pandas_read_sql",), 2
METHODS: dict[str, Callable[..., int]] = {
    "ours_extract_days": _ours_days,
    "ours_read_between": _ours_one_query,
    "raw_binary_copy": _raw_copy,
    "pandas_read_sql": _read_sql,
    "diag_adbc_literal_bounds": _adbc_literal_bounds,
}


def compare(url: str, spec: TrainingSpec, first: dt.date, last: dt.date, rounds: int) -> dict:
    """Seconds of each method over ``rounds`` interleaved rounds: the best, the median, and the ratio
    to the raw COPY (best to best, and the median and worst of the rounds' own ratios, so noise shows)."""
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    rows: dict[str, int] = {}
    for r in range(rounds):
        for name, method in METHODS.items():
            if name in SLOW and r >= SLOW_ROUNDS:
                continue
            seconds, rows[name] = timed(lambda method=method: method(url, spec, first, last))
            times[name].append(seconds)
            say(f"extraction round {r + 1}/{rounds}: {name} {seconds:.2f} s ({rows[name]} rows)")
    best = {name: min(ts) for name, ts in times.items()}
    copy = best["raw_binary_copy"]
    copies = times["raw_binary_copy"]
    # each round's ratio to that round's COPY (interleaved, so both saw the same server state)
    paired = {name: [t / c for t, c in zip(ts, copies)] for name, ts in times.items()}
    split_s, split_rows = min(_split_only(url, spec, first, last) for _ in range(rounds))
    return {
        "table": spec.source.table, "first_day": first.isoformat(), "last_day": last.isoformat(),
        "chunk_days": spec.source.extract_chunk_days, "rounds": rounds,
        "rounds_of": {name: len(ts) for name, ts in times.items()},
        "diag_split_by_day_whole_range": figure(split_s, "s", rows=split_rows,
                                                ratio_to_raw_copy=round(ratio(split_s, copy), 3)),
        "methods": {name: {"best": figure(best[name], "s"), "all": [round(t, 4) for t in times[name]],
                           "rows": figure(rows[name], "rows"),
                           "rows_per_s": figure(rows[name] / best[name], "rows/s"),
                           "ratio_to_raw_copy": figure(ratio(best[name], copy), "x"),
                           "median": figure(statistics.median(times[name]), "s"),
                           "median_ratio_to_raw_copy": figure(statistics.median(paired[name]), "x",
                                                              note="median over rounds of each round's ratio"),
                           "worst_ratio_to_raw_copy": figure(max(paired[name]), "x")}
                    for name in METHODS},
    }
