"""Values and names that used to break the contract instead of being judged by it, by family: numbers
beyond what float64 or int64 hold (text and typed, on both DWHs), days no calendar program can read,
offsets that are no offset, DWH column names equal to the quarantine's own, and a column retyped
between days."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_training.cleansing import cleanse
from batch_training.cleansing.checks import schema_drift
from batch_training.cleansing.contract import RAW, REASONS, ROW_NUMBER
from batch_training.spec import parse_spec
from batch_training.warehouse import open_warehouse
from batch_training_tests.support.dagster_run import check_evaluations, ingest_defs, run_day

SPEC = parse_spec({
    "name": "edges", "source": {"table": "edges", "partition_column": "day", "first_day": "2020-01-01",
                                "last_day": "2020-01-05"},
    "columns": {"day": {"type": "date"}, "count": {"type": "integer", "min": 0, "max": 9007199254740993},
                "ratio": {"type": "float", "nullable": True}, "born": {"type": "date", "nullable": True},
                "seen": {"type": "timestamp", "nullable": True}, "code": {"type": "string", "nullable": True}},
    "quality": {"quarantine_max_rate": 1.0, "quarantine_warn_rate": 1.0, "duplicate_warn_rate": 1.0},
})
DAY = dt.date(2020, 1, 1)


def reasons_of(result) -> dict[int, str]:
    return dict(zip(result.quarantine[ROW_NUMBER].to_pylist(), result.quarantine[REASONS].to_pylist()))


def raw(**columns) -> pa.Table:
    """A day of rows: the given columns, ``count`` 1 unless given, the others NULL (text)."""
    n = len(next(iter(columns.values())))
    others = {name: pa.nulls(n, pa.string()) for name in SPEC.columns if name not in columns and name != "day"}
    if "count" not in columns:
        others["count"] = pa.array(["1"] * n)
    return pa.table({"day": pa.array([DAY] * n, pa.date32()), **others, **columns})


# --- numbers beyond float64's exact integers and beyond int64 ---------------------------------------
@pytest.mark.parametrize("values, clean, bad", [
    # text: 2**53 + 1 is exact as int64 and within the range (its max is 2**53 + 1); 2**53 + 2 is above
    (["9007199254740993", "9007199254740994", "99999999999999999999", "-1", "12"],
     [9007199254740993, 12], {1: "count:out_of_range", 2: "count:out_of_range", 3: "count:out_of_range"}),
    (pa.array([9007199254740993, 9007199254740994, 2**63 - 1, -1, 12], pa.int64()),
     [9007199254740993, 12], {1: "count:out_of_range", 2: "count:out_of_range", 3: "count:out_of_range"}),
    (pa.array([9007199254740993, 2**64 - 1, 12], pa.uint64()), [9007199254740993, 12], {1: "count:out_of_range"}),
    (pa.array(["9007199254740993", "1e20", "12.0", "12.5"], pa.string()).cast(pa.string()),
     [9007199254740993], {1: "count:not_a_number", 2: "count:not_a_number", 3: "count:not_a_number"}),
], ids=["text", "bigint", "ubigint", "not-integers"])
def test_integers_are_judged_exactly_and_the_day_goes_on(values, clean, bad):
    result = cleanse(raw(count=values), SPEC)
    assert result.clean.column("count").to_pylist() == clean
    assert reasons_of(result) == bad


@pytest.mark.parametrize("dwh", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_huge_integers_from_the_dwh_are_quarantined_not_a_failed_day(dwh, tmp_path, request):
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}" if dwh == "duckdb" else request.getfixturevalue("postgres_url")
    with open_warehouse(url) as wh:
        wh.execute("CREATE TABLE edges (day DATE, count NUMERIC(30, 0), ratio DOUBLE PRECISION, born DATE, "
                   "seen TIMESTAMP, code TEXT)")
        wh.execute("INSERT INTO edges VALUES ('2020-01-01', 9007199254740993, 1.5, NULL, NULL, 'a'), "
                   "('2020-01-01', 123456789012345678901234567890, 2.5, NULL, NULL, 'b'), "
                   "('2020-01-01', 7, NULL, NULL, NULL, 'c')")
    instance = dg.DagsterInstance.ephemeral()
    result = run_day(ingest_defs(SPEC, url, tmp_path / "data"), SPEC, "2020-01-01", instance)
    assert result.success
    cleansed = pq.read_table(tmp_path / "data" / "edges" / "cleansed" / "2020-01-01.parquet")
    assert sorted(cleansed.column("count").to_pylist()) == [7, 9007199254740993]
    quarantine = pq.read_table(tmp_path / "data" / "edges" / "quarantine" / "2020-01-01.parquet")
    assert quarantine[REASONS].to_pylist() == ["count:out_of_range"]
    assert quarantine[RAW].combine_chunks().field("count").to_pylist() == ["123456789012345678901234567890"]


# --- days and instants no program can read ---------------------------------------------------------
@pytest.mark.parametrize("born, ok", [
    ("0000-01-01", False), ("0001-01-01", True), ("9999-12-31", True), ("10000-01-01", False),
    ("2020-02-30", False), ("2020-13-01", False), ("2020-02-29", True),
])
def test_dates_outside_years_1_to_9999_are_bad_dates(born, ok):
    result = cleanse(raw(born=[born]), SPEC)
    assert (result.rows_clean == 1) is ok
    if not ok:
        assert reasons_of(result) == {0: "born:bad_date"}
    result.clean.to_pandas()  # a cleansed file is always readable


def test_typed_dates_of_year_zero_from_duckdb_are_bad_dates(tmp_path):
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    with open_warehouse(url) as wh:
        wh.execute("CREATE TABLE edges AS SELECT DATE '2020-01-01' AS day, 1 AS count, 1.0 AS ratio, "
                   "DATE '0000-06-01' AS born, TIMESTAMP '0000-06-01 10:00:00' AS seen, 'x' AS code")
        table = wh.read_days("edges", "day", DAY, DAY)
    result = cleanse(table, SPEC)
    assert reasons_of(result) == {0: "born:bad_date;seen:bad_timestamp"}
    result.clean.to_pandas()


@pytest.mark.parametrize("seen, utc", [
    ("2020-01-01T05:00:00+99:00", None), ("2020-01-01T05:00:00+24:00", None), ("2020-01-01T05:00:00+15:00", None),
    ("2020-01-01T05:00:00+14:30", None), ("2020-01-01T05:00:00-12:60", None), ("2020-01-01T25:00:00Z", None),
    ("2020-01-01", None), ("2020-01-01T05:00Z", None), ("0000-01-01T05:00:00Z", None),
    ("2020-01-01T05:00:00+14:00", dt.datetime(2019, 12, 31, 15, 0)),
    ("2020-01-01T05:00:00-1200", dt.datetime(2020, 1, 1, 17, 0)),
    ("2020-01-01T05:00:00.25Z", dt.datetime(2020, 1, 1, 5, 0, 0, 250000)),
    ("2020-01-01 05:00:00+05:30", dt.datetime(2019, 12, 31, 23, 30)),
])
def test_timestamp_offsets_must_be_real_ones(seen, utc):
    result = cleanse(raw(seen=[seen]), SPEC)
    if utc is None:
        assert reasons_of(result) == {0: "seen:bad_timestamp"}
    else:
        assert result.clean.column("seen").to_pylist() == [utc.replace(tzinfo=dt.timezone.utc)]


# --- DWH column names equal to the contract's own working names ------------------------------------
HOSTILE_NAMES = ["_reasons", "_row_number", "__i", "reasons", "row_number", "raw", "row", "row_min", "c0", "__i_min"]


def test_no_dwh_column_name_can_collide_with_the_quarantine():
    n = 4
    extra = {name: pa.array([f"{name}-{i % 2}" for i in range(n)]) for name in HOSTILE_NAMES}
    table = raw(count=["1", "x", "1", "x"], **extra)  # rows 2 and 3 repeat rows 0 and 1 exactly
    result = cleanse(table, SPEC)
    assert reasons_of(result) == {1: "count:not_a_number", 2: "row:duplicate", 3: "count:not_a_number;row:duplicate"}
    assert result.quarantine.column_names == [ROW_NUMBER, REASONS, RAW]
    kept = result.quarantine[RAW].combine_chunks()
    assert [f.name for f in kept.type] == table.column_names  # every DWH column, by its own name
    for name in HOSTILE_NAMES:
        assert kept.field(name).to_pylist() == [f"{name}-1", f"{name}-0", f"{name}-1"]  # raw values untouched
    assert result.rows_clean + result.rows_quarantined == n
    pq.write_table(result.quarantine, pa.BufferOutputStream())  # a valid Parquet table


# --- a column retyped between days -----------------------------------------------------------------
def test_a_column_retyped_between_days_fails_schema_drift_and_says_what_changed(tmp_path):
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    spec = SPEC.model_copy(update={"quality": SPEC.quality.model_copy(update={"quarantine_max_rate": 1.0})})
    defs = ingest_defs(spec, url, tmp_path / "data")
    instance = dg.DagsterInstance.ephemeral()
    outcomes = {}
    for day, count_type in (("2020-01-01", "BIGINT"), ("2020-01-02", "VARCHAR"), ("2020-01-03", "DOUBLE")):
        with open_warehouse(url) as wh:
            wh.execute(f"CREATE OR REPLACE TABLE edges AS SELECT DATE '{day}' AS day, CAST(5 AS {count_type}) AS count, "
                       "1.0 AS ratio, NULL::DATE AS born, NULL::TIMESTAMP AS seen, 'x' AS code")
        check = check_evaluations(run_day(defs, spec, day, instance))["raw:schema_drift"]
        outcomes[day] = (check.passed, check.description)
    assert outcomes["2020-01-01"][0]
    assert outcomes["2020-01-02"] == (False, "retyped count: int64 (first seen 2020-01-01) -> string")
    assert outcomes["2020-01-03"] == (False, "retyped count: int64 (first seen 2020-01-01) -> double")


def test_a_declared_raw_type_is_the_reference():
    declared = SPEC.model_copy(update={"columns": {**SPEC.columns, "count": SPEC.columns["count"].model_copy(
        update={"raw_type": "string"})}})
    schema = pa.schema([("day", pa.date32()), ("count", pa.int64()), ("ratio", pa.float64()), ("born", pa.date32()),
                        ("seen", pa.timestamp("us")), ("code", pa.string())])
    verdict = schema_drift(schema, declared, {"count": {"type": "int64", "first_seen": "2020-01-01"}})
    assert not verdict.passed and verdict.details["changes"] == {"count": "string (declared raw_type) -> int64"}
    assert schema_drift(schema.set(1, pa.field("count", pa.string())), declared).passed
