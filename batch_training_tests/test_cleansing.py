"""The data contract on small hand-built raw tables, on the seeded sample, and on the second spec."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from batch_training.cleansing import cleanse
from batch_training.cleansing.contract import RAW, REASONS, ROW_NUMBER, clean_schema, quarantine_schema
from batch_training.cleansing.order import canonical_order
from batch_training.sample.anomalies import REPAIRABLE, inject
from batch_training.sample.flights import ORDER, TEXT_COLUMNS, load_flights
from batch_training.spec import builtin_spec_dir, load_spec
from batch_training_tests.support.flights import RAW_SCHEMA
from batch_training_tests.support.sensors import sensor_readings, sensor_spec

SPEC = load_spec(builtin_spec_dir() / "flights_delay.yaml")
UTC = dt.timezone.utc


def raw_values(result, column: str) -> list:
    """The quarantined rows' raw text of one DWH column."""
    return result.quarantine[RAW].combine_chunks().field(column).to_pylist()


# The first flight of 2013, as the DWH holds it, and as the contract types it.
RAW_ROW = {
    "flight_date": dt.date(2013, 1, 1), "year": 2013, "month": 1, "day": 1, "dep_time": "517",
    "sched_dep_time": "515", "dep_delay": "2", "arr_time": "830", "sched_arr_time": "819", "arr_delay": "11",
    "carrier": "UA", "flight": 1545, "tailnum": "N14228", "origin": "EWR", "dest": "IAH", "air_time": "227",
    "distance": "1400", "hour": 5, "minute": 15, "time_hour": dt.datetime(2013, 1, 1, 10, tzinfo=UTC),
}
CLEAN_ROW = {**RAW_ROW, **{c: int(RAW_ROW[c]) for c in TEXT_COLUMNS}}


def raw_table(*changes: dict, schema: pa.Schema = RAW_SCHEMA) -> pa.Table:
    """One raw row per ``changes`` dict; rows differ in ``flight`` so that none is a duplicate."""
    rows = [{**RAW_ROW, "flight": 1000 + i, **change} for i, change in enumerate(changes)]
    return pa.Table.from_pylist(rows, schema=schema)


def replace_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


# --- a clean row ----------------------------------------------------------------------------------

def test_clean_row_is_typed_to_the_contract_schema():
    result = cleanse(raw_table({"flight": 1545}), SPEC)
    assert result.clean.schema == clean_schema(SPEC)
    assert result.clean.to_pylist() == [CLEAN_ROW]
    assert (result.rows_raw, result.rows_clean, result.rows_quarantined, result.rows_repaired) == (1, 1, 0, 0)
    assert result.reasons == {} and result.repairs == {}
    assert result.quarantine.schema == quarantine_schema(list(ORDER))


# --- one anomaly per row: its reason code, or its repair ------------------------------------------

QUARANTINED = [
    ("garbage", {"distance": "12a"}, "distance:not_a_number"),
    ("comma not a grouping", {"distance": "1,0"}, "distance:not_a_number"),
    ("bad grouping", {"distance": "12,34"}, "distance:not_a_number"),
    ("hex", {"distance": "0x10"}, "distance:not_a_number"),  # Arrow's cast would read 16
    ("exponent in an integer", {"distance": "1e3"}, "distance:not_a_number"),
    ("decimal in an integer", {"dep_delay": "2.5"}, "dep_delay:not_a_number"),
    ("beyond int64", {"dep_delay": "99999999999999999999"}, "dep_delay:out_of_range"),  # a number, too big
    ("empty text, required", {"sched_arr_time": ""}, "sched_arr_time:null"),
    ("blank text, required", {"distance": "   "}, "distance:null"),
    ("negative distance", {"distance": "-1400"}, "distance:out_of_range"),
    ("zero distance", {"distance": "0"}, "distance:out_of_range"),
    ("distance above max", {"distance": "6001"}, "distance:out_of_range"),
    ("huge delay", {"dep_delay": "99999"}, "dep_delay:out_of_range"),
    ("huge arrival delay", {"arr_delay": "99999"}, "arr_delay:out_of_range"),
    ("typed int out of range", {"month": 13}, "month:out_of_range"),
    ("clock 2575", {"dep_time": "2575"}, "dep_time:bad_clock_time"),
    ("clock 1261", {"dep_time": "1261"}, "dep_time:bad_clock_time"),
    ("clock 2401", {"sched_dep_time": "2401"}, "sched_dep_time:bad_clock_time"),
    ("clock negative", {"arr_time": "-5"}, "arr_time:bad_clock_time"),
    ("null carrier", {"carrier": None}, "carrier:null"),
    ("empty carrier", {"carrier": ""}, "carrier:null"),
    ("null origin", {"origin": None}, "origin:null"),
    ("null typed column", {"year": None}, "year:null"),
    ("unknown carrier", {"carrier": "ZZ"}, "carrier:unknown_category"),
    ("carrier in lower case", {"carrier": "ua"}, "carrier:unknown_category"),
    ("unknown origin", {"origin": "BOS"}, "origin:unknown_category"),
    ("bad date", {"flight_date": "2013-13-01"}, "flight_date:bad_date"),
    ("day beyond the month", {"flight_date": "2013-02-30"}, "flight_date:bad_date"),
    ("bad timestamp", {"time_hour": "yesterday"}, "time_hour:bad_timestamp"),
]


