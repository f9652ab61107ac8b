"""What to do about a failed run, decided from plain facts about it (no Dagster here): which
partitions failed (and go to the ledger), which days of the range were only held back by another
day's failure (and continue past the failed step), and how relaunches are grouped and spaced.

A blocking check that fails on one day of a range run stops the whole step, though its other days
passed: only the days the check's own verdicts name as ERROR are failures; the others are
materialized and continue with the next steps. A step that fails part way (a DWH outage in the
third chunk) records the days it wrote; those continue, the rest failed.

The one place where relaunches are planned, for the recovery sensor (which asks Dagster for them as
asset backfills) and for ``batch-training rekick`` alike: a planned ``Backfill`` is one job's runs of
one attempt, each run over one contiguous range of days (``first``..``last``; Dagster's range tags)
selecting part of the job (``scope`` over ``assets``); the backfill's tags and
key say why it runs and for which ledger entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Container, Iterable
from dataclasses import dataclass

from batch_training.errors import DATA, GATE
from batch_training.operations import tags
from batch_training.operations.ledger_schema import ACTIVE
from batch_training.operations.tags import CONTINUATION, RECOVERY, REKICK

# What a planned run selects of its job: all of it, the named assets' steps and what depends on them,
# or only what depends on them (the steps a failure held back).
WHOLE_JOB, FROM_ASSETS, AFTER_ASSETS = "job", "from", "after"


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
    backfill_url: str = ""           # the backfill the run is part of, if any


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


def awaits_retry(run_tags: dict[str, str]) -> bool:
    """Dagster retries this failed run itself (a run retry): its failure is not final, nor recorded."""
    return run_tags.get(tags.WILL_RETRY) == "true"


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
class Continuation:
    """A run of the steps after ``after`` (a failed asset) for days of a failed range run that passed
    it: they only waited on another day's failure."""

    job: str
    after: str
    first: str
    last: str
    continues: str  # the failed run
    scope = AFTER_ASSETS

    @property
    def assets(self) -> tuple[str, ...]:
        return (self.after,)


@dataclass(frozen=True)
class Relaunch:
    """One run of a relaunch: a job, one contiguous range of days, the failed assets (with what depends
    on them), or the job from its first step when the fix is upstream (``from_start``: a data failure
    is fixed in the DWH and must be extracted again; a rejected model must be trained again)."""

    job: str
    assets: tuple[str, ...]
    first: str
    last: str
    ledger_ids: tuple[int, ...]
    attempt: int
    from_start: bool = False

    @property
    def scope(self) -> str:
        return WHOLE_JOB if self.from_start else FROM_ASSETS


def _ids_text(ids: tuple[int, ...]) -> str:
    """Ledger ids in a key: all of them while short, else the first, the count and a digest."""
    text = "-".join(map(str, ids))
    if len(text) <= 120:
        return text
    return f"{ids[0]}-n{len(ids)}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Backfill:
    """One backfill of a job: its runs (each over one contiguous range of days, as the assets'
    ``BackfillPolicy.single_run`` makes them), and the tags that the backfill and every run of it
    carry: why it runs, for which ledger entries, which attempt, and its key, by which a later tick
    finds that it exists (Dagster keeps no run key for a backfill a sensor asks for)."""

    job: str
    runs: tuple[Relaunch, ...] | tuple[Continuation, ...]
    trigger: str                 # RECOVERY, REKICK or CONTINUATION
    attempt: int = 0             # of a relaunch: 1 = first relaunch
    continues: str = ""          # of a continuation: the failed run

    @property
    def ledger_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i for run in self.runs for i in getattr(run, "ledger_ids", ())}))

    @property
    def days(self) -> tuple[str, ...]:
        return tuple(sorted({d for run in self.runs for d in run_days(run.first, run.last)}))

    @property
    def key(self) -> str:
        if self.trigger == CONTINUATION:
            after = "-".join(sorted({a for run in self.runs for a in run.assets}))
            return f"continue-{self.continues}-{after}"
        return f"{self.trigger}-{self.job}-a{self.attempt}-{_ids_text(self.ledger_ids)}"

    @property
    def tags(self) -> dict[str, str]:
        out = {tags.TRIGGER: self.trigger, tags.RELAUNCH: self.key}
        if self.trigger == CONTINUATION:
            return {**out, tags.CONTINUES: self.continues}
        return {**out, tags.LEDGER_IDS: ",".join(map(str, self.ledger_ids)), tags.ATTEMPT: str(self.attempt)}

    @property
    def title(self) -> str:
        """A short name (the UI's backfill title): trigger, job, attempt, how many days in what span."""
        what = f"attempt {self.attempt}" if self.trigger != CONTINUATION else f"after run {self.continues[:8]}"
        days = self.days
        span = days[0] if len(days) == 1 else f"{len(days)} days {days[0]}..{days[-1]}"
        return f"{self.trigger} {self.job} {what}: {span}"

    @property
    def description(self) -> str:
        ids = f" for ledger entries {', '.join(map(str, self.ledger_ids))}" if self.ledger_ids else ""
        return f"{self.trigger} of {self.job}{ids}: {days_text(self.days)}"


