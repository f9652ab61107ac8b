"""Training specs: the two real specs load, and every broken spec fails with a message that names the
file, the field and the reason."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path

import pydantic
import pytest
import yaml

from batch_training.sample.flights import ORDER
from batch_training.spec import SpecError, builtin_spec_dir, load_spec, load_specs, parse_spec
from batch_training.spec.identifiers import quote_identifier
from batch_training_tests.support.sensors import SPEC_PATH as SENSOR_SPEC

FLAGSHIP = builtin_spec_dir() / "flights_delay.yaml"


def _flagship_data() -> dict:
    return yaml.safe_load(FLAGSHIP.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object, name: str = "flights_delay") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


# --- the real specs -------------------------------------------------------------------------------

def test_flagship_spec_loads_with_its_contract():
    spec = load_spec(FLAGSHIP)
    assert spec.name == "flights_delay"
    assert list(spec.columns) == list(ORDER)  # the 20 columns of the sample DWH, in its order
    assert len(spec.columns) == 20
    assert spec.source.table == "flights"
    assert spec.source.partition_column == "flight_date"
    assert spec.columns["flight_date"].type == "date" and not spec.columns["flight_date"].nullable
    assert spec.source.timezone == "America/New_York"
    assert (spec.source.first_day, spec.source.last_day) == (dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    assert spec.target == "arr_delay"
    assert spec.features.categorical == ["carrier", "origin", "dest", "dep_hour", "weekday"]
    weather = spec.joins["weather"]
    assert (weather.source.table, weather.keys, weather.event_time, weather.time) == (
        "weather", {"origin": "origin"}, "time_hour", "time_hour")
    assert weather.as_table(spec.source).source.first_day == spec.source.first_day  # the main table's days
    assert spec.kind_of("weather.temp") == "number" and spec.kind_of("block_minutes") == "number"
    assert spec.derived["block_minutes"].op == "clock_difference"
    distance = spec.columns["distance"]
    assert (distance.type, distance.min, distance.max, distance.nullable) == ("integer", 1, 6000, False)
    assert distance.effective_repairs == ("whitespace", "thousands_separator")
    assert spec.columns["dest"].effective_repairs == ("whitespace",)
    assert spec.columns["dep_time"].clock and spec.columns["dep_time"].nullable
    # "9E" must stay a string: unquoted YAML would read it as the float 9.0
    assert spec.columns["carrier"].allowed[0] == "9E" and len(spec.columns["carrier"].allowed) == 16
    assert spec.quality.quarantine_max_rate == 0.25


def test_flagship_is_among_the_packaged_specs():
    assert "flights_delay" in [s.name for s in load_specs()]


def test_second_spec_loads_with_timestamp_partition_and_schema_qualified_table():
    spec = load_spec(SENSOR_SPEC)
    assert spec.name == "sensor_health"
    assert spec.source.table == "telemetry.readings"
    assert spec.source.partition_column == "read_at"
    assert spec.columns["read_at"].type == "timestamp"
    assert spec.source.timezone == "Europe/Berlin"
    assert spec.source.allow_empty_days is True
    assert spec.source.extract_chunk_days == 4
    assert spec.quality.min_rows == 1  # default
    assert spec.target == "status"
    assert quote_identifier(spec.source.table) == '"telemetry"."readings"'


def test_load_specs_reads_a_folder_sorted_by_name(tmp_path):
    shutil.copy(SENSOR_SPEC, tmp_path / SENSOR_SPEC.name)
    shutil.copy(FLAGSHIP, tmp_path / FLAGSHIP.name)
    (tmp_path / "notes.txt").write_text("not a spec")
    assert [s.name for s in load_specs(tmp_path)] == ["flights_delay", "sensor_health"]


def test_load_specs_of_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="no \\*.yaml spec found") as info:
        load_specs(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_specs_fails_on_one_broken_spec(tmp_path):
    shutil.copy(SENSOR_SPEC, tmp_path / SENSOR_SPEC.name)
    data = _flagship_data()
    data["source"]["timezone"] = "Nowhere/City"
    bad = _write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_specs(tmp_path)
    assert str(bad) in str(info.value) and "source.timezone" in str(info.value)


# --- broken specs: file, field, reason ------------------------------------------------------------

def _set(*path_and_value):
    *path, value = path_and_value

    def mutate(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _drop(*path):
    def mutate(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


BROKEN = [
    ("unknown column key", _set("columns", "distance", "minimum", 1), "columns.distance.minimum", "Extra inputs"),
    ("unknown source key", _set("source", "tabel", "flights"), "source.tabel", "Extra inputs"),
    ("unknown top key", _set("targets", "arr_delay"), "targets", "Extra inputs"),
    ("min not a number", _set("columns", "distance", "min", "one"), "columns.distance.min", "valid number"),
    ("nullable not a bool", _set("columns", "tailnum", "nullable", "maybe"), "columns.tailnum.nullable", "valid boolean"),
    ("first_day not a date", _set("source", "first_day", "yesterday"), "source.first_day", "valid date"),
    ("columns not a mapping", _set("columns", ["flight_date"]), "columns", "valid dictionary"),
    ("unknown column type", _set("columns", "distance", "type", "int"), "columns.distance.type", "'integer'"),
    ("chunk days out of bounds", _set("source", "extract_chunk_days", 0), "source.extract_chunk_days", "greater than or equal to 1"),
    ("min above max", _set("columns", "distance", "min", 7000), "columns.distance.min", "greater than max"),
    ("allowed on an integer", _set("columns", "distance", "allowed", ["1"]), "columns.distance.allowed", "need type 'string'"),
    ("range on a string", _set("columns", "dest", "max", 3), "columns.dest.max", "numeric type"),
    ("clock on a string", _set("columns", "carrier", "clock", True), "columns.carrier.clock", "numeric type"),
    ("thousands repair on a string", _set("columns", "dest", "repairs", ["thousands_separator"]), "columns.dest.repairs", "numeric columns only"),
    ("partition column not declared", _drop("columns", "flight_date"), "source.partition_column", "not declared under columns"),
    ("partition column nullable", _set("columns", "flight_date", "nullable", True), "columns.flight_date.nullable", "cannot be nullable"),
    ("partition column not temporal", _set("columns", "flight_date", {"type": "string"}), "columns.flight_date.type", "date or timestamp"),
    ("feature not declared", _set("features", "numeric", ["dep_delay", "wind_speed"]), "features.numeric.1", "'wind_speed' is not declared"),
    ("categorical not declared", _set("features", "categorical", ["carrier", "plane"]), "features.categorical.1", "'plane' is not declared"),
    ("target not declared", _set("target", "arrival_delay"), "target", "'arrival_delay' is not declared"),
    ("bad timezone", _set("source", "timezone", "America/Gotham"), "source.timezone", "unknown timezone 'America/Gotham'"),
    ("timezone path", _set("source", "timezone", "../../etc/passwd"), "source.timezone", "unknown timezone"),
    ("last_day before first_day", _set("source", "last_day", dt.date(2012, 12, 31)), "source.last_day", "before first_day"),
    ("warn rate above max rate", _set("quality", "quarantine_warn_rate", 0.5), "quality.quarantine_warn_rate", "above quarantine_max_rate"),
    ("rate above 1", _set("quality", "quarantine_max_rate", 1.5), "quality.quarantine_max_rate", "less than or equal to 1"),
    ("no columns", _set("columns", {}), "columns", "declares no columns"),
    ("no source", _drop("source"), "source", "Field required"),
]


@pytest.mark.parametrize("mutate, field, reason", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_spec_names_file_field_and_reason(tmp_path, mutate, field, reason):
    data = _flagship_data()
    mutate(data)
    path = _write(tmp_path, data)
    message = _error(path)
    assert message.startswith(f"{path}: {field}: "), message
    assert reason in message


def test_every_error_of_a_spec_is_reported(tmp_path):
    data = _flagship_data()
    data["source"]["timezone"] = "Nowhere/City"
    data["columns"]["distance"]["min"] = "one"
    message = _error(_write(tmp_path, data))
    assert "source.timezone: unknown timezone" in message
    assert "columns.distance.min: Input should be a valid number" in message
    assert len(message.splitlines()) == 2


def test_file_name_must_match_the_spec_name(tmp_path):
    path = _write(tmp_path, _flagship_data(), name="flights")
    message = _error(path)
    assert message.startswith(f"{path}: name: ")
    assert "'flights_delay' differs from the file name 'flights'" in message


def test_invalid_yaml(tmp_path):
    path = tmp_path / "flights_delay.yaml"
    path.write_text("name: flights_delay\ncolumns: [unclosed\n", encoding="utf-8")
    message = _error(path)
    assert message.startswith(f"{path}: <yaml>: not valid YAML")
    assert "line 2" in message  # the parser's position survives


@pytest.mark.parametrize("text, got", [("- a\n- b\n", "list"), ("just text\n", "str"), ("", "NoneType")],
                         ids=["list", "scalar", "empty file"])
def test_spec_that_is_not_a_mapping(tmp_path, text, got):
    path = tmp_path / "flights_delay.yaml"
    path.write_text(text, encoding="utf-8")
    assert _error(path) == f"{path}: <top level>: expected a mapping, got {got}"


@pytest.mark.parametrize("text", [
    "name: " + "[" * 5000 + "]" * 5000 + "\n",                          # a sequence in a sequence ...
    "name: flights_delay\nsource:\n" + "".join("  " * i + "a:\n" for i in range(1, 3000)),  # a mapping ...
    "name: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",                  # flow mappings
], ids=["sequences", "block mappings", "flow mappings"])
def test_a_spec_nested_too_deeply_is_one_clear_line(tmp_path, text):
    path = tmp_path / "flights_delay.yaml"
    path.write_text(text, encoding="utf-8")
    message = _error(path)
    assert message.startswith(f"{path}: ") and "nested too deeply" in message and "\n" not in message


@pytest.mark.parametrize("encoding, text", [("latin-1", "description: Flüge über New York\n"),
                                            ("utf-16", "name: flights_delay\n"), ("cp1252", "name: caf\u00e9\n")])
def test_a_spec_that_is_not_utf8_names_its_file(tmp_path, encoding, text):
    path = tmp_path / "flights_delay.yaml"
    path.write_bytes(text.encode(encoding))
    message = _error(path)
    assert message.startswith(f"{path}: <file>: not UTF-8 text") and "save the spec as UTF-8" in message


@pytest.mark.parametrize("scalar, shown", [("YES", "True"), ("no", "False"), ("on", "True"), ("Off", "False"),
                                           ("true", "True")])
def test_unquoted_yaml_booleans_in_text_fields_say_to_quote_them(tmp_path, scalar, shown):
    text = FLAGSHIP.read_text(encoding="utf-8").replace("origin: {type: string, allowed: [EWR, JFK, LGA]}",
                                                        f"origin: {{type: string, allowed: [EWR, {scalar}, LGA]}}")
    path = tmp_path / "flights_delay.yaml"
    path.write_text(text, encoding="utf-8")
    message = _error(path)
    assert message.startswith(f"{path}: columns.origin.allowed.1: ")
    assert f"boolean {shown}" in message and "quote it" in message


def test_numbers_where_text_is_wanted_say_to_quote_them(tmp_path):
    data = _flagship_data()
    data["columns"]["carrier"]["allowed"] = ["9E", 10, "AA"]
    data["evaluation"]["slices"] = ["origin", 1.5]
    message = _error(_write(tmp_path, data))
    assert "columns.carrier.allowed.1:" in message and "YAML read 10 as a number; quote it" in message
    assert "evaluation.slices.1:" in message and "YAML read 1.5 as a number" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    message = _error(path)
    assert message.startswith(f"{path}: cannot be read")
    assert "No such file" in message


def test_parse_spec_in_memory_names_its_source():
    data = _flagship_data()
    data["target"] = "nope"
    with pytest.raises(SpecError, match=r"^settings: target: feature or target 'nope'"):
        parse_spec(data, "settings")
    assert parse_spec(_flagship_data()).name == "flights_delay"


# --- hostile identifiers --------------------------------------------------------------------------

HOSTILE = [
    ("table injection", _set("source", "table", "flights; DROP TABLE x"), "source.table", "not a plain SQL identifier"),
    ("table quote", _set("source", "table", 'flights"--'), "source.table", "not a plain SQL identifier"),
    ("schema.table.extra", _set("source", "table", "dwh.public.flights"), "source.table", "more than one dot"),
    ("empty table part", _set("source", "table", "dwh."), "source.table", "not a plain SQL identifier"),
    ("partition column comment", _set("source", "partition_column", "x--"), "source.partition_column", "not a plain SQL identifier"),
    ("spec name", _set("name", "flights delay"), "name", "not a plain SQL identifier"),
]


@pytest.mark.parametrize("mutate, field, reason", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_identifier_is_rejected(tmp_path, mutate, field, reason):
    data = _flagship_data()
    mutate(data)
    path = _write(tmp_path, data)
    message = _error(path)
    assert message.startswith(f"{path}: {field}: "), message
    assert reason in message


@pytest.mark.parametrize("column", ['a"b', "a b", "1st", "x" * 64, "dist;ance"])
def test_hostile_column_name_is_rejected(tmp_path, column):
    data = _flagship_data()
    data["columns"][column] = {"type": "integer"}
    path = _write(tmp_path, data)
    message = _error(path)
    assert message.startswith(f"{path}: columns.{column}: column name "), message
    assert "not a plain SQL identifier" in message


def test_quote_identifier_rejects_what_it_cannot_quote_safely():
    assert quote_identifier("flights") == '"flights"'
    with pytest.raises(ValueError):
        quote_identifier('a"b')


def test_spec_is_frozen():
    spec = load_spec(FLAGSHIP)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.source.table = "other"  # type: ignore[misc]
    assert copy.deepcopy(spec) == spec


def test_core_packages_do_not_import_dagster():
    import subprocess
    import sys
    code = ("import sys, batch_training.spec, batch_training.cleansing, batch_training.cleansing.checks, "
            "batch_training.sample.anomalies, batch_training.storage; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
