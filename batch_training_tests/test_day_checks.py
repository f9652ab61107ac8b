"""Day checks: schema drift, empty day, quarantine rate, duplicates, and the fold over many days."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from batch_training.cleansing import cleanse
from batch_training.cleansing.checks import Verdict, combine, duplicates, empty_day, quarantine_rate, schema_drift
from batch_training.cleansing.contract import CleansingResult
from batch_training.spec import QualitySpec, builtin_spec_dir, load_spec
from batch_training_tests.support.flights import RAW_SCHEMA
from batch_training_tests.support.sensors import sensor_readings, sensor_spec

SPEC = load_spec(builtin_spec_dir() / "flights_delay.yaml")


def _with(schema: pa.Schema, name: str, new: pa.Field) -> pa.Schema:
    return schema.set(schema.get_field_index(name), new)


# --- schema drift ---------------------------------------------------------------------------------

def test_schema_drift_all_good():
    verdict = schema_drift(RAW_SCHEMA, SPEC)
    assert verdict.passed
    assert verdict.details == {"missing": [], "unexpected": [], "retyped": {}}
    assert "all 20 contract columns" in verdict.summary


def test_schema_drift_accepts_text_numbers_typed_numbers_and_all_null_columns():
    schema = _with(RAW_SCHEMA, "flight", pa.field("flight", pa.string()))        # a number stored as text
    schema = _with(schema, "distance", pa.field("distance", pa.float64()))        # text -> float
    schema = _with(schema, "tailnum", pa.field("tailnum", pa.null()))            # a column of nulls only
    schema = _with(schema, "flight_date", pa.field("flight_date", pa.timestamp("s")))
    assert schema_drift(schema, SPEC).passed


def test_schema_drift_renamed_column_is_missing_plus_unexpected():
    verdict = schema_drift(_with(RAW_SCHEMA, "distance", pa.field("dist", pa.string())), SPEC)
    assert not verdict.passed and verdict.severity == "ERROR"
    assert verdict.details == {"missing": ["distance"], "unexpected": ["dist"], "retyped": {}}
    assert "missing ['distance']" in verdict.summary and "unexpected ['dist']" in verdict.summary


def test_schema_drift_dropped_column():
    schema = RAW_SCHEMA.remove(RAW_SCHEMA.get_field_index("carrier"))
    verdict = schema_drift(schema, SPEC)
    assert not verdict.passed
    assert verdict.details == {"missing": ["carrier"], "unexpected": [], "retyped": {}}


@pytest.mark.parametrize("column, arrow_type, shown", [
    ("flight", pa.bool_(), "bool"),
    ("carrier", pa.int64(), "int64"),
    ("flight_date", pa.int32(), "int32"),
    ("time_hour", pa.float64(), "double"),
])
def test_schema_drift_retyped_column(column, arrow_type, shown):
    verdict = schema_drift(_with(RAW_SCHEMA, column, pa.field(column, arrow_type)), SPEC)
    assert not verdict.passed and verdict.severity == "ERROR"
    assert {k: verdict.details[k] for k in ("missing", "unexpected", "retyped")} == {
        "missing": [], "unexpected": [], "retyped": {column: shown}}
    assert f"retyped {column}: {shown}, which a {SPEC.columns[column].type} column cannot hold" in verdict.summary


def test_schema_drift_of_the_second_spec():
    raw = sensor_readings(dt.date(2024, 3, 1), days=1)
    assert schema_drift(raw.schema, sensor_spec()).passed
    renamed = raw.rename_columns(["read_at", "sensor", "temp", "battery_pct", "firmware", "status"])
    verdict = schema_drift(renamed.schema, sensor_spec())
    assert verdict.details["missing"] == ["temperature_c"] and verdict.details["unexpected"] == ["temp"]


# --- empty day ------------------------------------------------------------------------------------

def test_empty_day_not_allowed():
    verdict = empty_day(0, SPEC)
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert verdict.details == {"rows": 0}


def test_empty_day_allowed_by_the_spec_passes_with_a_warning_level():
    spec = sensor_spec()
    assert spec.source.allow_empty_days
    verdict = empty_day(0, spec)
    assert (verdict.passed, verdict.severity) == (True, "WARN")
    assert "allowed" in verdict.summary


def test_day_with_rows_passes():
    assert empty_day(1, SPEC).passed
    assert empty_day(842, SPEC).passed


def test_min_rows_boundary():
    spec = SPEC.model_copy(update={"quality": QualitySpec(min_rows=10)})
    assert not empty_day(9, spec).passed
    assert empty_day(10, spec).passed


# --- quarantine rate and duplicates ---------------------------------------------------------------

def _result(rows_raw: int, quarantined: int, duplicated: int = 0) -> CleansingResult:
    reasons = {"distance:null": quarantined - duplicated} if quarantined > duplicated else {}
    if duplicated:
        reasons["row:duplicate"] = duplicated
    return CleansingResult(
        clean=pa.table({"x": pa.array(range(rows_raw - quarantined), pa.int64())}),
        quarantine=pa.table({"x": pa.array(range(quarantined), pa.int64())}),
        rows_raw=rows_raw, rows_repaired=0, reasons=reasons,
    )


@pytest.mark.parametrize("quarantined, passed, severity", [
    (0, True, "WARN"),
    (2, True, "WARN"),     # 2.00% is the warning level itself: not above it
    (3, False, "WARN"),
    (25, False, "WARN"),   # 25.00% is the maximum itself: a warning, not an error
    (26, False, "ERROR"),
    (100, False, "ERROR"),
])
def test_quarantine_rate_boundaries(quarantined, passed, severity):
    assert (SPEC.quality.quarantine_warn_rate, SPEC.quality.quarantine_max_rate) == (0.02, 0.25)
    verdict = quarantine_rate(_result(100, quarantined), SPEC.quality)
    assert (verdict.passed, verdict.severity) == (passed, severity)
    assert verdict.details["rate"] == quarantined / 100
    assert verdict.details["rows_quarantined"] == quarantined


def test_quarantine_rate_of_an_empty_day_is_zero():
    verdict = quarantine_rate(_result(0, 0), SPEC.quality)
    assert verdict.passed and verdict.details["rate"] == 0.0


def test_quarantine_rate_on_a_real_cleansing_lists_top_reasons():
    spec = sensor_spec()  # warns above 5%, errors above 50%
    raw = sensor_readings(dt.date(2024, 3, 1), days=1)  # 96 rows
    sensors, temps = raw["sensor"].to_pylist(), raw["temperature_c"].to_pylist()
    for i in range(10):
        sensors[i] = "s9"
    temps[50] = temps[51] = 999.0
    raw = raw.set_column(1, "sensor", pa.array(sensors)).set_column(2, "temperature_c", pa.array(temps))
    verdict = quarantine_rate(cleanse(raw, spec), spec.quality)
    assert (verdict.passed, verdict.severity) == (False, "WARN")  # 12 of 96 rows
    assert verdict.details["rate"] == 0.125
    assert verdict.details["top_reasons"] == {"sensor:unknown_category": 10, "temperature_c:out_of_range": 2}
    assert "12.50% quarantined" in verdict.summary


@pytest.mark.parametrize("dups, passed", [(0, True), (1, True), (2, False)])
def test_duplicates_boundary(dups, passed):
    assert SPEC.quality.duplicate_warn_rate == 0.01
    verdict = duplicates(_result(100, dups, duplicated=dups), SPEC.quality)
    assert verdict.passed == passed and verdict.severity == "WARN"
    assert verdict.details == {"duplicates": dups, "rate": dups / 100}


# --- many days ------------------------------------------------------------------------------------

OK = Verdict(True, "WARN", "fine")
WARN = Verdict(False, "WARN", "3.00% quarantined")
ERROR = Verdict(False, "ERROR", "0 rows")


def test_combine_names_failed_days_and_takes_the_worst_severity():
    verdict = combine({"2013-01-01": OK, "2013-01-03": ERROR, "2013-01-02": WARN})
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert verdict.summary == "1 of 3 days ERROR: 2013-01-03; 1 of 3 days WARN: 2013-01-02"
    assert verdict.details == {"days": 3, "days_failed": 2,
                               "failed": {"2013-01-02": "3.00% quarantined", "2013-01-03": "0 rows"},
                               "errors": {"2013-01-03": "0 rows"}, "warnings": {"2013-01-02": "3.00% quarantined"}}


def test_combine_of_warnings_only_is_a_warning():
    verdict = combine({"2013-01-01": WARN, "2013-01-02": OK})
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert list(verdict.details["failed"]) == ["2013-01-01"]


def test_combine_ignores_the_severity_of_passing_days():
    passed_error_level = Verdict(True, "ERROR", "842 rows")
    verdict = combine({"2013-01-01": passed_error_level, "2013-01-02": WARN})
    assert (verdict.passed, verdict.severity) == (False, "WARN")


def test_combine_all_passed():
    verdict = combine({f"2013-01-0{i}": OK for i in range(1, 4)})
    assert verdict.passed and verdict.summary == "all 3 days passed"
    assert verdict.details["days_failed"] == 0 and verdict.details["failed"] == {}


def test_combine_of_many_failures_keeps_every_day_in_details():
    days = {(dt.date(2013, 1, 1) + dt.timedelta(days=i)).isoformat(): ERROR for i in range(12)}
    verdict = combine(days)
    assert not verdict.passed
    assert verdict.summary.startswith("12 of 12 days ERROR: 2013-01-01, ") and verdict.summary.endswith(" ...")
    assert "2013-01-11" not in verdict.summary
    assert sorted(verdict.details["failed"]) == sorted(days)


def test_combine_of_one_day_is_that_day_and_of_none_passes():
    assert combine({"2013-01-02": WARN}) is WARN
    assert combine({}).passed
