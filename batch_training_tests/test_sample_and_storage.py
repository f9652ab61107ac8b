"""The sample DWH's anomaly injection, and the atomic per-day Parquet store."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from batch_training.sample.anomalies import KINDS, drop_days, inject, rename_columns
from batch_training.sample.flights import ORDER, load_flights
from batch_training.storage import PartitionStore, atomic_write_parquet
from batch_training.storage.files import write_files_atomic

DAY1, DAY2 = dt.date(2013, 1, 1), dt.date(2013, 1, 2)


@pytest.fixture(scope="module")
def two_days() -> pa.Table:
    return load_flights(DAY1, DAY2)


@pytest.fixture(scope="module")
def one_day(two_days) -> pa.Table:
    return two_days.filter(pc.equal(two_days["flight_date"], pa.scalar(DAY1, pa.date32())))


# --- inject ---------------------------------------------------------------------------------------

def test_inject_is_deterministic_for_a_seed(one_day):
    a, report_a = inject(one_day, rate=0.2, seed=13)
    b, report_b = inject(one_day, rate=0.2, seed=13)
    assert a.equals(b)
    assert report_a == report_b


def test_inject_differs_between_seeds(one_day):
    a, report_a = inject(one_day, rate=0.2, seed=13)
    c, report_c = inject(one_day, rate=0.2, seed=14)
    assert not a.equals(c)
    assert report_a.counts == report_c.counts  # the same amounts, in other rows
    assert a["carrier"].to_pylist() != c["carrier"].to_pylist()


def test_inject_leaves_its_input_alone(one_day):
    before = one_day.to_pylist()
    inject(one_day, rate=0.2, seed=13)
    assert one_day.to_pylist() == before


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.09, 0.2, 0.5])
def test_inject_honours_the_rate(one_day, rate):
    n = one_day.num_rows
    table, report = inject(one_day, rate=rate, seed=7)
    per_kind = round(n * rate / len(KINDS))
    assert report.counts == {kind: per_kind for kind in KINDS}
    assert (report.rows_before, report.rows_after) == (n, n + per_kind)
    assert table.num_rows == n + per_kind
    assert table.schema == one_day.schema


def test_inject_at_rate_zero_changes_nothing(one_day):
    table, _ = inject(one_day, rate=0.0, seed=1)
    assert table.equals(one_day)


@pytest.mark.parametrize("rate", [-0.1, 1.01])
def test_inject_rejects_a_rate_outside_0_1(one_day, rate):
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        inject(one_day, rate=rate, seed=1)


def _changed_rows(before: pa.Table, after: pa.Table) -> dict[int, dict[str, tuple]]:
    rows_b, rows_a = before.to_pylist(), after.slice(0, before.num_rows).to_pylist()
    return {i: {k: (b[k], a[k]) for k in b if b[k] != a[k]} for i, (b, a) in enumerate(zip(rows_b, rows_a)) if b != a}


def test_injected_anomalies_are_what_the_report_says(one_day):
    table, report = inject(one_day, rate=0.2, seed=5)
    changed = _changed_rows(one_day, table)
    per_kind = report.counts["whitespace"]
    # every changed row has exactly one changed value: one anomaly per row
    assert all(len(diff) == 1 for diff in changed.values())
    assert len(changed) == per_kind * (len(KINDS) - 1)
    values = [next(iter(diff.items())) for diff in changed.values()]  # (column, (old, new))
    zz = [c for c, (_, new) in values if new == "ZZ"]
    assert zz == ["carrier"] * report.counts["unknown_category"]
    assert sum(1 for _, (_, new) in values if new is None) == report.counts["null_required"]
    assert sum(1 for _, (_, new) in values if new == "") == report.counts["empty_text"]
    assert sum(1 for _, (_, new) in values if new == "2575") == report.counts["impossible_time"]
    assert sum(1 for _, (old, new) in values if new == f" {old} ") == report.counts["whitespace"]
    grouped = [(old, new) for _, (old, new) in values if new and "," in new]
    assert len(grouped) == report.counts["thousands"]
    assert all(int(old) >= 1000 and new == f"{int(old):,}" for old, new in grouped)
    # duplicates are exact copies of original rows, appended
    copies = table.slice(one_day.num_rows).to_pylist()
    originals = table.slice(0, one_day.num_rows).to_pylist()
    assert len(copies) == report.counts["duplicate"]
    assert all(copy in originals for copy in copies)


def test_drop_days_removes_exactly_those_days(two_days):
    kept = drop_days(two_days, "flight_date", [DAY1])
    assert set(kept["flight_date"].to_pylist()) == {DAY2}
    expected = two_days.filter(pc.equal(two_days["flight_date"], pa.scalar(DAY2, pa.date32())))
    assert kept.equals(expected)
    assert drop_days(two_days, "flight_date", []).equals(two_days)
    assert drop_days(two_days, "flight_date", [DAY1, DAY2]).num_rows == 0
    assert drop_days(two_days, "flight_date", [dt.date(2013, 6, 1)]).equals(two_days)


def test_rename_columns_renames_in_place(one_day):
    renamed = rename_columns(one_day, {"distance": "dist", "carrier": "airline"})
    expected = [{"distance": "dist", "carrier": "airline"}.get(c, c) for c in ORDER]
    assert renamed.column_names == expected
    assert renamed["dist"].equals(one_day["distance"])
    assert rename_columns(one_day, {}).equals(one_day)
    with pytest.raises(ValueError, match="cannot rename missing columns \\['nope'\\]"):
        rename_columns(one_day, {"nope": "x"})


# --- PartitionStore -------------------------------------------------------------------------------

def _table(version: int) -> pa.Table:
    return pa.table({
        "day": pa.array([DAY1, DAY1, None], pa.date32()),
        "at": pa.array([dt.datetime(2013, 1, 1, 5, tzinfo=dt.timezone.utc), None,
                        dt.datetime(2013, 1, 1, 23, 59, tzinfo=dt.timezone.utc)], pa.timestamp("us", tz="UTC")),
        "n": pa.array([version, -1, None], pa.int64()),
        "text": pa.array(["a", None, "ü"], pa.string()),
        "x": pa.array([0.5, float("nan"), None], pa.float64()),
    })


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_store_layout_and_round_trip(tmp_path):
    store = PartitionStore(tmp_path)
    path = store.write("flights_delay", "cleansed", DAY1, _table(1))
    assert path == tmp_path / "flights_delay" / "cleansed" / "2013-01-01.parquet"
    assert store.path("flights_delay", "cleansed", "2013-01-01") == path
    assert store.exists("flights_delay", "cleansed", DAY1)
    assert not store.exists("flights_delay", "cleansed", DAY2)
    back = store.read("flights_delay", "cleansed", "2013-01-01")
    assert back.schema == _table(1).schema
    # NaN != NaN, so the float column is compared apart
    assert back.drop_columns(["x"]).equals(_table(1).drop_columns(["x"]))
    assert back["x"].to_pylist()[0] == 0.5 and pc.is_nan(back["x"]).to_pylist() == [False, True, None]
    assert _files(path.parent) == ["2013-01-01.parquet"]


def test_store_overwrites_a_day(tmp_path):
    store = PartitionStore(tmp_path)
    store.write("s", "raw", DAY1, _table(1))
    store.write("s", "raw", DAY1, _table(2))
    assert store.read("s", "raw", DAY1)["n"].to_pylist() == [2, -1, None]
    assert _files(tmp_path / "s" / "raw") == ["2013-01-01.parquet"]


def test_store_read_of_a_missing_day_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="cleansed of flights_delay for 2013-01-02 has not been materialized"):
        PartitionStore(tmp_path).read("flights_delay", "cleansed", DAY2)


def test_store_rejects_a_day_that_is_not_a_date(tmp_path):
    with pytest.raises(ValueError):
        PartitionStore(tmp_path).path("s", "raw", "../../etc/passwd")


def test_atomic_write_returns_the_file_size(tmp_path):
    path = tmp_path / "deep" / "er" / "t.parquet"
    size = atomic_write_parquet(_table(1), path)
    assert size == path.stat().st_size > 0
    assert pq.read_table(path)["n"].to_pylist() == [1, -1, None]


@pytest.fixture
def crash_writes(monkeypatch):
    """Arms ``pq.write_table`` to write part of the file, then die (a full disk, a killed process)."""
    real = pq.write_table

    def write_part_then_fail(table, where, **kwargs):
        real(table.slice(0, 1), where, **kwargs)  # a valid-looking prefix reaches the file
        raise OSError(28, "No space left on device")
    return lambda: monkeypatch.setattr(pq, "write_table", write_part_then_fail)


def test_crash_during_first_write_leaves_no_file(tmp_path, crash_writes):
    store = PartitionStore(tmp_path)
    crash_writes()
    with pytest.raises(OSError, match="No space left"):
        store.write("s", "raw", DAY1, _table(1))
    assert not store.exists("s", "raw", DAY1)
    assert _files(tmp_path / "s" / "raw") == []  # no final file and no leftover .tmp


def test_crash_during_rewrite_keeps_the_previous_file(tmp_path, crash_writes):
    store = PartitionStore(tmp_path)
    path = store.write("s", "raw", DAY1, _table(1))
    before = path.read_bytes()
    crash_writes()
    with pytest.raises(OSError, match="No space left"):
        store.write("s", "raw", DAY1, _table(2))
    assert path.read_bytes() == before
    assert pq.read_table(path)["n"].to_pylist() == [1, -1, None]
    assert _files(path.parent) == ["2013-01-01.parquet"]


def test_days_written_together_replace_every_path_or_none(tmp_path):
    """``write_days``: every file whole and in place, or (one fill failing) no path replaced and no
    temporary left, the old files untouched."""
    store = PartitionStore(tmp_path)
    days = {("raw", f"2013-01-{d:02d}"): pa.table({"x": list(range(d * 100))}) for d in range(1, 11)}
    days[("quarantine", "2013-01-01")] = pa.table({"reason": ["a", "b"]})
    paths = store.write_days("s", days)
    assert {k: pq.read_table(p).num_rows for k, p in paths.items()} == {k: t.num_rows for k, t in days.items()}
    before = {p: p.read_bytes() for p in paths.values()}

    def fails(fh):
        fh.write(b"half")
        raise OSError("disk full")

    writes = [(p, lambda fh: fh.write(b"new")) for p in list(paths.values())[:5]] + [(tmp_path / "s/raw/new.parquet", fails)]
    with pytest.raises(OSError, match="disk full"):
        write_files_atomic(writes)
    assert {p: p.read_bytes() for p in paths.values()} == before
    assert not (tmp_path / "s/raw/new.parquet").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="same path twice"):
        write_files_atomic([(tmp_path / "a", lambda fh: None), (tmp_path / "a", lambda fh: None)])


def test_a_batch_sweeps_only_the_temporaries_of_its_own_paths(tmp_path):
    """What a killed writer left (``.<name>.<pid>.<random>.tmp``) goes when that name is written
    again, single or in a batch; another file's temporaries and other dotfiles stay."""
    folder = tmp_path / "s" / "raw"
    folder.mkdir(parents=True)
    left = {name: folder / f".{name}.999.deadbeef.tmp" for name in
            ("2013-01-01.parquet", "2013-01-02.parquet", "2013-01-03.parquet", "2013-01-02.parquet.x")}
    for leftover in left.values():
        leftover.write_bytes(b"torn")
    keep = [folder / ".hidden", folder / ".2013-01-01.parquet.tmp.keep"]
    for other in keep:
        other.write_bytes(b"")
    write_files_atomic([(folder / n, lambda fh: fh.write(b"ok")) for n in ("2013-01-01.parquet", "2013-01-02.parquet")])
    remaining = {p.name for p in folder.iterdir()}
    assert remaining == {"2013-01-01.parquet", "2013-01-02.parquet", ".hidden", ".2013-01-01.parquet.tmp.keep",
                         left["2013-01-03.parquet"].name, left["2013-01-02.parquet.x"].name}
    atomic_write_parquet(pa.table({"x": [1]}), folder / "2013-01-03.parquet")
    assert not left["2013-01-03.parquet"].exists()


def test_write_batches_keep_order_and_size():
    from batch_training.storage.partitions import write_batches

    assert [len(b) for b in write_batches(range(70), 31)] == [31, 31, 8]
    assert [x for b in write_batches(iter(range(70)), 31) for x in b] == list(range(70))
    assert list(write_batches([], 31)) == []