def run_days(first: str, last: str) -> list[str]:
    day, end, out = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        out.append(day.isoformat())
        day += dt.timedelta(days=1)
    return out


def plan_continuations(run: FailedRun, days: Iterable[str], run_tags: dict[str, str]) -> list[Backfill]:
    """The held-back days of a failed run's step as one backfill, a run per contiguous range; none
    for a run whose days were already continued in the process that ran it (tagged ``CONTINUED``)."""
    if run_tags.get(tags.CONTINUED) == "true":
        return []
    runs = tuple(Continuation(run.job, run.asset, first, last, run.run_id) for first, last in contiguous_ranges(days))
    return [Backfill(run.job, runs, CONTINUATION, continues=run.run_id)] if runs else []


def plan_relaunches(entries: Iterable, trigger: str = RECOVERY) -> list[Backfill]:
    """Ledger entries as backfills, one per job and attempt: each asset's failed days cut into
    contiguous ranges, one run each; assets that failed on exactly the same range (an outage of
    every table) share one run."""
    ranges: dict[tuple[str, bool, str, str], list] = {}
    by_asset: dict[tuple[str, bool, str], list] = {}
    for entry in entries:
        by_asset.setdefault((entry.job, entry.failure_class in (DATA, GATE), entry.asset), []).append(entry)
    for (job, from_start, _asset), group in by_asset.items():
        for first, last in contiguous_ranges(e.partition for e in group):
            ranges.setdefault((job, from_start, first, last), []).extend(
                e for e in group if first <= e.partition <= last)
    runs: dict[tuple[str, int], list[Relaunch]] = {}
    for (job, from_start, first, last), chunk in sorted(ranges.items()):
        attempt = max(e.attempts for e in chunk) + 1
        runs.setdefault((job, attempt), []).append(Relaunch(
            job, tuple(sorted({e.asset for e in chunk})), first, last, tuple(sorted(e.id for e in chunk)), attempt,
            from_start))
    return [Backfill(job, tuple(group), trigger, attempt) for (job, attempt), group in sorted(runs.items())]


def plan_due(entries: Iterable, budget: int, jobs: Container[str]) -> list[Backfill]:
    """The sensor's relaunches of due entries (``Ledger.due``): those within the attempt budget, of a
    job this code location has."""
    return plan_relaunches(e for e in entries if budget_left(e.attempts, budget) and e.job in jobs)


def plan_rekick(entries: Iterable) -> list[Backfill]:
    """An operator's relaunches of ledger entries, whatever their class and budget; only entries still
    failing (open or re-kicked) can be rekicked."""
    entries = list(entries)
    for entry in entries:
        if entry.status not in ACTIVE:
            raise ValueError(f"ledger entry {entry.id} is {entry.status}; only open entries can be rekicked")
    return plan_relaunches(entries, REKICK)


def by_relaunch_key(entries: Iterable) -> dict[str, list]:
    """Entries with a pending relaunch (``Ledger.pending``), grouped by the key of its request."""
    out: dict[str, list] = {}
    for entry in entries:
        out.setdefault(entry.relaunch_key, []).append(entry)
    return out


def resolves(entry, run_id: str, at: float, failed_at: float) -> bool:
    """Whether the partition's latest materialization (by ``run_id`` at ``at``, a POSIX time) resolves
    the entry, once that run is seen to have succeeded: it came after the latest failure (started at
    ``failed_at``) and is not one of the failed runs (a materialization a failing check then blocked
    belongs to a failed run)."""
    return run_id not in entry.failed_runs and at > failed_at
