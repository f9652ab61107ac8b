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

import numpy as np

from batch_training.evaluation.metrics import metrics_for


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


@dataclass(frozen=True)
class LiveScore:
    """The production model's error on one day's labelled rows, beside the naive rule's."""

    metric: str
    rows: int
    live_error: float | None       # None: no labelled row that day
    naive_error: float | None      # None: the spec has no naive rule (or no labelled row)
    figures: dict                  # every metric of the task on the day

    def to_dict(self) -> dict:
        return {"metric": self.metric, "rows": self.rows, "live_error": self.live_error,
                "naive_error": self.naive_error, "figures": self.figures}


def as_scores(task: str, predictions: list, classes: list[str]):
    """The server's predictions as the metrics read them: floats (regression) or the [n, k]
    probabilities in the order of ``classes``."""
    if task == "regression":
        return np.asarray(predictions, dtype=np.float64)
    return np.asarray([[p["probabilities"][c] for c in classes] for p in predictions], dtype=np.float64).reshape(-1, len(classes))


def score_day(task: str, metric: str, y_true, scores, naive=None, threshold: float | None = None) -> LiveScore:
    """``y_true``: the day's targets (class indices for classification), ``scores``: ``as_scores``."""
    n = int(np.asarray(y_true).shape[0])
    if n == 0:
        return LiveScore(metric, 0, None, None, {})
    figures = metrics_for(task, np.asarray(y_true), scores, threshold)
    naive_error = None
    if naive is not None:
        naive_error = float(metrics_for(task, np.asarray(y_true), naive, threshold)[metric])
    clean = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in figures.items()}
    return LiveScore(metric, n, clean.get(metric), naive_error, clean)