def _text_schema(*names: str) -> pa.Schema:
    """RAW_SCHEMA with some columns stored as text (a DWH that exports dates as strings)."""
    return pa.schema([pa.field(f.name, pa.string() if f.name in names else f.type) for f in RAW_SCHEMA])


#: how a DWH that exports dates and timestamps as text writes the first flight's
AS_TEXT = {"flight_date": "2013-01-01", "time_hour": "2013-01-01 10:00:00"}


def _table_for(change: dict) -> pa.Table:
    """Three rows, the middle one changed; a text value for a typed column makes that column text."""
    text_cols = [k for k, v in change.items() if isinstance(v, str) and RAW_SCHEMA.field(k).type != pa.string()]
    base = {k: AS_TEXT[k] for k in text_cols}
    return raw_table(base, {**base, **change}, base, schema=_text_schema(*text_cols))


@pytest.mark.parametrize("change, reason", [q[1:] for q in QUARANTINED], ids=[q[0] for q in QUARANTINED])
def test_anomaly_is_quarantined_with_its_reason(change, reason):
    raw = _table_for(change)
    result = cleanse(raw, SPEC)
    assert result.reasons == {reason: 1}
    assert result.quarantine[ROW_NUMBER].to_pylist() == [1]
    assert result.quarantine[REASONS].to_pylist() == [reason]
    assert result.rows_clean == 2 and result.clean["flight"].to_pylist() == [1000, 1002]
    column = next(iter(change))
    expected_text = None if change[column] is None else str(change[column])
    assert result.quarantine[RAW].combine_chunks().field(column).to_pylist() == [expected_text]  # untouched


CLEAN = [
    # (change, column, typed value, repairs)
    ("whitespace", {"sched_dep_time": " 15 "}, "sched_dep_time", 15, {"sched_dep_time:whitespace": 1}),
    ("tab and newline", {"distance": "\t1400\n"}, "distance", 1400, {"distance:whitespace": 1}),
    ("thousands", {"distance": "1,200"}, "distance", 1200, {"distance:thousands_separator": 1}),
    ("whitespace and thousands", {"distance": " 1,200 "}, "distance", 1200,
     {"distance:whitespace": 1, "distance:thousands_separator": 1}),
    ("string whitespace", {"carrier": " UA "}, "carrier", "UA", {"carrier:whitespace": 1}),
    ("plus sign", {"dep_delay": "+5"}, "dep_delay", 5, {}),  # used to raise
    ("leading zeros", {"dep_time": "0517"}, "dep_time", 517, {}),
    ("empty text, nullable", {"dep_delay": ""}, "dep_delay", None, {}),
    ("null, nullable", {"arr_time": None}, "arr_time", None, {}),
    ("null tailnum", {"tailnum": None}, "tailnum", None, {}),
    ("clock 2400", {"dep_time": "2400"}, "dep_time", 2400, {}),
    ("clock 0", {"dep_time": "0"}, "dep_time", 0, {}),
    ("clock 2359", {"arr_time": "2359"}, "arr_time", 2359, {}),
    ("range bounds", {"distance": "6000"}, "distance", 6000, {}),
    ("negative delay", {"arr_delay": "-86"}, "arr_delay", -86, {}),
    ("date as text", {"flight_date": "2013-01-01"}, "flight_date", dt.date(2013, 1, 1), {}),
    ("leap day as text", {"flight_date": "2012-02-29"}, "flight_date", dt.date(2012, 2, 29), {}),
    # naive text is wall-clock time in the spec's timezone (New York): 10:00 EST is 15:00 UTC
    ("naive timestamp text", {"time_hour": "2013-01-01 10:00:00"}, "time_hour",
     dt.datetime(2013, 1, 1, 15, tzinfo=UTC), {}),
    ("zoned timestamp text", {"time_hour": "2013-01-01T05:00:00-0500"}, "time_hour",
     dt.datetime(2013, 1, 1, 10, tzinfo=UTC), {}),
]


