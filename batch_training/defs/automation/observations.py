"""The failure ledger where operators look: every ledger change (recorded, relaunched, resolved,
ignored) also becomes an asset observation on the entry's asset partition, so the UI shows on the
partition itself its ledger id, class, attempts and status, and links the backfill relaunching it.

``observed(book, instance)`` hooks a ledger; the changes of one block (a sensor tick, a CLI command)
are written when it ends, each entry once per kind of change with its final state (a failure that
is recorded and then given its next attempt is one observation). Writing them never stops recovery:
an observation that cannot be written is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from batch_training.operations.ledger import Ledger
from batch_training.operations.ledger_schema import Failure

_log = logging.getLogger(__name__)


def observation(change: str, entry: Failure, ui_url: str | None = None) -> dg.AssetObservation:
    """What one ledger change says on its asset partition."""
    metadata: dict = {
        "ledger_id": entry.id, "ledger_status": entry.status, "ledger_change": change,
        "failure_class": entry.failure_class, "attempts": entry.attempts, "job": entry.job,
        "error": entry.error[:500], "failed_run": entry.run_id,
    }
    if entry.next_attempt_at is not None and entry.status == "open":
        metadata["next_attempt_at"] = entry.next_attempt_at.isoformat()
    if entry.reason:
        metadata["reason"] = entry.reason
    if entry.backfill_id:
        metadata["backfill_id"] = entry.backfill_id
        if ui_url:
            metadata["backfill"] = dg.MetadataValue.url(backfill_url(ui_url, entry.backfill_id))
    return dg.AssetObservation(
        asset_key=dg.AssetKey.from_user_string(entry.asset), partition=entry.partition or None,
        description=f"failure ledger #{entry.id} {entry.status} ({change}): {entry.failure_class} failure, "
                    f"{entry.attempts} relaunch(es)", metadata=metadata)


def backfill_url(ui_url: str, backfill_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/b/{backfill_id}"


@contextmanager
def observed(book: Ledger, instance: dg.DagsterInstance, log=None, ui_url: str | None = None) -> Iterator[Ledger]:
    """The ledger with its changes observed on their partitions; closed at the end."""
    changes: dict[tuple[int, str], Failure] = {}

    def hear(change: str, entries: list[Failure]) -> None:
        for entry in entries:
            changes.pop((entry.id, change), None)
            changes[(entry.id, change)] = entry

    book.on_change = hear
    try:
        with book:
            yield book
    finally:
        book.on_change = None
        for (_, change), entry in changes.items():
            try:
                instance.report_runless_asset_event(observation(change, entry, ui_url))
            except Exception as exc:  # the ledger holds the truth; a missing observation is only logged
                (log or _log).warning(f"ledger #{entry.id} {change}: observation not written ({type(exc).__name__}: {exc})")
