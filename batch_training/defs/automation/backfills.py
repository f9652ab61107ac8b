"""Asset backfills of exactly the failed partitions: the one place that uses Dagster's private
backfill API, pinned to Dagster 1.13 (``test_backfills.py`` fails loudly on another version).

Dagster 1.13 has no public way for a sensor to ask for a backfill. A ``RunRequest`` made by the
private ``RunRequest.for_asset_graph_subset`` becomes one when the sensor is declared with
``asset_selection=`` (the daemon then adds a ``PartitionBackfill``, launching its runs as the
assets' ``BackfillPolicy`` says: one run per contiguous range here). Such a request carries no run
key, so what deduplicates a request is the backfill's own key tag (``tags.RELAUNCH``), which
``find`` looks up. When the public ``RunRequest.for_asset_partition_range`` lands (dagster-io/dagster
PR #34096), ``request`` is the function to change; the README says how.

Outside a sensor, ``submit`` adds the same backfill for the daemon to run, and ``InProcessBackfill``
records one whose runs this process executes itself (the CLI without a daemon, and the tests' stand-in
for it), finishing its record with what materialized, so the UI's Backfills tab shows it the same way.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id

from batch_training.operations import tags

PINNED = "1.13."  # the Dagster minor version these private calls were checked against

# The daemon that runs backfills heartbeats every 30 s or so; older than this, none is running.
_DAEMON_FRESH_S = 90.0


def target(asset_graph, parts: Iterable[tuple[Iterable[dg.AssetKey], Iterable[str]]]) -> AssetGraphSubset:
    """Asset partitions as Dagster's subset: for each part, every one of its keys on every one of its days."""
    wanted = {AssetKeyPartitionKey(key, day) for keys, days in parts for key in keys for day in days}
    return AssetGraphSubset.from_asset_partition_set(wanted, asset_graph)


def request(subset: AssetGraphSubset, run_tags: dict[str, str]) -> dg.RunRequest:
    """A sensor's request for a backfill of ``subset``, its runs carrying ``run_tags``."""
    return dg.RunRequest.for_asset_graph_subset(subset, run_tags)


def _title(text: str) -> str:
    """A title Dagster accepts: at most 100 characters, none of % * "."""
    text = re.sub(r'[%*"]', "", text)
    return text if len(text) <= 100 else text[:99] + "…"


def _record(instance: dg.DagsterInstance, subset: AssetGraphSubset, run_tags: dict[str, str], title: str,
            description: str | None) -> PartitionBackfill:
    return PartitionBackfill.from_asset_graph_subset(
        backfill_id=make_new_backfill_id(), backfill_timestamp=time.time(), tags=run_tags,
        dynamic_partitions_store=instance, asset_graph_subset=subset, title=_title(title), description=description,
        run_config=None)


def submit(instance: dg.DagsterInstance, subset: AssetGraphSubset, run_tags: dict[str, str], title: str,
           description: str | None = None) -> str:
    """Add a backfill for the daemon to run, as the sensor daemon does with a ``request``; its id."""
    backfill = _record(instance, subset, run_tags, title, description)
    instance.add_backfill(backfill)
    return backfill.backfill_id


