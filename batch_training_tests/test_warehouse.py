"""The DWH layer on both backends (a DuckDB file and a real PostgreSQL server): day reads, day
extraction with chunking and a timestamp partition, types, injection safety, URLs, failures, seeding."""

import datetime as dt
import secrets
import socket
from contextlib import contextmanager
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from batch_training.sample.flights import TEXT_COLUMNS
from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.spec.identifiers import check_table_name, quote_identifier
from batch_training.spec.tables import SourceSpec
from batch_training.warehouse import WarehouseError, open_warehouse, redact_url
from batch_training.warehouse.base import WarehouseQueryError, day_range_sql
from batch_training.warehouse.extract import extract_chunks, extract_days
from batch_training_tests.support.sensors import sensor_readings, sensor_spec

FIRST, DAYS = dt.date(2013, 1, 1), 10
LAST = FIRST + dt.timedelta(days=DAYS - 1)
BERLIN = ZoneInfo("Europe/Berlin")
TEXT_VALUES = ["0517", " 15 ", "1,400", "12a", "", None, "-3"]  # what a DWH's text "numbers" hold


def day(offset: int) -> dt.date:
    return FIRST + dt.timedelta(days=offset)


def flights_like() -> pa.Table:
    """Day i (0-based) of 10 holds i + 1 rows; one column of each type the DWH layer must keep."""
    rows = [(day(d), n) for d in range(DAYS) for n in range(d + 1)]
    return pa.table({
        "flight_date": pa.array([d for d, _ in rows], pa.date32()),
        "flight": pa.array([d.toordinal() * 100 + n for d, n in rows], pa.int64()),
        "carrier": [f"C{n}" for _, n in rows],
        "dep_time": [TEXT_VALUES[n % len(TEXT_VALUES)] for _, n in rows],
        "time_hour": pa.array([dt.datetime.combine(d, dt.time(n), BERLIN) for d, n in rows],
                              pa.timestamp("us", tz="UTC")),
    })


def rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["flight"])


def rows_between(table: pa.Table, first: dt.date, last: dt.date) -> list[dict]:
    return [r for r in rows(table) if first <= r["flight_date"] <= last]


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb://{tmp_path / 'dwh.duckdb'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def wh(warehouse_url):
    with open_warehouse(warehouse_url) as warehouse:
        yield warehouse


@pytest.fixture
def source() -> pa.Table:
    return flights_like()


@pytest.fixture
def loaded(wh, source):
    wh.replace_table("flights", source)
    return wh


@pytest.mark.parametrize("first, last", [
    (0, 0), (9, 9), (3, 5), (0, 9),  # one day, the last day, a middle range, everything
    (-5, -1), (10, 14),              # only days before / after the data: nothing
    (-2, 1), (8, 12),                # ranges over the edges of the data
])
def test_read_days_returns_exactly_the_rows_of_those_days(loaded, source, first, last):
    got = loaded.read_days("flights", "flight_date", day(first), day(last))
    assert rows(got) == rows_between(source, day(first), day(last))
    expected_count = sum(d + 1 for d in range(max(first, 0), min(last, DAYS - 1) + 1))
    assert got.num_rows == expected_count


def test_types_round_trip_and_text_stays_text(loaded, source):
    got = loaded.read_days("flights", "flight_date", FIRST, LAST)
    assert got.schema.field("flight_date").type == pa.date32()
    assert got.schema.field("flight").type == pa.int64()
    for name in ("carrier", "dep_time"):
        assert pa.types.is_string(got.schema.field(name).type) or pa.types.is_large_string(got.schema.field(name).type)
    stamp = got.schema.field("time_hour").type
    assert pa.types.is_timestamp(stamp) and stamp.tz is not None
    assert rows(got) == rows(source)  # text such as "0517", " 15 ", "" and NULL comes back verbatim
    assert sorted(v for v in got["dep_time"].to_pylist() if v is not None) == sorted(
        v for v in source["dep_time"].to_pylist() if v is not None)


