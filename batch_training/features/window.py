"""The days a model of as-of day D learns from: a trailing window cut into training and holdout days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from batch_training.errors import DataError
from batch_training.spec.training import SplitSpec


class NotEnoughDays(DataError, ValueError):
    """The as-of day has too few days of data before it."""


@dataclass(frozen=True)
class Window:
    as_of: dt.date
    train_days: tuple[dt.date, ...]
    holdout_days: tuple[dt.date, ...]

    @property
    def days(self) -> tuple[dt.date, ...]:
        return self.train_days + self.holdout_days


def first_as_of_day(first_day: dt.date, split: SplitSpec) -> dt.date:
    return first_day + dt.timedelta(days=split.min_train_days + split.holdout_days)


def window_for(as_of: dt.date, split: SplitSpec, first_day: dt.date) -> Window:
    """Days ``as_of - window_days .. as_of - 1``, not before ``first_day``; the last ``holdout_days``
    of them are held out."""
    start = max(first_day, as_of - dt.timedelta(days=split.window_days))
    days = [start + dt.timedelta(days=i) for i in range((as_of - start).days)]
    train, holdout = days[:-split.holdout_days], days[-split.holdout_days:]
    if len(holdout) < split.holdout_days or len(train) < split.min_train_days:
        raise NotEnoughDays(f"as of {as_of}: {len(train)} training and {len(holdout)} holdout days before it, "
                            f"need {split.min_train_days} and {split.holdout_days} (data starts {first_day})")
    return Window(as_of, tuple(train), tuple(holdout))
