"""Load the sample year into PostgreSQL and replicate it into whole shifted years.

"Replicated years": the 2013 table is copied k = 0..n-1 times with ``flight_date``, ``year`` and
``time_hour`` shifted by k whole years, so 3× is 2013-2015 and 10× is 2013-2022: every day stays a
distinct, realistic day (~920 rows), and a day's (or a chunk's) size does not change with the scale,
only the number of days does. That is what a DWH that grows over time looks like. Each copy is one
server-side ``INSERT ... SELECT`` in the source's physical order (the table stays clustered by day,
as a daily-loaded fact table is), then the partition column is indexed, as any DWH fact table
queried by day would be.
"""

from __future__ import annotations

import datetime as dt

from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.spec import TrainingSpec
from batch_training.spec.identifiers import quote_identifier
from batch_training.warehouse import open_warehouse

SHIFTED = {"flight_date": "({c} + make_interval(years => {k}))::date",
           "year": "{c} + {k}",
           "time_hour": "{c} + make_interval(years => {k})"}


def table_name(scale: int) -> str:
    return f"flights_{scale}x"


def last_day(first: dt.date, years: int) -> dt.date:
    return dt.date(first.year + years - 1, 12, 31)


def _columns(wh, table: str) -> list[str]:
    rows = wh.query("SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                    "ORDER BY ordinal_position", (table,))
    return rows.column("column_name").to_pylist()


def _replicate(wh, base: str, target: str, years: int, columns: list[str]) -> None:
    wh.execute(f"DROP TABLE IF EXISTS {quote_identifier(target)}")
    wh.execute(f"CREATE TABLE {quote_identifier(target)} (LIKE {quote_identifier(base)})")
    for k in range(years):
        select = ", ".join(SHIFTED[c].format(c=quote_identifier(c), k=k) if c in SHIFTED else quote_identifier(c)
                           for c in columns)
        wh.execute(f"INSERT INTO {quote_identifier(target)} SELECT {select} FROM {quote_identifier(base)}")
    wh.execute(f"CREATE INDEX ON {quote_identifier(target)} (flight_date)")
    wh.execute(f"ANALYZE {quote_identifier(target)}")


def load_scales(url: str, scales: list[int]) -> dict[int, int]:
    """Seed ``flights_base`` and build ``flights_<n>x`` for each scale; return the row count of each."""
    seed_warehouse(url, SeedOptions(flights_table="flights_base"))
    counts = {}
    with open_warehouse(url) as wh:
        columns = _columns(wh, "flights_base")
        for scale in scales:
            _replicate(wh, "flights_base", table_name(scale), scale, columns)
            n = wh.query(f"SELECT count(*) AS n FROM {quote_identifier(table_name(scale))}").column("n")[0].as_py()
            counts[scale] = int(n)
    return counts


def scaled_spec(spec: TrainingSpec, scale: int) -> TrainingSpec:
    """The flagship spec reading ``flights_<n>x``, with ``year``'s range widened to the replicated
    years (its only year-bound rule); every other rule is the flagship's own."""
    source = spec.source.model_copy(update={"table": table_name(scale),
                                            "last_day": last_day(spec.source.first_day, scale)})
    columns = dict(spec.columns)
    if "year" in columns and columns["year"].max is not None:
        columns["year"] = columns["year"].model_copy(update={"max": columns["year"].max + scale - 1})
    return spec.model_copy(update={"source": source, "columns": columns})