def test_timestamp_partition_in_berlin_time_yields_every_day(wh):
    spec = sensor_spec()
    data = sensor_readings(dt.date(2024, 3, 1), days=10)
    wh.execute("CREATE SCHEMA telemetry")
    wh.replace_table(spec.source.table, data)
    first, last = dt.date(2024, 2, 27), dt.date(2024, 3, 13)  # past the data on both sides
    out = list(extract_days(wh, spec.source, first, last))

    assert [d for d, _ in out] == [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    stamps = data["read_at"].to_pylist()  # four sensors per hour: each stamp four times
    for d, table in out:
        expected = sorted(t for t in stamps if t.astimezone(BERLIN).date() == d)
        got = sorted(table["read_at"].to_pylist())
        assert table.column_names == data.column_names
        assert table.num_rows == (96 if dt.date(2024, 3, 1) <= d <= dt.date(2024, 3, 10) else 0)
        assert got == expected  # local midnight (23:00 UTC the day before) belongs to this day
        assert table.num_rows == 0 or min(got).astimezone(BERLIN).time() == dt.time(0)


@pytest.mark.parametrize("chunk_days", [1, 3, 366])
def test_chunked_extract_yields_each_day_once_with_the_single_day_rows(loaded, source, chunk_days):
    spec = SourceSpec(table="flights", partition_column="flight_date", first_day=FIRST, extract_chunk_days=chunk_days)
    first, last = day(-1), day(DAYS)
    out = list(extract_days(loaded, spec, first, last))
    assert [d for d, _ in out] == [day(i) for i in range(-1, DAYS + 1)]
    for d, table in out:
        assert rows(table) == rows(loaded.read_days("flights", "flight_date", d, d))
        assert rows(table) == rows_between(source, d, d)


def test_hostile_values_travel_as_parameters(loaded, source):
    hostile = "x'); DROP TABLE flights; --"
    loaded.execute("INSERT INTO flights (flight_date, flight, carrier) VALUES ($1, $2, $3)", (FIRST, 7, hostile))
    found = loaded.query("SELECT flight, carrier FROM flights WHERE carrier = $1", (hostile,))
    assert found.to_pylist() == [{"flight": 7, "carrier": hostile}]
    assert loaded.query("SELECT count(*) AS n FROM flights").column(0).to_pylist() == [source.num_rows + 1]


HOSTILE_NAMES = ["flights; DROP TABLE flights", 'a"b', "x--", "with space", "a" * 64, "", "1st", "a.b.c",
                 "flights/*", "ümlaut"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_identifiers_are_rejected(name):
    with pytest.raises(ValueError):
        check_table_name(name)
    with pytest.raises(ValueError):
        day_range_sql(name, "flight_date")
    with pytest.raises(ValueError):
        day_range_sql("flights", name)
    if "." not in name:
        with pytest.raises(ValueError):
            quote_identifier(name)


def test_plain_identifiers_are_accepted():
    assert quote_identifier("a" * 63) == f'"{"a" * 63}"'
    assert quote_identifier("telemetry.readings") == '"telemetry"."readings"'
    assert check_table_name("_t1") == "_t1"


def test_hostile_identifiers_never_reach_the_warehouse(loaded, source):
    for name in HOSTILE_NAMES:
        with pytest.raises(ValueError):
            loaded.read_days(name, "flight_date", FIRST, LAST)
        with pytest.raises(ValueError):
            loaded.read_days("flights", name, FIRST, LAST)
        with pytest.raises(ValueError):
            loaded.replace_table(name, source)
    assert rows(loaded.read_days("flights", "flight_date", FIRST, LAST)) == rows(source)


def test_duckdb_url_forms_open_the_same_file(tmp_path, monkeypatch, source):
    path = tmp_path / "dwh.duckdb"
    with open_warehouse(f"duckdb://{path}") as wh:
        assert wh.kind == "duckdb"
        wh.replace_table("flights", source)
    monkeypatch.chdir(tmp_path)
    for url in ("duckdb:dwh.duckdb", str(path), "dwh.duckdb"):
        with open_warehouse(url, read_only=True) as wh:
            assert wh.kind == "duckdb"
            assert rows(wh.read_days("flights", "flight_date", FIRST, LAST)) == rows(source)


@pytest.mark.parametrize("url", [
    "mysql://user:s3cret-pw@db.example:3306/dwh",
    "sqlite://user:s3cret-pw@host/dwh.db",    # ends like a DuckDB file name, but it is a URL
    "mysql://user:s3cret-pw@host/dwh.duckdb",
])
def test_unsupported_url_is_a_value_error_without_the_password(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        open_warehouse(url)
    assert "unsupported" in str(err.value)
    assert "s3cret-pw" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created on the way


def test_redact_url_hides_the_password():
    assert redact_url("postgresql://etl:s3cret@dwh:5432/prod") == "postgresql://etl:***@dwh:5432/prod"
    assert redact_url("postgresql://:s3cret@dwh/prod") == "postgresql://***@dwh/prod"
    assert redact_url("postgresql://etl@dwh/prod") == "postgresql://etl@dwh/prod"
    assert redact_url("duckdb:///tmp/x.duckdb") == "duckdb:///tmp/x.duckdb"


def test_postgresql_urls_open_postgres(postgres_url):
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        with open_warehouse(url) as wh:
            assert wh.kind == "postgresql"
            assert wh.query("SELECT 41 + $1 AS n", (1,)).column(0).to_pylist() == [42]


def test_nothing_listening_is_a_warehouse_error_without_the_password():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        password = secrets.token_hex(8)
        with pytest.raises(WarehouseError) as err:
            open_warehouse(f"postgresql://etl:{password}@127.0.0.1:{port}/dwh")
    assert password not in str(err.value) and str(port) in str(err.value)


def test_wrong_password_is_a_warehouse_error_without_the_password(postgres_server):
    password = secrets.token_hex(8)
    url = f"postgresql://postgres:{password}@{postgres_server.host}:{postgres_server.port}/postgres"
    with pytest.raises(WarehouseError) as err:
        open_warehouse(url)
    assert password not in str(err.value) and postgres_server.password not in str(err.value)


def test_dwh_going_down_is_a_warehouse_error_and_it_comes_back(postgres_server, postgres_url):
    wh = open_warehouse(postgres_url)
    try:
        postgres_server.stop()
        with pytest.raises(WarehouseError) as err:
            wh.query("SELECT 1 AS n")
        assert postgres_server.password not in str(err.value)
        with pytest.raises(WarehouseError):
            open_warehouse(postgres_url)
    finally:
        wh.close()
        postgres_server.start()
    with open_warehouse(postgres_url) as again:
        assert again.query("SELECT 1 AS n").column(0).to_pylist() == [1]


def sorted_table(wh, table: str) -> list[dict]:
    data = wh.query(f"SELECT * FROM {quote_identifier(table)}")
    return data.sort_by([(name, "ascending") for name in data.column_names]).to_pylist()


def count(wh, sql: str) -> int:
    return wh.query(sql).column(0).to_pylist()[0]


def test_seeding_postgres_twice_gives_identical_tables(postgres_url):
    options = SeedOptions(first_day=dt.date(2013, 1, 1), last_day=dt.date(2013, 1, 3))
    snapshots, reports = [], []
    for _ in range(2):
        reports.append(seed_warehouse(postgres_url, options))
        with open_warehouse(postgres_url) as wh:
            snapshots.append((sorted_table(wh, "flights"), sorted_table(wh, "weather")))
    assert snapshots[0] == snapshots[1]
    first, second = reports
    assert first.anomalies.counts == second.anomalies.counts
    assert set(first.anomalies.counts.values()) == {3}  # 2699 rows at 1 %, over 9 kinds
    assert first.flights_rows == len(snapshots[0][0]) == first.anomalies.rows_after
    assert first.weather_rows == len(snapshots[0][1])
    assert "***" in first.warehouse and urlsplit(postgres_url).password not in first.warehouse

    with open_warehouse(postgres_url) as wh:
        counts = first.anomalies.counts
        assert count(wh, "SELECT count(*) FROM flights WHERE carrier = 'ZZ'") == counts["unknown_category"]
        assert count(wh, "SELECT count(*) FROM flights WHERE carrier IS NULL OR origin IS NULL") \
            == counts["null_required"]
        assert count(wh, "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM flights) d) FROM flights") \
            == counts["duplicate"]
        assert count(wh, "SELECT min(flight_date) FROM flights") == dt.date(2013, 1, 1)
        assert count(wh, "SELECT max(flight_date) FROM flights") == dt.date(2013, 1, 3)
        types = wh.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'flights'")
        declared = dict(zip(types["column_name"].to_pylist(), types["data_type"].to_pylist()))
        assert {declared[c] for c in TEXT_COLUMNS} == {"text"}
        assert declared["flight_date"] == "date" and declared["time_hour"] == "timestamp with time zone"
        sample = wh.query("SELECT * FROM flights LIMIT 1")
        assert all(pa.types.is_string(sample.schema.field(c).type) for c in TEXT_COLUMNS)


def _restreamed(wh, change):
    """``wh.stream_between`` with each record batch passed through ``change`` (lazily, batch by batch)."""
    stream = wh.stream_between

    @contextmanager
    def changed(table, column, lower, upper):
        with stream(table, column, lower, upper) as reader:
            yield pa.RecordBatchReader.from_batches(reader.schema, change(iter(reader)))

    wh.stream_between = changed


@pytest.mark.parametrize("batch_rows", [1, 4, 1000])
@pytest.mark.parametrize("chunk_days", [1, 3])
def test_one_stream_is_cut_into_chunks_at_any_batch_size(loaded, source, batch_rows, chunk_days):
    """The span is one query whose batches end anywhere (inside a day, across chunks); each chunk
    holds exactly its days' rows and the DWH's count of its bounds, counted in one statement."""
    _restreamed(loaded, lambda batches: (part for b in batches for part in pa.Table.from_batches([b]).to_batches(batch_rows)))
    spec = SourceSpec(table="flights", partition_column="flight_date", first_day=FIRST, extract_chunk_days=chunk_days)
    chunks = list(extract_chunks(loaded, spec, day(-2), day(DAYS + 1)))
    assert [c.first for c in chunks] == [day(i) for i in range(-2, DAYS + 2, chunk_days)]
    for chunk in chunks:
        assert chunk.conserved and not chunk.dwh_by_day
        assert chunk.dwh_rows == loaded.count_between("flights", "flight_date", chunk.first, chunk.last + dt.timedelta(days=1))
        for d, table in chunk.days.items():
            assert rows(table) == rows_between(source, d, d)


def test_a_chunk_whose_count_disagrees_names_its_days_and_the_next_chunks_follow(loaded, source):
    """A row lost in transit (day 4 of chunk 2 of 4): that chunk's DWH counts by day say which day
    differs, and the chunks after it are read again from the DWH, whole, in order."""
    lost = day(4)

    def drop_one(batches):
        dropped = False
        for b in batches:
            t = pa.Table.from_batches([b])
            days = t.column("flight_date").to_pylist()
            if not dropped and lost in days:
                i, dropped = days.index(lost), True
                t = t.take([j for j in range(t.num_rows) if j != i])
            yield from t.to_batches(2)

    _restreamed(loaded, drop_one)
    spec = SourceSpec(table="flights", partition_column="flight_date", first_day=FIRST, extract_chunk_days=3)
    chunks = list(extract_chunks(loaded, spec, FIRST, LAST))
    assert [c.first for c in chunks] == [day(0), day(3), day(6), day(9)]
    assert [c.conserved for c in chunks] == [True, False, True, True]
    assert chunks[1].dwh_by_day == {day(i).isoformat(): i + 1 for i in (3, 4, 5)}
    assert chunks[1].days[lost].num_rows == 4 and chunks[1].dwh_rows_of(lost) == 5
    for chunk in chunks[2:]:
        for d, table in chunk.days.items():
            assert rows(table) == rows_between(source, d, d)


def test_rows_out_of_partition_order_are_refused_not_misplaced(loaded):
    _restreamed(loaded, lambda batches: reversed([part for b in batches for part in pa.Table.from_batches([b]).to_batches(3)]))
    spec = SourceSpec(table="flights", partition_column="flight_date", first_day=FIRST, extract_chunk_days=3)
    with pytest.raises(WarehouseQueryError, match="out of order"):
        list(extract_chunks(loaded, spec, FIRST, LAST))


def test_an_extract_stopped_part_way_leaves_the_connection_usable(loaded, source):
    """A step that fails after its first chunk closes the stream and its snapshot; the connection
    answers the next statement."""
    _restreamed(loaded, lambda batches: (part for b in batches for part in pa.Table.from_batches([b]).to_batches(2)))
    spec = SourceSpec(table="flights", partition_column="flight_date", first_day=FIRST, extract_chunk_days=3)
    chunks = extract_chunks(loaded, spec, FIRST, LAST)
    assert next(chunks).rows == 1 + 2 + 3
    chunks.close()
    assert count(loaded, "SELECT count(*) AS n FROM flights") == source.num_rows
    assert [c.rows for c in extract_chunks(loaded, spec, FIRST, LAST)] == [6, 15, 24, 10]


@pytest.mark.parametrize("chunk_days", [1, 2, 3, 5, 14])
def test_one_statement_counts_every_range_by_day(loaded, chunk_days):
    """``count_chunks`` (a binary search over the boundaries in SQL) agrees with a ``count(*)`` and a
    per-day count of each range on its own, ranges without rows included."""
    from batch_training.timestamps import DayKind
    from batch_training.warehouse.extract import day_chunks

    spans = list(day_chunks(day(-3), day(DAYS + 2), chunk_days))
    bounds = [(a, b + dt.timedelta(days=1)) for a, b in spans]
    counted = loaded.count_chunks("flights", "flight_date", bounds, DayKind.DATE, "UTC")
    assert len(counted) == len(spans)
    for (lower, upper), by_day in zip(bounds, counted):
        assert sum(by_day.values()) == loaded.count_between("flights", "flight_date", lower, upper)
        assert by_day == loaded.count_by_day("flights", "flight_date", lower, upper, DayKind.DATE, "UTC")
    assert sum(sum(c.values()) for c in counted) == sum(range(1, DAYS + 1))