@pytest.mark.parametrize("change, column, value, repairs", [c[1:] for c in CLEAN], ids=[c[0] for c in CLEAN])
def test_repairable_or_valid_value_stays_clean(change, column, value, repairs):
    result = cleanse(_table_for(change), SPEC)
    assert result.reasons == {}
    assert result.rows_clean == 3
    assert result.clean.schema == clean_schema(SPEC)
    assert result.clean[column].to_pylist()[1] == value
    assert result.repairs == repairs
    assert result.rows_repaired == (1 if repairs else 0)


def test_repairs_count_clean_rows_only():
    # a repaired value in a row that is quarantined for another reason is not a repair that was kept
    result = cleanse(raw_table({"distance": " 15 "}, {"distance": " 16 ", "carrier": "ZZ"}), SPEC)
    assert result.repairs == {"distance:whitespace": 1}
    assert result.rows_repaired == 1
    assert result.clean["distance"].to_pylist() == [15]
    assert raw_values(result, "distance") == [" 16 "]


def test_a_row_with_several_problems_lists_every_reason():
    raw = raw_table({}, {"dep_time": "2575", "carrier": "ZZ", "distance": "12a", "origin": None})
    result = cleanse(raw, SPEC)
    expected = {"dep_time:bad_clock_time", "carrier:unknown_category", "origin:null", "distance:not_a_number"}
    assert result.rows_quarantined == 1
    assert set(result.quarantine[REASONS][0].as_py().split(";")) == expected
    assert result.reasons == {code: 1 for code in expected}


def test_unparseable_value_is_not_also_called_null():
    result = cleanse(raw_table({"distance": "12a"}), SPEC)
    assert result.reasons == {"distance:not_a_number": 1}


def test_the_same_raw_rows_in_any_order_give_one_canonical_clean_table():
    """A DWH may return a day's rows in any order: sorted by value, the clean tables are equal."""
    day = load_flights().filter(pc.equal(pc.field("flight_date"), dt.date(2013, 3, 5)))
    raw, _ = inject(day, rate=0.05, seed=3)
    shuffled = raw.take(pa.array(np.random.default_rng(11).permutation(raw.num_rows)))
    one, other = cleanse(raw, SPEC), cleanse(shuffled, SPEC)
    assert one.clean.num_rows > 800 and one.quarantine.num_rows > 10
    assert not one.clean.equals(other.clean)  # cleanse keeps raw order
    ordered = canonical_order(one.clean)
    assert ordered.equals(canonical_order(other.clean))
    keys = [(name, "ascending") for name in ordered.column_names]
    assert ordered.equals(ordered.take(pc.sort_indices(ordered, sort_keys=keys)))
    assert sorted(ordered.to_pylist(), key=str) == sorted(one.clean.to_pylist(), key=str)  # no row lost or changed


def test_quarantine_keeps_raw_values_as_text_and_row_numbers():
    raw = raw_table({}, {"distance": " 12a "}, {}, {"carrier": None, "dep_delay": "99999"})
    result = cleanse(raw, SPEC)
    assert result.quarantine.schema == quarantine_schema(list(ORDER))
    rows = result.quarantine.to_pylist()
    assert [r[ROW_NUMBER] for r in rows] == [1, 3]
    assert rows[0][RAW]["distance"] == " 12a "  # not trimmed: what the DWH holds
    assert rows[0][RAW]["flight"] == "1001" and rows[0][RAW]["flight_date"] == "2013-01-01"
    assert rows[1][RAW]["carrier"] is None and rows[1][RAW]["dep_delay"] == "99999"
    assert rows[1][REASONS] == "dep_delay:out_of_range;carrier:null"


