"""Timestamps, on both DWHs: naive (wall-clock) and aware (instant) partition columns, for any chunk
size, over a range holding both DST changes: every DWH row lands in exactly one day, and the days
agree with the DWH's own per-day count. Values in the spring-forward gap and the fall-back hour are
read by one documented rule and counted, never dropped, never a crash."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest

from batch_training.cleansing import cleanse
from batch_training.spec import parse_spec
from batch_training.spec.tables import SourceSpec
from batch_training.timestamps import DayKind, day_bounds, localize
from batch_training.warehouse import open_warehouse
from batch_training.warehouse.extract import extract_chunks, partition_kind, split_by_day
from batch_training_tests.support.dagster_run import ingest_defs, materialized_days, run_range

TZ = "America/Chicago"
CHICAGO = ZoneInfo(TZ)
FIRST, LAST = dt.date(2017, 3, 10), dt.date(2017, 11, 7)  # spring forward 03-12 02:00, fall back 11-05 02:00
EDGES = [dt.time(0), dt.time(0, 0, 1), dt.time(1, 30), dt.time(2, 30), dt.time(23, 59, 59, 999999)]


def wall_clock_times() -> list[dt.datetime]:
    """Every 97 minutes across the range, plus each day's edges: midnight, just after, 01:30 (twice
    on 11-05), 02:30 (which does not exist on 03-12) and the last microsecond."""
    out, t = [], dt.datetime.combine(FIRST - dt.timedelta(days=1), dt.time(22))
    while t < dt.datetime.combine(LAST + dt.timedelta(days=2), dt.time(2)):
        out.append(t)
        t += dt.timedelta(minutes=97)
    day = FIRST
    while day <= LAST:
        out += [dt.datetime.combine(day, edge) for edge in EDGES]
        day += dt.timedelta(days=1)
    return out


def table(kind: str) -> pa.Table:
    """``naive``: wall-clock Chicago times (TIMESTAMP); ``utc``: naive UTC wall clocks; ``aware``: instants."""
    walls = wall_clock_times()
    if kind == "naive":
        stamps = pa.array(walls, pa.timestamp("us"))
    else:
        instants = localize(pa.array(walls, pa.timestamp("us")), TZ).instants
        stamps = instants.cast(pa.timestamp("us")) if kind == "utc" else instants
    return pa.table({"at": stamps, "n": pa.array(range(len(walls)), pa.int64())})


def dwh_day_sql(dialect: str, kind: str) -> str:
    """The DWH's own day of each row, written here independently of the code under test."""
    col = '"at"'  # AT is a keyword (AT TIME ZONE)
    if dialect == "duckdb":
        return {"naive": f"CAST({col} AS DATE)", "utc": f"CAST(timezone('{TZ}', timezone('UTC', {col})) AS DATE)",
                "aware": f"CAST(timezone('{TZ}', {col}) AS DATE)"}[kind]
    return {"naive": f"{col}::date", "utc": f"(({col} AT TIME ZONE 'UTC') AT TIME ZONE '{TZ}')::date",
            "aware": f"({col} AT TIME ZONE '{TZ}')::date"}[kind]


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dwh(request, tmp_path):
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("postgres_url")
    return request.param, url


@pytest.mark.parametrize("kind", ["naive", "utc", "aware"])
@pytest.mark.parametrize("chunk_days", [1, 7, 31])
def test_every_dwh_row_lands_in_exactly_its_day(dwh, kind, chunk_days):
    dialect, url = dwh
    source = SourceSpec(table="readings", partition_column="at", timezone=TZ, first_day=FIRST,
                        extract_chunk_days=chunk_days, naive_timestamps="utc" if kind == "utc" else "local")
    with open_warehouse(url) as wh:
        wh.replace_table("readings", table(kind))
        expected_kind = {"naive": DayKind.NAIVE_LOCAL, "utc": DayKind.NAIVE_UTC, "aware": DayKind.AWARE}[kind]
        assert partition_kind(wh, source) is expected_kind
        got: dict[str, int] = {}
        seen = []
        for chunk in extract_chunks(wh, source, FIRST, LAST):
            assert chunk.conserved and chunk.dwh_rows == chunk.rows
            for day, rows in chunk.days.items():
                got[day.isoformat()] = rows.num_rows
                seen += rows.column("n").to_pylist()
        counted = wh.query(f"SELECT {dwh_day_sql(dialect, kind)} AS d, count(*) AS c FROM readings GROUP BY 1").to_pylist()
    by_dwh = {r["d"].isoformat(): r["c"] for r in counted if FIRST <= r["d"] <= LAST}
    assert got == {d: by_dwh.get(d, 0) for d in got}  # every day, as the DWH itself counts it
    assert len(got) == (LAST - FIRST).days + 1
    assert len(seen) == len(set(seen)) == sum(by_dwh.values())  # no row twice, none lost
    assert got["2017-03-12"] > 0 and got["2017-11-05"] > 0


