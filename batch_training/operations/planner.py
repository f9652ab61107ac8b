"""What to do about a failed run, decided from plain facts about it (no Dagster here): which
partitions failed (and go to the ledger), which days of the range were only held back by another
day's failure (and continue past the failed step), and how relaunches are grouped and spaced.

A blocking check that fails on one day of a range run stops the whole step, though its other days
passed: only the days the check's own verdicts name as ERROR are failures; the others are
materialized and continue with the next steps. A step that fails part way (a DWH outage in the
third chunk) records the days it wrote; those continue, the rest failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from batch_training.errors import DATA, GATE


@dataclass(frozen=True)
class FailedRun:
    """What the run store says about one failed run, reduced to what the decisions need."""

    run_id: str
    spec: str
    job: str
    asset: str                       # the asset of the first step that failed ("spec/raw")
    planned: tuple[str, ...]         # the partitions the run was for
    materialized: frozenset[str]     # the partitions of ``asset`` the run materialized
    failure_class: str
    error: str                       # one paragraph, no secrets
    hint: str = ""                   # what an operator should do, when the error's type says
    check_errors: dict[str, str] | None = None  # day -> cause, from blocking checks failed with ERROR
    later_steps: tuple[str, ...] = ()  # assets after ``asset`` in the job (what the failure held back)
    run_url: str = ""


@dataclass(frozen=True)
class FailurePlan:
    failed: tuple[str, ...]      # partitions to record in the ledger
    continue_days: tuple[str, ...] = ()  # partitions to run again from the step after the failed one


def plan_failure(run: FailedRun) -> FailurePlan:
    planned = sorted(set(run.planned))
    if run.failure_class in (DATA, GATE) and run.check_errors is not None:
        # a blocking check: the asset is materialized for every day; its verdicts name the failing ones
        # (a verdict that names no day of this run, e.g. of a one-day run, fails the run's days)
        failed = [day for day in planned if day in run.check_errors] or planned
        done = [day for day in planned if day not in failed]
    else:
        failed = [day for day in planned if day not in run.materialized]
        done = [day for day in planned if day in run.materialized]
    return FailurePlan(tuple(failed), tuple(done) if run.later_steps else ())


def contiguous_ranges(days: Iterable[str]) -> list[tuple[str, str]]:
    """ISO days grouped into (first, last) runs of consecutive days, in order."""
    ordered = sorted({dt.date.fromisoformat(d) for d in days})
    ranges: list[tuple[str, str]] = []
    for day in ordered:
        if ranges and dt.date.fromisoformat(ranges[-1][1]) + dt.timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day.isoformat())
        else:
            ranges.append((day.isoformat(), day.isoformat()))
    return ranges


def days_text(days: Iterable[str]) -> str:
    """``2013-01-01..2013-01-03, 2013-01-05``"""
    return ", ".join(a if a == b else f"{a}..{b}" for a, b in contiguous_ranges(days))


def next_attempt_at(now: dt.datetime, attempts_so_far: int, backoff_s: float) -> dt.datetime:
    """Relaunch n (n = attempts_so_far + 1) waits backoff * 2**(n-1) after the failure."""
    return now + dt.timedelta(seconds=backoff_s * (2 ** attempts_so_far))


def budget_left(attempts: int, budget: int) -> bool:
    return attempts < budget


@dataclass(frozen=True)
class Relaunch:
    """One relaunch: a job, one contiguous range of days, the failed assets (with what depends on
    them), or the job from its first step when the fix is upstream (``from_start``: a data failure
    is fixed in the DWH and must be extracted again; a rejected model must be trained again)."""

    job: str
    assets: tuple[str, ...]
    first: str
    last: str
    ledger_ids: tuple[int, ...]
    attempt: int
    from_start: bool = False
    key: str = field(init=False)

    def __post_init__(self) -> None:
        ids = "-".join(map(str, self.ledger_ids))
        object.__setattr__(self, "key", f"recovery-{self.job}-{self.first}-{self.last}-{ids}-a{self.attempt}")


def plan_relaunches(entries: Iterable) -> list[Relaunch]:
    """Due ledger entries as relaunches: per job, each asset's failed days cut into contiguous
    ranges; assets that failed on exactly the same range (an outage of every table) share one run."""
    ranges: dict[tuple[str, bool, str, str], list] = {}
    by_asset: dict[tuple[str, bool, str], list] = {}
    for entry in entries:
        by_asset.setdefault((entry.job, entry.failure_class in (DATA, GATE), entry.asset), []).append(entry)
    for (job, from_start, asset), group in by_asset.items():
        for first, last in contiguous_ranges(e.partition for e in group):
            ranges.setdefault((job, from_start, first, last), []).extend(
                e for e in group if first <= e.partition <= last)
    out = []
    for (job, from_start, first, last), chunk in sorted(ranges.items()):
        out.append(Relaunch(job, tuple(sorted({e.asset for e in chunk})), first, last,
                            tuple(sorted(e.id for e in chunk)), max(e.attempts for e in chunk) + 1, from_start))
    return out
