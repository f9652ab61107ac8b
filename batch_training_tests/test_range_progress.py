"""Which days of a range run carry their written column schema (``defs.days.RangeProgress``)."""

import dagster as dg

from batch_training.defs.days import RangeProgress

KEY = dg.AssetKey(["t", "raw"])
A = dg.TableSchema(columns=[dg.TableColumn("x", "int64")])
B = dg.TableSchema(columns=[dg.TableColumn("x", "string")])


def carried(progress: RangeProgress) -> dict[str, dg.TableSchema]:
    return {m.partition: m.metadata["dagster/column_schema"].value for m in progress.partial()
            if "dagster/column_schema" in m.metadata}


def test_first_last_and_every_change_carry_the_columns():
    progress = RangeProgress()
    for day, columns in [("d1", A), ("d2", A), ("d3", B), ("d4", B), ("d5", A), ("d6", A), ("d7", A)]:
        progress.record(KEY, day, {"rows": 1}, columns=columns)
    # a change, and a change back, each carried; the last day always (the page's latest columns)
    assert carried(progress) == {"d1": A, "d3": B, "d5": A, "d7": A}
    # every day keeps its own metadata, carried or not
    assert all(m.metadata["rows"].value == 1 and m.metadata["partial_run"].value for m in progress.partial())


def test_a_run_that_stops_part_way_carries_the_columns_on_its_last_written_day():
    progress = RangeProgress()
    for day in ("d1", "d2", "d3"):
        progress.record(KEY, day, {}, columns=A)
    assert set(carried(progress)) == {"d1", "d3"}
    progress.record(KEY, "d4", {}, columns=A)
    assert set(carried(progress)) == {"d1", "d4"}


def test_each_asset_is_followed_on_its_own_and_days_without_columns_carry_none():
    other = dg.AssetKey(["t", "quarantine"])
    progress = RangeProgress()
    progress.record(KEY, "d1", {}, columns=A)
    progress.record(other, "d1", {})
    progress.record(KEY, "d2", {}, columns=A)
    progress.record(other, "d2", {})
    by_asset = {}
    for m in progress.partial():
        by_asset.setdefault(m.asset_key, []).append("dagster/column_schema" in m.metadata)
    assert by_asset == {KEY: [True, True], other: [False, False]}