# --- duplicates -----------------------------------------------------------------------------------

def test_exact_duplicate_quarantines_later_copies_only():
    a, b = {"flight": 1}, {"flight": 2}
    raw = pa.Table.from_pylist([{**RAW_ROW, **r} for r in (a, b, a, a)], schema=RAW_SCHEMA)
    result = cleanse(raw, SPEC)
    assert result.clean["flight"].to_pylist() == [1, 2]
    assert result.quarantine[ROW_NUMBER].to_pylist() == [2, 3]
    assert result.reasons == {"row:duplicate": 2}
    assert result.duplicates == 2


@pytest.mark.parametrize("column, other", [
    ("distance", "1401"), ("time_hour", dt.datetime(2013, 1, 1, 11, tzinfo=UTC)), ("tailnum", None),
    ("flight_date", dt.date(2013, 1, 2)), ("carrier", "AA"), ("hour", 6),
])
def test_rows_differing_in_one_value_are_not_duplicates(column, other):
    raw = pa.Table.from_pylist([RAW_ROW, {**RAW_ROW, column: other}], schema=RAW_SCHEMA)
    result = cleanse(raw, SPEC)
    assert result.rows_clean == 2 and result.reasons == {}


def test_rows_with_equal_nulls_are_duplicates():
    row = {**RAW_ROW, "tailnum": None, "dep_time": None, "arr_delay": None}
    raw = pa.Table.from_pylist([row, row], schema=RAW_SCHEMA)
    result = cleanse(raw, SPEC)
    assert result.rows_clean == 1
    assert result.reasons == {"row:duplicate": 1}
    assert result.quarantine[ROW_NUMBER].to_pylist() == [1]


def test_empty_text_and_null_are_different_raw_values():
    raw = pa.Table.from_pylist([{**RAW_ROW, "tailnum": None}, {**RAW_ROW, "tailnum": ""}], schema=RAW_SCHEMA)
    assert cleanse(raw, SPEC).reasons == {}


def test_duplicate_of_a_bad_row_has_both_reasons():
    row = {**RAW_ROW, "carrier": "ZZ"}
    raw = pa.Table.from_pylist([row, row], schema=RAW_SCHEMA)
    result = cleanse(raw, SPEC)
    assert result.quarantine[REASONS].to_pylist() == ["carrier:unknown_category", "carrier:unknown_category;row:duplicate"]


def test_many_rows_sharing_fingerprints_are_compared_exactly():
    # same lengths and numbers everywhere except the text of one column: equal fingerprints, not equal rows
    rows = [{**RAW_ROW, "dest": d} for d in ("IAH", "IAD", "IAH", "ORD", "IAD")]
    result = cleanse(pa.Table.from_pylist(rows, schema=RAW_SCHEMA), SPEC)
    assert result.quarantine[ROW_NUMBER].to_pylist() == [2, 4]
    assert result.clean["dest"].to_pylist() == ["IAH", "IAD", "ORD"]


# --- schema drift at row level --------------------------------------------------------------------

def test_missing_column_quarantines_every_row():
    raw = raw_table({}, {}, {}).drop_columns(["distance"])
    result = cleanse(raw, SPEC)
    assert result.rows_clean == 0 and result.clean.schema == clean_schema(SPEC)
    assert result.reasons == {"distance:missing_column": 3}
    assert result.quarantine[REASONS].to_pylist() == ["distance:missing_column"] * 3
    assert "distance" not in result.quarantine.column_names


def test_renamed_column_is_missing_and_the_new_name_is_kept_in_quarantine():
    raw = raw_table({}, {}).rename_columns(["dist" if c == "distance" else c for c in ORDER])
    result = cleanse(raw, SPEC)
    assert result.reasons == {"distance:missing_column": 2}
    assert raw_values(result, "dist") == ["1400", "1400"]


