"""raw, cleansed and quarantine materialized on small real data with an ephemeral instance."""

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_training.sample.seed import SeedOptions, seed_warehouse
from batch_training.spec import load_specs, parse_spec
from batch_training.storage import sha256_file
from batch_training.warehouse import open_warehouse
from batch_training_tests.support import flights as flights_support
from batch_training_tests.support.dagster_run import (
    check_evaluations,
    ingest_defs,
    materialized_days,
    run_day,
    run_range,
)
from batch_training_tests.support.sensors import seed_sensors, sensor_readings, sensor_spec

FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 1, 4)
DAYS = ["2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04"]


@pytest.fixture
def flights():
    return load_specs()[0]


def seeded(tmp_path, **options) -> str:
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=FIRST, last_day=LAST, **options))
    return url


def partition_metadata(instance, key: dg.AssetKey, day: str) -> dict:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records
    event = records[0].asset_materialization
    return {k: v.value for k, v in event.metadata.items()}


def test_range_is_one_run_and_every_row_is_clean_or_quarantined(tmp_path, flights):
    url = seeded(tmp_path, anomaly_rate=0.05, seed=3)
    instance = dg.DagsterInstance.ephemeral()
    result = run_range(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[0], DAYS[-1], instance)

    assert result.success
    assert len(instance.get_run_records()) == 1
    for asset in ("raw", "cleansed", "quarantine"):
        assert materialized_days(instance, flights, asset) == DAYS
    with open_warehouse(url) as wh:
        dwh_rows = {r["d"].isoformat(): r["n"] for r in wh.query(
            "SELECT flight_date AS d, count(*) AS n FROM flights GROUP BY 1").to_pylist()}
    total_quarantined = 0
    for day in DAYS:
        meta = partition_metadata(instance, dg.AssetKey(["flights_delay", "cleansed"]), day)
        assert meta["rows_raw"] == dwh_rows[day]
        assert meta["rows_raw"] == meta["rows_clean"] + meta["rows_quarantined"]
        clean = pq.read_table(tmp_path / "data" / "flights_delay" / "cleansed" / f"{day}.parquet")
        quarantine = pq.read_table(tmp_path / "data" / "flights_delay" / "quarantine" / f"{day}.parquet")
        assert (clean.num_rows, quarantine.num_rows) == (meta["rows_clean"], meta["rows_quarantined"])
        assert sum(meta["quarantine_reasons"].values()) >= meta["rows_quarantined"]
        total_quarantined += meta["rows_quarantined"]
    assert total_quarantined > 0
    # the written columns ride on the first and the last day of the run only (they did not change)
    for asset in ("raw", "cleansed"):
        key = dg.AssetKey(["flights_delay", asset])
        carried = [day for day in DAYS if "dagster/column_schema" in partition_metadata(instance, key, day)]
        assert carried == [DAYS[0], DAYS[-1]]
        first, last = (partition_metadata(instance, key, day)["dagster/column_schema"] for day in carried)
        assert first == last and "dep_delay" in {c.name for c in last.columns}
    # ~3.9% of rows quarantined: above the 2% warning level, below the 25% maximum, so the check
    # fails with WARN and does not block the run.
    checks = check_evaluations(result)
    assert {name: e.passed for name, e in checks.items()} == {
        "raw:schema_drift": True, "raw:not_empty": True, "raw:conservation": True,
        "cleansed:quarantine_rate": False, "cleansed:duplicates": True,
        # the joined weather table, judged by its own contract
        "weather/raw:schema_drift": True, "weather/raw:not_empty": True, "weather/raw:conservation": True,
        "weather/cleansed:quarantine_rate": True, "weather/cleansed:duplicates": True,
    }
    assert checks["cleansed:quarantine_rate"].severity == dg.AssetCheckSeverity.WARN
    assert checks["cleansed:quarantine_rate"].metadata["days_failed"].value == len(DAYS)


def test_quarantine_metadata_has_reasons_and_preview(tmp_path, flights):
    url = seeded(tmp_path, anomaly_rate=0.05, seed=3)
    instance = dg.DagsterInstance.ephemeral()
    assert run_day(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[1], instance).success
    meta = partition_metadata(instance, dg.AssetKey(["flights_delay", "quarantine"]), DAYS[1])
    assert meta["rows_quarantined"] > 0
    assert sum(meta["reasons"].values()) >= meta["rows_quarantined"]
    assert "| row | reasons | raw values |" in meta["preview"]
    top_reason = max(meta["reasons"], key=meta["reasons"].get)
    assert top_reason in meta["preview"]


