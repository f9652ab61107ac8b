"""Planning relaunches of failed partitions: contiguous ranges, backoff, attempt budget. No Dagster here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


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


def next_attempt_at(now: dt.datetime, attempts_so_far: int, backoff_s: float) -> dt.datetime:
    """Relaunch n (n = attempts_so_far + 1) waits backoff * 2**(n-1) after the failure."""
    return now + dt.timedelta(seconds=backoff_s * (2 ** attempts_so_far))


def budget_left(attempts: int, budget: int) -> bool:
    return attempts < budget
