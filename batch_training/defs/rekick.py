"""``batch-training rekick``: an operator's relaunch of ledger entries, as the same kind of asset
backfill the recovery sensor makes (one per job and attempt, a run per contiguous range, from the
failed asset on; a data or gate failure from the job's first step)."""

from __future__ import annotations

import dagster as dg

from batch_training.defs.automation import backfills
from batch_training.defs.runner import LocalRunner
from batch_training.operations.ledger import Ledger
from batch_training.operations.planner import plan_rekick


def rekick(runner: LocalRunner, ids: list[int]) -> list[backfills.BackfillSummary]:
    """Relaunch the partitions of these ledger entries: through the daemon when one runs (the entries
    are re-kicked now and resolved by the sensor later), else in this process (resolved at once when
    the runs succeed, recorded again when they fail)."""
    out = []
    with runner.ledger() as book:
        entries = [book.get(i) for i in ids]
        for planned in plan_rekick(entries):
            if backfills.daemon_running(runner.instance):
                backfill_id = backfills.submit(runner.instance, runner.backfill_target(planned),
                                               runner.by_job[planned.job].backfill_tags(planned), planned.title,
                                               planned.description)
                done = backfills.BackfillSummary(backfill_id, "REQUESTED")
            else:
                done = runner.backfill(planned)
            done.ledger_ids = planned.ledger_ids
            book.mark_rekicked(list(planned.ledger_ids), done.backfill_id, backfill_id=done.backfill_id)
            for result in done.results:
                if result.success:
                    _resolve_made(book, entries, planned.ledger_ids, result)
            out.append(done)
    for done in out:
        for result in done.results:
            if not result.success:
                runner.record(result.run_id)
    return out


def _resolve_made(book: Ledger, entries: list, ids: tuple[int, ...], result: dg.ExecuteInProcessResult) -> None:
    """The entries whose partition this successful run materialized are resolved."""
    made = {(e.event_specific_data.materialization.asset_key.to_user_string(), e.event_specific_data.materialization.partition)
            for e in result.get_asset_materialization_events()}
    for entry in entries:
        if entry.id in ids and (entry.asset, entry.partition) in made:
            book.resolve(spec=entry.spec, asset=entry.asset, partition=entry.partition, run_id=result.run_id)
