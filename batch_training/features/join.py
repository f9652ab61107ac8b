"""Point-in-time joins: each main row takes the latest joined row with the same keys whose time is at
or before the row's event time, within the join's tolerance. A library's as-of join does the work
(DuckDB's ``ASOF LEFT JOIN``, in memory, on the Arrow tables of the window): no row from the future
can match (``>=`` on the main side), a row without a match keeps its place with missing values, and
both are counted. Memory is bounded by the window: the joined table is read for the window's days
(and the tolerance's margin before them) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.spec import JoinSpec

INSTANT = pa.timestamp("us", tz="UTC")


@dataclass
class JoinStats:
    rows: int
    matched: int
    unmatched: int          # no joined row at or before the event (with the same keys)
    too_old: int            # the latest one was older than the tolerance

    def to_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "matched": self.matched, "unmatched": self.unmatched, "too_old": self.too_old}


def _micros(column) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.cast(INSTANT).cast(pa.int64())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def as_of_join(main: pa.Table, joined: pa.Table, name: str, join: JoinSpec, columns: list[str]) -> tuple[pa.Table, JoinStats]:
    """``main`` with ``<name>.<column>`` appended for each of ``columns`` of the joined table."""
    keys = list(join.keys.items())
    left = pa.table({"row": pa.array(np.arange(main.num_rows, dtype=np.int64)),
                     "ts": _micros(main.column(join.event_time)),
                     **{f"k{i}": main.column(m) for i, (m, _) in enumerate(keys)}})
    right = pa.table({"ts": _micros(joined.column(join.time)),
                      **{f"k{i}": joined.column(j) for i, (_, j) in enumerate(keys)},
                      **{f"c{i}": joined.column(c) for i, c in enumerate(columns)}})
    on = " AND ".join([f"l.k{i} = r.k{i}" for i in range(len(keys))] + ["l.ts >= r.ts"])
    picked = ", ".join(f"r.c{i}" for i in range(len(columns)))
    # Two joined rows with the same keys and time (a repeated hour, a resent reading) would make the
    # match depend on the scan order: keep one, the first in the order of their values.
    partition = ", ".join([f"k{i}" for i in range(len(keys))] + ["ts"])
    order = ", ".join(f"c{i} NULLS LAST" for i in range(len(columns))) or "ts"
    with duckdb.connect() as con:
        con.register("l", left)
        con.register("r_all", right)
        con.execute(f"CREATE TEMP TABLE r AS SELECT * FROM r_all "
                    f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order}) = 1")
        out = con.sql(f"SELECT l.row, l.ts - r.ts AS age, {picked + ', ' if picked else ''}r.ts IS NOT NULL AS hit "
                      f"FROM l ASOF LEFT JOIN r ON {on} ORDER BY l.row").to_arrow_table()
    hit = pc.fill_null(out.column("hit"), False)
    fresh = pc.and_(hit, pc.fill_null(pc.less_equal(out.column("age"), join.tolerance_minutes * 60_000_000), False))
    table = main
    for i, column in enumerate(columns):
        values = out.column(f"c{i}")
        table = table.append_column(f"{name}.{column}", pc.if_else(fresh, values, pa.scalar(None, values.type)))
    n_hit, n_fresh = int(pc.sum(hit).as_py() or 0), int(pc.sum(fresh).as_py() or 0)
    return table, JoinStats(main.num_rows, n_fresh, main.num_rows - n_hit, n_hit - n_fresh)
