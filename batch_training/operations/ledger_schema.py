"""What the failure ledger holds: its table (SQLAlchemy Core), beside the registry's tables in the same
database, and its entries (``Failure``).

It is declared on the registry's ``MetaData``, so ``Database.ensure_schema`` creates it on first use
with the registry's tables, under the same schema lock: nothing here duplicates the set-up.

"One entry per failing partition" lives in the database as a partial unique index over the entries
that are still open or re-kicked, so two sensors recording the same partition at once cannot both
insert; the ledger's locking only decides who waits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batch_training.errors import FAILURE_CLASSES
from batch_training.registry.schema import metadata
from batch_training.registry.values import utc

OPEN, REKICKED, RESOLVED, IGNORED = "open", "rekicked", "resolved", "ignored"
STATUSES = (OPEN, REKICKED, RESOLVED, IGNORED)
ACTIVE = (OPEN, REKICKED)  # still failing: at most one such entry per (spec, asset, partition)

MAX_ERROR_CHARS = 2000


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


failures = sa.Table(
    "failure_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("spec", sa.String(200), nullable=False),
    sa.Column("job", sa.String(400), nullable=False),
    sa.Column("asset", sa.String(400), nullable=False),
    sa.Column("partition_key", sa.String(400), nullable=False),  # "" for an unpartitioned asset
    sa.Column("failure_class", sa.String(20), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),  # the run of the latest recorded failure
    sa.Column("log_ref", sa.Text, nullable=False),  # where that run's log is
    # every run whose failure of this partition was recorded here, oldest first (idempotency)
    sa.Column("failed_runs", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),  # relaunches so far
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("last_run_id", sa.String(200)),  # the latest run that touched it: a relaunch, a failure, a success
    # a relaunch requested but not yet seen to exist: its request key and when it was asked for
    sa.Column("relaunch_key", sa.String(400)),
    sa.Column("relaunch_requested_at", sa.DateTime(timezone=True)),
    sa.Column("backfill_id", sa.String(200)),  # the latest backfill that relaunched it
    sa.CheckConstraint(f"status IN ({_one_of(STATUSES)})", name="ck_failure_ledger_status"),
    sa.CheckConstraint(f"failure_class IN ({_one_of(FAILURE_CLASSES)})", name="ck_failure_ledger_class"),
    sa.CheckConstraint("attempts >= 0", name="ck_failure_ledger_attempts"),
    sa.Index("ix_failure_ledger_partition", "spec", "asset", "partition_key"),
    sa.Index("ix_failure_ledger_status", "status", "next_attempt_at"),
)

_active = failures.c.status.in_(ACTIVE)
sa.Index(
    "uq_failure_ledger_one_active",
    failures.c.spec, failures.c.asset, failures.c.partition_key,
    unique=True,
    sqlite_where=_active,
    postgresql_where=_active,
)


@dataclass(frozen=True)
class Failure:
    """One ledger entry. Timestamps are UTC; ``partition`` is ``""`` for an unpartitioned asset."""

    id: int
    spec: str
    job: str
    asset: str
    partition: str
    failure_class: str
    error: str  # one paragraph, at most MAX_ERROR_CHARS
    run_id: str  # the run of the latest recorded failure
    log_ref: str  # where that run's log is, e.g. "dagster run <id> (UI: <base>/runs/<id>)"
    attempts: int  # relaunches so far
    status: str
    reason: str | None  # why it was resolved or ignored
    created_at: dt.datetime
    updated_at: dt.datetime
    next_attempt_at: dt.datetime | None
    last_run_id: str | None  # the latest run that touched it: a relaunch, a failure or the success
    failed_runs: tuple[str, ...] = ()  # every failing run recorded, oldest first
    relaunch_key: str | None = None  # a relaunch requested, not yet seen to exist
    relaunch_requested_at: dt.datetime | None = None
    backfill_id: str | None = None  # the latest backfill that relaunched it

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: times as ISO strings."""
        out = dataclasses.asdict(self)
        for name in ("created_at", "updated_at", "next_attempt_at", "relaunch_requested_at"):
            out[name] = out[name].isoformat() if out[name] is not None else None
        out["failed_runs"] = list(self.failed_runs)
        return out


def from_row(row: Any) -> Failure:
    m = row._mapping
    return Failure(
        id=m["id"], spec=m["spec"], job=m["job"], asset=m["asset"], partition=m["partition_key"],
        failure_class=m["failure_class"], error=m["error"], run_id=m["run_id"], log_ref=m["log_ref"],
        attempts=m["attempts"], status=m["status"], reason=m["reason"], created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
        next_attempt_at=utc(m["next_attempt_at"]) if m["next_attempt_at"] is not None else None,
        last_run_id=m["last_run_id"], failed_runs=tuple(m["failed_runs"] or ()),
        relaunch_key=m["relaunch_key"],
        relaunch_requested_at=utc(m["relaunch_requested_at"]) if m["relaunch_requested_at"] is not None else None,
        backfill_id=m["backfill_id"],
    )