def test_float_column_for_an_integer_contract():
    raw = replace_column(raw_table(*[{}] * 6), "flight",
                         pa.array([12.0, 12.5, None, float("nan"), float("inf"), 1e300], pa.float64()))
    result = cleanse(raw, SPEC)
    assert result.clean["flight"].to_pylist() == [12]
    assert result.clean.schema.field("flight").type == pa.int64()
    by_row = dict(zip(result.quarantine[ROW_NUMBER].to_pylist(), result.quarantine[REASONS].to_pylist()))
    assert by_row == {1: "flight:not_a_number", 2: "flight:null", 3: "flight:not_a_number",
                      4: "flight:not_a_number", 5: "flight:not_a_number"}  # inf and 1e300 used to raise
    assert raw_values(result, "flight")[0] == "12.5"


def test_retyped_column_is_quarantined():
    raw = replace_column(raw_table({}, {}, {}), "flight", pa.array([True, False, None]))
    result = cleanse(raw, SPEC)
    assert result.rows_clean == 0
    assert result.reasons == {"flight:not_a_number": 2, "flight:null": 1}
    assert raw_values(result, "flight") == ["true", "false", None]


def test_number_where_a_string_is_expected_is_a_wrong_type():
    raw = replace_column(raw_table({}, {}), "carrier", pa.array([1, 2], pa.int64()))
    assert cleanse(raw, SPEC).reasons == {"carrier:wrong_type": 2}


def test_typed_integer_columns_for_text_contract_numbers_are_accepted():
    # the DWH fixed its export: the text columns now arrive as real integers
    raw = raw_table({}, {})
    for name in TEXT_COLUMNS:
        raw = replace_column(raw, name, raw[name].cast(pa.int64()))
    result = cleanse(raw, SPEC)
    assert result.reasons == {}
    assert result.clean.slice(0, 1).to_pylist() == [{**CLEAN_ROW, "flight": 1000}]


def test_empty_day():
    result = cleanse(RAW_SCHEMA.empty_table(), SPEC)
    assert (result.rows_raw, result.rows_clean, result.rows_quarantined) == (0, 0, 0)
    assert result.clean.schema == clean_schema(SPEC)


# --- conservation on the seeded sample ------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_days() -> dict[dt.date, pa.Table]:
    first = dt.date(2013, 1, 1)
    table = load_flights(first, first + dt.timedelta(days=2))
    assert table.schema == RAW_SCHEMA  # the hand-built tables above look like the real ones
    return {day: table.filter(pc.equal(table["flight_date"], pa.scalar(day, pa.date32())))
            for day in (first + dt.timedelta(days=i) for i in range(3))}


def _sum(counts: dict[str, int], suffix: str) -> int:
    return sum(v for k, v in counts.items() if k.endswith(suffix))


def test_sample_days_are_clean_before_injection(sample_days):
    for day, table in sample_days.items():
        result = cleanse(table, SPEC)
        assert (result.rows_clean, result.reasons, result.repairs) == (table.num_rows, {}, {}), day


@pytest.mark.parametrize("seed", [13, 2024])
def test_conservation_and_reason_counts_match_the_injection(sample_days, seed):
    for day, table in sample_days.items():
        raw, report = inject(table, rate=0.2, seed=seed + day.day)
        result = cleanse(raw, SPEC)
        counts, reasons = report.counts, result.reasons
        assert counts["duplicate"] > 0
        assert result.rows_raw == raw.num_rows == report.rows_after
        assert result.rows_raw == result.rows_clean + result.rows_quarantined
        # each injected row carries exactly one anomaly, so each yields exactly one reason
        assert reasons["row:duplicate"] == counts["duplicate"]
        assert reasons["carrier:unknown_category"] == counts["unknown_category"]
        assert _sum(reasons, ":not_a_number") == counts["garbage"]
        assert _sum(reasons, ":null") == counts["empty_text"] + counts["null_required"]
        assert _sum(reasons, ":out_of_range") == counts["out_of_range"]
        assert _sum(reasons, ":bad_clock_time") == counts["impossible_time"]
        assert result.rows_quarantined == sum(reasons.values()) == sum(
            n for kind, n in counts.items() if kind not in REPAIRABLE)
        # repairable kinds are repaired, not quarantined
        assert _sum(result.repairs, ":whitespace") == counts["whitespace"]
        assert result.repairs["distance:thousands_separator"] == counts["thousands"]
        assert result.rows_repaired == counts["whitespace"] + counts["thousands"]

        # no row is both clean and quarantined, and none is lost: the clean rows are exactly the
        # raw rows whose positions are not in the quarantine, in order
        quarantined = result.quarantine[ROW_NUMBER].to_numpy()
        assert len(np.unique(quarantined)) == len(quarantined)
        kept = np.setdiff1d(np.arange(raw.num_rows), quarantined)
        expected = raw.take(pa.array(kept))
        for name in ("flight", "carrier", "flight_date", "time_hour", "tailnum"):
            assert result.clean[name].to_pylist() == expected[name].to_pylist(), name
        assert result.clean["distance"].to_pylist() == [
            int(v.strip().replace(",", "")) for v in expected["distance"].to_pylist()]
        # and the duplicates quarantined are the appended copies, at the end of the extract
        dup_rows = [r for r, why in zip(quarantined, result.quarantine[REASONS].to_pylist()) if why == "row:duplicate"]
        assert dup_rows == list(range(report.rows_before, report.rows_after))


