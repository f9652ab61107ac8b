"""Live performance against offline: the consecutive-days rule.

A day is *bad* when its live error (e.g. the MAE of the production model on the day's rows once their
targets are known) divided by the offline error (the model's holdout MAE) is above ``ratio_warn``. A
day *warns* when it and the ``warn_days - 1`` calendar days before it were all bad. A day without a
live error (no labelled rows yet) is not bad, and a missing calendar day breaks a streak: the rule
speaks only of days it has seen.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveDay:
    day: dt.date
    live_error: float | None
    offline_error: float
    ratio: float | None   # live_error / offline_error; None without a live error
    bad: bool             # ratio above the threshold
    streak: int           # consecutive calendar days up to this one that were bad
    warn: bool            # streak reached warn_days


def live_performance(series: Iterable[tuple[dt.date, float | None, float]], ratio_warn: float,
                     warn_days: int) -> list[LiveDay]:
    """Judge each ``(day, live_error, offline_error)``; the result is sorted by day. The offline error
    must be positive and finite (it is the denominator); a day may appear once."""
    if warn_days < 1:
        raise ValueError(f"warn_days must be at least 1, not {warn_days}")
    out: list[LiveDay] = []
    for day, live, offline in sorted(series, key=lambda row: row[0]):
        if out and out[-1].day == day:
            raise ValueError(f"day {day} appears more than once")
        if offline is None or not math.isfinite(offline) or offline <= 0:
            raise ValueError(f"{day}: the offline error must be positive and finite, not {offline!r}")
        known = live is not None and math.isfinite(live)
        ratio = live / offline if known else None
        bad = ratio is not None and ratio > ratio_warn
        follows = bool(out) and out[-1].day == day - dt.timedelta(days=1)
        streak = (out[-1].streak + 1 if follows else 1) if bad else 0
        out.append(LiveDay(day, live if known else None, offline, ratio, bad, streak, streak >= warn_days))
    return out