def find(instance: dg.DagsterInstance, key: str, since: dt.datetime) -> PartitionBackfill | None:
    """The backfill made since ``since`` that carries this key (``tags.RELAUNCH``), if any.

    Not Dagster's tag filter: on a storage whose backfill-tags index is not built, that filter finds a
    backfill only through its runs, so one not yet started would be asked for twice."""
    since = since - dt.timedelta(minutes=1)  # clocks of the daemon and of the database may differ a little
    for backfill in instance.get_backfills(filters=BulkActionsFilter(created_after=since)):
        if backfill.tags.get(tags.RELAUNCH) == key:
            return backfill
    return None


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon that runs backfills has heartbeaten lately."""
    beat = instance.get_daemon_heartbeats().get("BACKFILL")
    return beat is not None and time.time() - beat.timestamp < _DAEMON_FRESH_S


def run_tags_of(backfill_id: str) -> dict[str, str]:
    """The tag that makes a run part of a backfill (the daemon's runs carry it too)."""
    return {BACKFILL_ID_TAG: backfill_id}


def runs_of(subset: AssetGraphSubset, asset_graph) -> list[tuple[list[dg.AssetKey], str, str]]:
    """The runs the daemon makes of a backfill of single-run assets: the assets that target the same
    days together, one run per contiguous range of those days; ``(keys, first, last)`` in order."""
    groups: dict[tuple[str, tuple[str, ...]], list[dg.AssetKey]] = {}
    for key, partitions in subset.partitions_subsets_by_asset_key.items():
        days = tuple(sorted(partitions.get_partition_keys()))
        groups.setdefault((repr(asset_graph.get(key).partitions_def), days), []).append(key)
    out = []
    for (_, _days), keys in groups.items():
        partitions_def = asset_graph.get(keys[0]).partitions_def
        for found in subset.get_partitions_subset(keys[0]).get_partition_key_ranges(partitions_def):
            out.append((sorted(keys, key=lambda k: k.to_user_string()), found.start, found.end))
    return sorted(out, key=lambda run: (run[1], [k.to_user_string() for k in run[0]]))


@dataclass
class BackfillSummary:
    backfill_id: str
    status: str                      # Dagster's: COMPLETED_SUCCESS, COMPLETED_FAILED, or REQUESTED (the daemon's)
    results: list = field(default_factory=list)  # the runs executed here (none when the daemon runs it)
    ledger_ids: tuple[int, ...] = ()

    @property
    def success(self) -> bool | None:
        """True or False once run here; None while the daemon runs it."""
        return None if self.status == "REQUESTED" else self.status == "COMPLETED_SUCCESS"


class InProcessBackfill:
    """A backfill whose runs this process executes: recorded as all requested (so a daemon started
    meanwhile only watches it, launching nothing), then finished with what its runs materialized."""

    def __init__(self, instance: dg.DagsterInstance, asset_graph, subset: AssetGraphSubset,
                 run_tags: dict[str, str], title: str, description: str | None = None):
        self.instance, self.asset_graph, self.subset = instance, asset_graph, subset
        record = _record(instance, subset, run_tags, title, description)
        data = record.get_asset_backfill_data(asset_graph)
        data = data._replace(requested_subset=subset, requested_runs_for_target_roots=True)
        record = record.with_asset_backfill_data(data, dynamic_partitions_store=instance, asset_graph=asset_graph)
        instance.add_backfill(record)
        self.backfill_id = record.backfill_id

    def run(self, execute) -> BackfillSummary:
        """Execute the backfill's runs (``runs_of``) with ``execute(keys, run_tags)``, which returns an
        in-process result (the range is in the tags, as in the daemon's runs); then finish the record."""
        record = self.instance.get_backfill(self.backfill_id)
        assert record is not None, f"backfill {self.backfill_id} vanished"
        results, made = [], []
        for keys, first, last in runs_of(self.subset, self.asset_graph):
            # as the daemon does for single-run assets: range tags, one day too
            run_tags = {**record.tags, **run_tags_of(self.backfill_id), tags.RANGE_START: first, tags.RANGE_END: last}
            result = execute(keys, run_tags)
            results.append(result)
            made += [(m.asset_key, m.partition) for m in (e.event_specific_data.materialization
                                                           for e in result.get_asset_materialization_events())]
        return BackfillSummary(self.backfill_id, self.finish(made), results)

    def finish(self, materialized: Iterable[tuple[dg.AssetKey, str]]) -> str:
        """Record what materialized (the rest of the target failed); the backfill's final status."""
        done = {AssetKeyPartitionKey(key, day) for key, day in materialized}
        wanted = set(self.subset.iterate_asset_partitions())
        made = AssetGraphSubset.from_asset_partition_set(done & wanted, self.asset_graph)
        failed = AssetGraphSubset.from_asset_partition_set(wanted - done, self.asset_graph)
        record = self.instance.get_backfill(self.backfill_id)
        assert record is not None, f"backfill {self.backfill_id} vanished"
        data = record.get_asset_backfill_data(self.asset_graph)
        data = data._replace(materialized_subset=made, failed_and_downstream_subset=failed)
        final = BulkActionStatus.COMPLETED_SUCCESS if done >= wanted else BulkActionStatus.COMPLETED_FAILED
        record = record.with_asset_backfill_data(data, dynamic_partitions_store=self.instance,
                                                 asset_graph=self.asset_graph)
        self.instance.update_backfill(record.with_status(final).with_end_timestamp(time.time()))
        return final.value