# --- the second spec, no code change --------------------------------------------------------------

def test_second_spec_cleanses_with_its_own_contract():
    spec = sensor_spec()
    raw = sensor_readings(dt.date(2024, 3, 1), days=1)
    assert cleanse(raw, spec).rows_clean == raw.num_rows == 96

    temps = raw["temperature_c"].to_pylist()
    battery = raw["battery_pct"].to_pylist()
    sensors = raw["sensor"].to_pylist()
    temps[5], temps[6] = 999.0, float("nan")
    battery[7], battery[8], battery[9] = "1,0", "1,000", " 42 "
    sensors[10] = "s9"
    raw = replace_column(raw, "temperature_c", pa.array(temps, pa.float64()))
    raw = replace_column(raw, "battery_pct", pa.array(battery, pa.string()))
    raw = replace_column(raw, "sensor", pa.array(sensors, pa.string()))

    result = cleanse(raw, spec)
    by_row = dict(zip(result.quarantine[ROW_NUMBER].to_pylist(), result.quarantine[REASONS].to_pylist()))
    assert by_row == {
        5: "temperature_c:out_of_range",
        6: "temperature_c:not_a_number",
        7: "battery_pct:not_a_number",     # "1,0" is no thousands grouping
        8: "battery_pct:out_of_range",     # "1,000" is 1000, repaired, then above 100
        10: "sensor:unknown_category",
    }
    assert result.rows_clean == 96 - 5
    assert result.repairs == {"battery_pct:whitespace": 1}
    assert result.clean.schema == clean_schema(spec)
    assert result.clean.schema.field("read_at").type == pa.timestamp("us", tz="UTC")
    assert result.clean["battery_pct"].to_pylist()[5] == 42  # raw row 9, after rows 5..8 left


@pytest.mark.parametrize("column, text, reason", [
    ("flight_date", "2013-04-31", "flight_date:bad_date"),
    ("flight_date", "2013-02-29", "flight_date:bad_date"),
    ("time_hour", "2013-02-30 10:00:00", "time_hour:bad_timestamp"),
    ("time_hour", "2013-02-31T10:00:00+0100", "time_hour:bad_timestamp"),
])
def test_a_day_beyond_its_month_is_not_rolled_over(column, text, reason):
    # strptime alone reads 2013-02-30 as 2013-03-02: the row would land on another day
    result = cleanse(_table_for({column: text}), SPEC)
    assert result.reasons == {reason: 1}


def test_float_text_follows_the_number_grammar():
    spec = sensor_spec()
    raw = sensor_readings(dt.date(2024, 3, 1), days=1).slice(0, 9)
    texts = ["21.5", "+3.5", ".5", "5.", "-1e1", "nan", "inf", "1e400", "2,5"]
    raw = replace_column(raw, "temperature_c", pa.array(texts, pa.string()))
    result = cleanse(raw, spec)
    assert result.clean["temperature_c"].to_pylist() == [21.5, 3.5, 0.5, 5.0, -10.0]
    assert result.quarantine[ROW_NUMBER].to_pylist() == [5, 6, 7, 8]
    assert result.reasons == {"temperature_c:not_a_number": 4}  # Arrow alone reads nan, inf and 1e400
