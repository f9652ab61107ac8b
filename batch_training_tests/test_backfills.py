"""The backfill adapter, pinned to the Dagster version whose private API it uses, on small assets
with an ephemeral instance; and the planner's grouping of relaunches into backfills (no Dagster)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from batch_training.defs.automation import backfills
from batch_training.defs.automation.observations import observed
from batch_training.operations import tags
from batch_training.operations.ledger import Ledger
from batch_training.operations.planner import plan_relaunches

DAYS = dg.DailyPartitionsDefinition(start_date="2013-03-01", end_date="2013-03-10")
OTHER = dg.DailyPartitionsDefinition(start_date="2013-02-01", end_date="2013-03-10")
BROKEN = {"2013-03-04"}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def up(context) -> None:
    bad = BROKEN & set(context.partition_keys)
    if bad:
        raise RuntimeError(f"broken day {sorted(bad)}")


@dg.asset(partitions_def=DAYS, deps=[up], backfill_policy=dg.BackfillPolicy.single_run())
def down() -> None:
    pass


@dg.asset(partitions_def=OTHER)
def elsewhere() -> None:
    pass


def _probe_sensor(subset_of):
    @dg.sensor(name="probe", asset_selection=dg.AssetSelection.assets(up, down, elsewhere))
    def probe(context):
        return dg.SensorResult(run_requests=[backfills.request(subset_of(context.repository_def.asset_graph),
                                                               {tags.RELAUNCH: "k1"})])
    return probe


DEFS = dg.Definitions(assets=[up, down, elsewhere])
GRAPH = DEFS.resolve_asset_graph()


def test_dagster_is_the_version_the_private_backfill_api_was_checked_against():
    # On another version: check RunRequest.for_asset_graph_subset, PartitionBackfill.from_asset_graph_subset
    # and AssetBackfillData's fields still exist and behave as these tests say, or switch `request` to the
    # public RunRequest.for_asset_partition_range (dagster-io/dagster PR #34096); then move PINNED.
    assert dg.__version__.startswith(backfills.PINNED), (
        f"Dagster {dg.__version__}: batch_training.defs.automation.backfills was checked on {backfills.PINNED}x")


def test_a_sensor_with_an_asset_selection_asks_for_a_backfill_of_exactly_the_subset():
    subset_of = lambda graph: backfills.target(graph, [([up.key, down.key], ["2013-03-02", "2013-03-03"])])  # noqa: E731
    defs = dg.Definitions(assets=[up, down, elsewhere], sensors=[_probe_sensor(subset_of)])
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), definitions=defs)
    [request] = defs.get_sensor_def("probe").evaluate_tick(context).run_requests
    assert request.requires_backfill_daemon() and request.run_key is None  # no run key: we dedupe by tag
    assert request.tags[tags.RELAUNCH] == "k1" and request.tags["dagster/sensor_name"] == "probe"
    subset = request.asset_graph_subset
    assert {k: sorted(subset.get_partitions_subset(k).get_partition_keys()) for k in subset.asset_keys} == {
        up.key: ["2013-03-02", "2013-03-03"], down.key: ["2013-03-02", "2013-03-03"]}


def test_runs_of_a_backfill_are_one_per_contiguous_range_and_partitioning():
    subset = backfills.target(GRAPH, [([up.key, down.key], ["2013-03-01", "2013-03-02", "2013-03-05"]),
                                      ([elsewhere.key], ["2013-02-27", "2013-02-28"])])
    assert backfills.runs_of(subset, GRAPH) == [
        ([elsewhere.key], "2013-02-27", "2013-02-28"),
        ([down.key, up.key], "2013-03-01", "2013-03-02"),
        ([down.key, up.key], "2013-03-05", "2013-03-05")]


def test_a_submitted_backfill_waits_for_the_daemon_and_is_found_by_its_key():
    instance = dg.DagsterInstance.ephemeral()
    subset = backfills.target(GRAPH, [([up.key], ["2013-03-02"])])
    backfill_id = backfills.submit(instance, subset, {tags.RELAUNCH: "rekick-x-a1-7", tags.TRIGGER: "rekick"},
                                   title='a "title" with 100% * odd characters ' + "x" * 200)
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    found = backfills.find(instance, "rekick-x-a1-7", since)
    assert found is not None and found.backfill_id == backfill_id
    assert found.status.value == "REQUESTED" and found.tags[tags.TRIGGER] == "rekick"
    assert len(found.title) == 100 and not set('%*"') & set(found.title)
    assert backfills.find(instance, "rekick-x-a1-8", since) is None
    assert backfills.find(instance, "rekick-x-a1-7", since + dt.timedelta(minutes=10)) is None  # made earlier
    assert not backfills.daemon_running(instance)  # no daemon heartbeats on an ephemeral instance


def _statuses(instance, backfill_id):
    record = instance.get_backfill(backfill_id)
    out = {}
    for status in record.get_asset_backfill_data(GRAPH).get_backfill_status_per_asset_key(GRAPH):
        counts = {k.value: v for k, v in status.partitions_counts_by_status.items() if v}
        out[status.asset_key.path[-1]] = (status.num_targeted_partitions, counts)
    return out


def test_an_in_process_backfill_runs_each_range_and_records_what_materialized_and_what_failed():
    instance = dg.DagsterInstance.ephemeral()
    days = ["2013-03-02", "2013-03-03", "2013-03-04", "2013-03-06"]
    subset = backfills.target(GRAPH, [([up.key, down.key], days)])
    record = backfills.InProcessBackfill(instance, GRAPH, subset, {tags.TRIGGER: "rekick"}, title="test")
    assert instance.get_backfill(record.backfill_id).status.value == "REQUESTED"
    job = DEFS.resolve_implicit_global_asset_job_def()

    def execute(keys, run_tags):
        return job.execute_in_process(instance=instance, asset_selection=keys, tags=run_tags, raise_on_error=False)

    done = record.run(execute)
    status, results = done.status, done.results
    assert status == "COMPLETED_FAILED"
    runs = [(r.dagster_run.tags["dagster/asset_partition_range_start"], r.dagster_run.tags["dagster/asset_partition_range_end"],
             r.success) for r in results]
    assert runs == [("2013-03-02", "2013-03-04", False), ("2013-03-06", "2013-03-06", True)]  # 04 is broken
    assert all(r.dagster_run.tags["dagster/backfill"] == record.backfill_id and
               r.dagster_run.tags[tags.TRIGGER] == "rekick" for r in results)
    # what the UI's Backfills tab shows per asset: targeted, then materialized and failed partitions
    assert _statuses(instance, record.backfill_id) == {
        "up": (4, {"MATERIALIZED": 1, "FAILED": 3}), "down": (4, {"MATERIALIZED": 1, "FAILED": 3})}
    assert instance.get_backfill(record.backfill_id).backfill_end_timestamp is not None


def test_ledger_changes_land_on_their_partitions_once_per_change(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with observed(Ledger(url), instance, ui_url="http://ui:3000") as book:
        entry, _ = book.record(spec="s", job="j", asset="up", partition="2013-03-04", failure_class="transient",
                               error="refused", run_id="r1", log_ref="dagster run r1")
        book.reopen(entry.id, "refused", "r1", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))  # one change
        book.mark_rekicked([entry.id], "bf1", backfill_id="bf1")
        book.resolve(spec="s", asset="up", partition="2013-03-04", run_id="r2")
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=up.key, asset_partitions=["2013-03-04"]),
                                          limit=10, ascending=True).records
    meta = [{k: v.value for k, v in r.asset_observation.metadata.items()} for r in records]
    assert [(m["ledger_change"], m["ledger_status"], m["attempts"]) for m in meta] == [
        ("recorded", "open", 0), ("relaunched", "rekicked", 1), ("resolved", "resolved", 1)]
    assert meta[0]["next_attempt_at"].startswith("2030-01-01") and meta[0]["failure_class"] == "transient"
    assert meta[1]["backfill"] == "http://ui:3000/runs/b/bf1"
    assert all(m["ledger_id"] == entry.id for m in meta)


def test_an_observation_that_cannot_be_written_never_undoes_the_ledger_change(tmp_path):
    class Broken:
        def report_runless_asset_event(self, event):
            raise OSError("event log is down")

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with observed(Ledger(url), Broken()) as book:  # type: ignore[arg-type]
        entry, _ = book.record(spec="s", job="j", asset="up", partition="2013-03-04", failure_class="data",
                               error="bad", run_id="r1", log_ref="dagster run r1")
    with Ledger(url) as book:
        assert book.get(entry.id).status == "open"


class _Entry:
    def __init__(self, id, job, asset, partition, attempts=0, failure_class="transient"):
        self.id, self.job, self.asset, self.partition = id, job, asset, partition
        self.attempts, self.failure_class, self.status = attempts, failure_class, "open"


def test_relaunches_are_one_backfill_per_job_and_attempt_with_a_run_per_range():
    entries = [_Entry(1, "ingest", "s/raw", "2013-03-01"), _Entry(2, "ingest", "s/raw", "2013-03-02"),
               _Entry(3, "ingest", "s/raw", "2013-03-05"), _Entry(4, "ingest", "s/weather/raw", "2013-03-05"),
               _Entry(5, "ingest", "s/raw", "2013-03-09", attempts=1), _Entry(6, "train", "s/model", "2013-03-09")]
    planned = plan_relaunches(entries)
    assert [(b.job, b.attempt, b.ledger_ids) for b in planned] == [
        ("ingest", 1, (1, 2, 3, 4)), ("ingest", 2, (5,)), ("train", 1, (6,))]
    first = planned[0]
    assert [(r.assets, r.first, r.last) for r in first.runs] == [
        (("s/raw",), "2013-03-01", "2013-03-02"), (("s/raw", "s/weather/raw"), "2013-03-05", "2013-03-05")]
    assert first.tags == {tags.TRIGGER: "recovery", tags.RELAUNCH: first.key, tags.LEDGER_IDS: "1,2,3,4",
                          tags.ATTEMPT: "1"}
    assert first.title == "recovery ingest attempt 1: 3 days 2013-03-01..2013-03-05"
    assert first.description == "recovery of ingest for ledger entries 1, 2, 3, 4: 2013-03-01..2013-03-02, 2013-03-05"


@pytest.mark.parametrize("count", [1, 40, 800])
def test_a_backfill_key_stays_short_and_distinct_however_many_entries(count):
    entries = [_Entry(i + 1, "ingest", "s/raw", (dt.date(2012, 1, 1) + dt.timedelta(days=i)).isoformat())
               for i in range(count)]
    [planned] = plan_relaunches(entries)
    [fewer] = plan_relaunches(entries[:-1]) if count > 1 else [None]
    assert len(planned.key) <= 200
    assert fewer is None or fewer.key != planned.key
    assert planned.tags[tags.LEDGER_IDS].split(",") == [str(i + 1) for i in range(count)]