def test_bounds_are_local_midnights_in_the_meaning_of_the_column():
    lo, hi = day_bounds(DayKind.NAIVE_LOCAL, TZ, dt.date(2017, 3, 12), dt.date(2017, 3, 12))
    assert (lo, hi) == (dt.datetime(2017, 3, 12), dt.datetime(2017, 3, 13))
    lo, hi = day_bounds(DayKind.AWARE, TZ, dt.date(2017, 3, 12), dt.date(2017, 3, 12))
    assert hi.astimezone(dt.UTC) - lo.astimezone(dt.UTC) == dt.timedelta(hours=23)  # the short day
    lo, hi = day_bounds(DayKind.NAIVE_UTC, TZ, dt.date(2017, 11, 5), dt.date(2017, 11, 5))
    assert (lo, hi) == (dt.datetime(2017, 11, 5, 5), dt.datetime(2017, 11, 6, 6))  # 25 hours


def test_a_midnight_that_does_not_exist_starts_its_day_at_the_transition():
    """Havana skipped 00:00-01:00 on 2017-03-12: that day begins at 01:00 local (the transition)."""
    lo, _ = day_bounds(DayKind.AWARE, "America/Havana", dt.date(2017, 3, 12), dt.date(2017, 3, 12))
    just_before = lo - dt.timedelta(microseconds=1)
    stamps = pa.array([just_before, lo], pa.timestamp("us", tz="UTC"))
    days = split_by_day(pa.table({"at": stamps}), "at", "America/Havana")
    assert {d: t.num_rows for d, t in days.items()} == {"2017-03-11": 1, "2017-03-12": 1}


# --- cleansing: the gap and the repeated hour ----------------------------------------------------
SPEC = parse_spec({
    "name": "readings", "source": {"table": "readings", "partition_column": "at", "timezone": TZ,
                                   "first_day": "2017-03-01"},
    "columns": {"at": {"type": "timestamp"}, "seen": {"type": "timestamp", "nullable": True},
                "n": {"type": "integer"}},
})


@pytest.mark.parametrize("typed", [True, False], ids=["timestamp", "text"])
def test_gap_and_repeated_hour_are_kept_by_the_rule_and_counted(typed):
    walls = [dt.datetime(2017, 3, 12, 2, 53), dt.datetime(2017, 11, 5, 1, 30), dt.datetime(2017, 3, 12, 3, 10)]
    seen = pa.array(walls, pa.timestamp("us")) if typed else pa.array([w.isoformat(" ") for w in walls])
    raw = pa.table({"at": pa.array(walls, pa.timestamp("us")), "seen": seen, "n": [1, 2, 3]})
    result = cleanse(raw, SPEC)
    assert result.rows_clean == 3 and result.rows_quarantined == 0
    utc = dt.timezone.utc
    expected = [dt.datetime(2017, 3, 12, 8, 53, tzinfo=utc),   # 02:53 CST (before the jump) = 03:53 CDT
                dt.datetime(2017, 11, 5, 6, 30, tzinfo=utc),   # the first 01:30 (CDT)
                dt.datetime(2017, 3, 12, 8, 10, tzinfo=utc)]   # 03:10 CDT, an ordinary time
    for column in ("at", "seen"):
        assert result.clean.column(column).to_pylist() == expected
        assert result.repairs[f"{column}:dst_gap"] == 1 and result.repairs[f"{column}:dst_ambiguous"] == 1


def test_a_naive_local_day_is_ingested_whole_through_the_assets(tmp_path):
    """The partition column TIMESTAMP of local times: the day of the gap is stored with every one
    of its DWH rows (it used to lose the ones between midnight and the UTC offset, or crash)."""
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    walls = [dt.datetime(2017, 3, 12, h, m) for h in range(24) for m in (0, 30)]  # 02:00 and 02:30 do not exist
    walls += [dt.datetime(2017, 3, 11, 23, 59), dt.datetime(2017, 3, 13, 0, 0)]
    data = pa.table({"at": pa.array(walls, pa.timestamp("us")), "seen": pa.array(walls, pa.timestamp("us")),
                     "n": pa.array(range(len(walls)), pa.int64())})
    with open_warehouse(url) as wh:
        wh.replace_table("readings", data)
    spec = SPEC.model_copy(update={"source": SPEC.source.model_copy(update={"first_day": dt.date(2017, 3, 11),
                                                                           "last_day": dt.date(2017, 3, 13)})})
    instance = dg.DagsterInstance.ephemeral()
    result = run_range(ingest_defs(spec, url, tmp_path / "data"), spec, "2017-03-11", "2017-03-13", instance)
    assert result.success
    assert materialized_days(instance, spec, "cleansed") == ["2017-03-11", "2017-03-12", "2017-03-13"]
    rows = {}
    for day in ("2017-03-11", "2017-03-12", "2017-03-13"):
        [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["readings", "cleansed"]), asset_partitions=[day]), limit=1).records
        meta = record.asset_materialization.metadata
        rows[day] = (meta["rows_raw"].value, meta["rows_clean"].value, meta["repairs"].value)
    assert rows["2017-03-12"][:2] == (48, 48) and rows["2017-03-11"][:2] == (1, 1) and rows["2017-03-13"][:2] == (1, 1)
    assert rows["2017-03-12"][2] == {"at:dst_gap": 2, "seen:dst_gap": 2}
