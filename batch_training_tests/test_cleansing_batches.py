"""Cleansing many days in one pass gives each day exactly what a pass of its own gives: the same clean
rows, the same quarantined rows (row numbers within the day), the same reason and repair counts,
whatever the batch size, the text columns' form (plain or dictionary, as read from Parquet) or the
value memo carried from batch to batch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import batch_training.cleansing.rules as rules
from batch_training.cleansing import cleanse
from batch_training.cleansing.chunk import batches, cleanse_days
from batch_training.sample.anomalies import inject
from batch_training.sample.flights import load_flights
from batch_training.spec import load_specs
from batch_training.storage import PartitionStore
from batch_training.warehouse.extract import split_by_day
from batch_training_tests.support.sensors import sensor_readings, sensor_spec

FLIGHTS = load_specs()[0]


@pytest.fixture(scope="module")
def flight_days() -> list[tuple[str, pa.Table]]:
    """Twelve days of flights with every anomaly the sample injects, at 5%."""
    flights, _ = inject(load_flights(dt.date(2013, 3, 5), dt.date(2013, 3, 16)), rate=0.05, seed=5)
    return list(split_by_day(flights, "flight_date", FLIGHTS.source.timezone).items())


def _same(got, want) -> None:
    assert got.rows_raw == want.rows_raw
    assert got.clean.equals(want.clean)
    assert got.quarantine.equals(want.quarantine)
    assert (got.reasons, got.repairs, got.rows_repaired) == (want.reasons, want.repairs, want.rows_repaired)


def _with_batch_rows(spec, rows: int):
    source = spec.source.model_copy(update={"cleanse_batch_rows": rows})
    return spec.model_copy(update={"source": source})


@pytest.mark.parametrize("batch_rows", [1, 900, 5_000, 10_000_000])
def test_each_day_of_a_batch_is_what_a_pass_of_its_own_gives(flight_days, batch_rows):
    spec = _with_batch_rows(FLIGHTS, batch_rows)
    alone = {day: cleanse(table, spec) for day, table in flight_days}
    together = list(cleanse_days(flight_days, spec))
    assert [day for day, _ in together] == [day for day, _ in flight_days]
    for day, result in together:
        _same(result, alone[day])
    assert sum(r.rows_quarantined for _, r in together) > 100  # the anomalies are there to be judged
    assert sum(r.rows_raw for _, r in together) == sum(t.num_rows for _, t in flight_days)


def test_text_read_from_parquet_as_dictionaries_is_judged_alike(flight_days, tmp_path):
    store = PartitionStore(tmp_path)
    for day, table in flight_days:
        store.write("f", "raw", day, table)
    read = [(day, store.read("f", "raw", day, text_as_dictionary=True)) for day, _ in flight_days]
    assert pa.types.is_dictionary(read[0][1].schema.field("dep_delay").type)
    for (_, got), (_, plain) in zip(cleanse_days(read, FLIGHTS), flight_days):
        _same(got, cleanse(plain, FLIGHTS))


def _as_dictionaries(table: pa.Table, repeat_entries: bool = False) -> pa.Table:
    """The text columns as dictionaries of this table's own values; with ``repeat_entries`` each
    dictionary holds every value twice (Arrow allows it) and the rows point at either copy."""
    columns = []
    for column in table.columns:
        if not pa.types.is_string(column.type):
            columns.append(column)
            continue
        encoded = pc.dictionary_encode(column.combine_chunks())
        if repeat_entries:
            n = len(encoded.dictionary)
            flip = pa.array(np.arange(len(encoded)) % 2 * n, pa.int32())
            encoded = pa.DictionaryArray.from_arrays(pc.add(encoded.indices, flip),
                                                      pa.concat_arrays([encoded.dictionary, encoded.dictionary]))
        columns.append(encoded)
    return pa.table(columns, names=table.column_names)


def test_days_in_chunks_of_their_own_dictionaries_are_judged_alike(flight_days):
    """A batch's days keep their chunks: each chunk's dictionary is its own (a day's Parquet file, a
    day's row groups), a value's position differs from chunk to chunk, and a dictionary may repeat a
    value. Verdicts, repairs and duplicates (a row and its copy in another chunk of the same day) are
    what a plain pass over each day gives."""
    (d1, t1), (d2, t2), (d3, t3) = flight_days[:3]
    twice = pa.concat_tables([t2, t2.slice(7, 1)])  # the copy lands in the day's second chunk
    split = t2.num_rows // 2
    chunked = pa.concat_tables([_as_dictionaries(twice.slice(0, split)),
                                _as_dictionaries(twice.slice(split), repeat_entries=True)])
    days = [(d1, _as_dictionaries(t1)), (d2, chunked), (d3, _as_dictionaries(t3, repeat_entries=True))]
    assert chunked.column("tailnum").num_chunks == 2
    results = dict(cleanse_days(days, FLIGHTS))
    for day, plain in ((d1, t1), (d2, twice), (d3, t3)):
        _same(results[day], cleanse(plain, FLIGHTS))
    assert results[d2].reasons.get("row:duplicate", 0) >= 1
    assert results[d2].quarantine.column("row_number").to_pylist()[-1] == twice.num_rows - 1


def test_judging_distinct_values_or_every_value_is_the_same(flight_days, monkeypatch):
    table = pa.concat_tables([t for _, t in flight_days])
    monkeypatch.setattr(rules, "DISTINCT_MIN_ROWS", 10**12)  # every value judged where it stands
    each = cleanse(table, FLIGHTS)
    monkeypatch.setattr(rules, "DISTINCT_MIN_ROWS", 1)  # every text column through its distinct values
    _same(cleanse(table, FLIGHTS), each)


def test_an_identical_row_on_two_days_is_no_duplicate_but_twice_in_one_day_is():
    spec = sensor_spec()
    day = sensor_readings(dt.date(2024, 3, 1), 1).slice(0, 5)
    twice = pa.concat_tables([day, day.slice(2, 1)])
    results = dict(cleanse_days([("2024-03-01", day), ("2024-03-02", day), ("2024-03-03", twice)], spec))
    assert [results[d].rows_quarantined for d in ("2024-03-01", "2024-03-02", "2024-03-03")] == [0, 0, 1]
    quarantined = results["2024-03-03"].quarantine
    assert quarantined.column("row_number").to_pylist() == [5]  # within its own day's extract
    assert quarantined.column("reasons").to_pylist() == ["row:duplicate"]


def test_days_whose_columns_differ_are_judged_each_against_its_own(flight_days):
    """A column renamed on one day (schema drift) neither fails the other days nor mixes with them."""
    (d1, t1), (d2, t2), (d3, t3) = flight_days[:3]
    renamed = t2.rename_columns(["departure_delay" if c == "dep_delay" else c for c in t2.column_names])
    assert [len(b) for b in batches([(d1, t1), (d2, renamed), (d3, t3)], 10**9)] == [1, 1, 1]
    results = dict(cleanse_days([(d1, t1), (d2, renamed), (d3, t3)], FLIGHTS))
    _same(results[d1], cleanse(t1, FLIGHTS))
    _same(results[d3], cleanse(t3, FLIGHTS))
    assert results[d2].rows_quarantined == renamed.num_rows
    assert results[d2].reasons["dep_delay:missing_column"] == renamed.num_rows


def test_a_value_first_seen_in_a_later_batch_is_judged_there():
    """The memo carries verdicts from batch to batch; a value it has not seen (an out-of-range delay,
    new garbage) is judged when it comes, and a value seen before keeps its verdict."""
    spec = _with_batch_rows(FLIGHTS, 1)
    flights = load_flights(dt.date(2013, 3, 5), dt.date(2013, 3, 7))
    days = list(split_by_day(flights, "flight_date", FLIGHTS.source.timezone).items())
    last_day, last = days[-1]
    delays = last.column("dep_delay").to_pylist()
    delays[0], delays[1], delays[2] = "99999", "12a", delays[5]  # new bad values, and an old good one
    days[-1] = (last_day, last.set_column(last.schema.get_field_index("dep_delay"), "dep_delay", pa.array(delays)))
    results = dict(cleanse_days(days, spec))
    assert results[last_day].reasons["dep_delay:out_of_range"] == 1
    assert results[last_day].reasons["dep_delay:not_a_number"] == 1
    assert results[last_day].quarantine.column("row_number").to_pylist()[:2] == [0, 1]
    for day, table in days:
        _same(results[day], cleanse(table, FLIGHTS))


def test_a_batch_never_holds_more_than_its_rows_unless_one_day_is_bigger(flight_days):
    sizes = [t.num_rows for _, t in flight_days]
    budget = max(sizes) + 10
    for batch in batches(flight_days, budget):
        assert sum(t.num_rows for _, t in batch) <= budget
    assert [len(b) for b in batches(flight_days, 1)] == [1] * len(flight_days)
    assert len(list(batches(flight_days, sum(sizes)))) == 1