def test_single_day_check_is_recorded_for_its_partition(tmp_path, flights):
    url = seeded(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    result = run_day(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[2], instance)
    assert result.success
    evaluation = check_evaluations(result)["raw:schema_drift"]
    assert evaluation.passed
    assert evaluation.partition == DAYS[2]


def test_schema_drift_blocks_downstream(tmp_path, flights):
    url = seeded(tmp_path, rename={"dep_delay": "departure_delay"})
    instance = dg.DagsterInstance.ephemeral()
    result = run_range(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[0], DAYS[1], instance)

    assert not result.success
    drift = check_evaluations(result)["raw:schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in drift.metadata.items()}
    assert meta["days_failed"] == 2
    assert set(meta["failed"]) == {DAYS[0], DAYS[1]}
    assert "departure_delay" in meta["summary"] or "departure_delay" in str(meta["failed"])
    assert materialized_days(instance, flights, "raw") == DAYS[:2]
    assert materialized_days(instance, flights, "cleansed") == []
    assert materialized_days(instance, flights, "quarantine") == []


def test_empty_day_fails_unless_allowed(tmp_path, flights):
    url = seeded(tmp_path, empty_days=[FIRST + dt.timedelta(days=1)])
    instance = dg.DagsterInstance.ephemeral()
    result = run_range(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[0], DAYS[2], instance)

    assert not result.success
    empty = check_evaluations(result)["raw:not_empty"]
    assert not empty.passed
    assert list(empty.metadata["failed"].value) == [DAYS[1]]
    assert materialized_days(instance, flights, "cleansed") == []


def test_quarantine_rate_over_the_maximum_blocks(tmp_path, flights):
    url = seeded(tmp_path, anomaly_rate=0.9, seed=5)
    instance = dg.DagsterInstance.ephemeral()
    result = run_day(ingest_defs(flights, url, tmp_path / "data"), flights, DAYS[0], instance)

    assert not result.success
    rate = check_evaluations(result)["cleansed:quarantine_rate"]
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.ERROR
    assert rate.metadata["rate"].value > flights.quality.quarantine_max_rate


def test_second_spec_runs_with_no_code_change(tmp_path):
    spec = sensor_spec()
    url = f"duckdb://{tmp_path / 'sensors.duckdb'}"
    readings = sensor_readings(dt.date(2024, 3, 1), 3)
    with open_warehouse(url) as wh:
        seed_sensors(wh, dt.date(2024, 3, 1), 3, readings=readings)
    instance = dg.DagsterInstance.ephemeral()
    result = run_range(ingest_defs(spec, url, tmp_path / "data"), spec, "2024-03-01", "2024-03-04", instance)

    assert result.success
    assert materialized_days(instance, spec, "cleansed") == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    rows = {d: partition_metadata(instance, dg.AssetKey(["sensor_health", "cleansed"]), d)["rows_clean"]
            for d in ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]}
    assert rows == {"2024-03-01": 96, "2024-03-02": 96, "2024-03-03": 96, "2024-03-04": 0}
    clean = pq.read_table(tmp_path / "data" / "sensor_health" / "cleansed" / "2024-03-02.parquet")
    assert clean.schema.field("battery_pct").type == "int64"


def test_the_dwh_returning_rows_in_another_order_changes_no_cleansed_file(tmp_path, flights):
    """The same DWH rows, reloaded in another physical order: byte-identical cleansed files (so the same
    data version downstream), while the raw files keep the order the DWH gave."""
    url = seeded(tmp_path, anomaly_rate=0.05, seed=3)
    digests = []
    for name, shuffle in (("first", 5), ("second", 6)):
        with open_warehouse(url) as wh:  # the same rows, reloaded in another order
            table = wh.query("SELECT * FROM flights")
            wh.replace_table("flights", table.take(np.random.default_rng(shuffle).permutation(table.num_rows)))
        data = tmp_path / name
        assert run_range(ingest_defs(flights, url, data), flights, DAYS[0], DAYS[-1], dg.DagsterInstance.ephemeral()).success
        digests.append({part: [sha256_file(data / "flights_delay" / part / f"{d}.parquet") for d in DAYS]
                        for part in ("raw", "cleansed")})
    assert digests[0]["cleansed"] == digests[1]["cleansed"]
    assert digests[0]["raw"] != digests[1]["raw"]  # the DWH order did change


def test_rows_the_extract_lost_fail_conservation_naming_the_day(tmp_path, flights):
    """A DWH read that returns fewer rows than the DWH counts (a driver or bound bug, a row with a
    partition value the split cannot place) is a blocking ERROR that names the day, not a silence."""
    from contextlib import contextmanager

    from batch_training.defs.resources import WarehouseResource

    class LosesARowOfTheSecondDay(WarehouseResource):
        @contextmanager
        def connect(self):
            with super().connect() as wh:
                stream = wh.stream_between

                @contextmanager
                def lossy(table, column, lower, upper):
                    with stream(table, column, lower, upper) as reader:
                        rows = reader.read_all()
                    days = rows.column(column).to_pylist()
                    drop = days.index(FIRST + dt.timedelta(days=1)) if FIRST + dt.timedelta(days=1) in days else None
                    rows = rows if drop is None else rows.take([i for i in range(rows.num_rows) if i != drop])
                    yield pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(max_chunksize=100))

                wh.stream_between = lossy
                yield wh

    url = seeded(tmp_path)
    from batch_training.defs.ingest import build_ingest_defs
    from batch_training.defs.resources import ArtifactStoreResource

    defs = dg.Definitions.merge(build_ingest_defs(flights), dg.Definitions(resources={
        "warehouse": LosesARowOfTheSecondDay(url=url), "artifacts": ArtifactStoreResource(root=str(tmp_path / "data"))}))
    result = run_range(defs, flights, DAYS[0], DAYS[-1], dg.DagsterInstance.ephemeral())
    assert not result.success
    check = check_evaluations(result)["raw:conservation"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    with open_warehouse(url) as wh:
        counted = wh.count_between("flights", "flight_date", FIRST + dt.timedelta(days=1), FIRST + dt.timedelta(days=2))
    assert check.metadata["errors"].value == {
        DAYS[1]: f"raw has {counted - 1} rows but the DWH counts {counted} for this day"}


def test_a_joined_tables_anomaly_is_quarantined_by_its_own_contract(tmp_path):
    """The real weather table reads a wind speed of 1048 mph at EWR at 03:00 on 2013-02-12: over the
    weather contract's max of 150, so that row, and only it, goes to weather/quarantine with its reason,
    while the flights of that day are judged by theirs."""
    data = flights_support.small_flights_data()
    data["source"]["last_day"] = "2013-02-12"
    spec = parse_spec(data)
    url = f"duckdb://{tmp_path / 'dwh.duckdb'}"
    seed_warehouse(url, SeedOptions(first_day=dt.date(2013, 2, 12), last_day=dt.date(2013, 2, 12), anomaly_rate=0.0))
    instance = dg.DagsterInstance.ephemeral()
    assert run_day(ingest_defs(spec, url, tmp_path / "data"), spec, "2013-02-12", instance).success

    meta = partition_metadata(instance, dg.AssetKey(["flights_delay", "weather", "cleansed"]), "2013-02-12")
    assert (meta["rows_raw"], meta["rows_clean"], meta["rows_quarantined"]) == (72, 71, 1)  # 3 airports x 24 h
    quarantine = pq.read_table(tmp_path / "data" / "flights_delay" / "weather" / "quarantine" / "2013-02-12.parquet")
    row = quarantine.to_pylist()[0]
    assert row["reasons"] == "wind_speed:out_of_range"
    assert (row["raw"]["origin"], float(row["raw"]["wind_speed"])) == ("EWR", 1048.36058)
    clean = pq.read_table(tmp_path / "data" / "flights_delay" / "weather" / "cleansed" / "2013-02-12.parquet")
    assert max(clean.column("wind_speed").to_pylist(), key=lambda v: v or 0) < 150
    flights_meta = partition_metadata(instance, dg.AssetKey(["flights_delay", "cleansed"]), "2013-02-12")
    assert flights_meta["rows_quarantined"] == 0 and flights_meta["rows_clean"] == flights_meta["rows_raw"]
