"""Derived features: a small closed vocabulary of operations on a spec's columns, declared in YAML
(``derived:``), never code. One function computes them for training and, from the raw request
fields, in the prediction server (``batch_training/serving/server/derive.py``).

=====================  ==========================================  =====================
op                     of                                          gives
=====================  ==========================================  =====================
``hour``               a timestamp (local hour) or an HHMM clock   integer 0..23
``day_of_week``        a date or timestamp (local)                 integer 0 (Mon)..6
``month``              a date or timestamp (local)                 integer 1..12
``clock_minutes``      an HHMM clock column                        integer 0..1440
``clock_difference``   two HHMM clocks ``[later, earlier]``         minutes 0..1439, across midnight
``difference``         two numbers ``[a, b]``                       a - b
``ratio``              two numbers ``[a, b]``                       a / b (missing where b is 0)
``log1p``              a number >= 0                               log(1 + x) (missing below 0)
``clip``               a number, ``min`` and/or ``max``             the number within them
``timestamp_of``       a ``date`` and a ``clock`` (HHMM)            the local wall-clock time, an instant
=====================  ==========================================  =====================

"local": in the spec's ``source.timezone``; a wall-clock time that does not exist or exists twice is
read by the platform's one rule (the offset before the transition, ``batch_training.timestamps``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    of: Any  # each operation declares what it reads: one column or two
    def inputs(self) -> tuple[str, ...]:
        of = self.of
        return tuple(of) if isinstance(of, (list, tuple)) else (of,)

    @property
    def kind(self) -> str:
        """What it gives: ``integer``, ``float`` or ``timestamp``."""
        return "integer"


class Hour(_Op):
    op: Literal["hour"]
    of: str


class DayOfWeek(_Op):
    op: Literal["day_of_week"]
    of: str


class Month(_Op):
    op: Literal["month"]
    of: str


class ClockMinutes(_Op):
    op: Literal["clock_minutes"]
    of: str


class ClockDifference(_Op):
    op: Literal["clock_difference"]
    of: tuple[str, str]


class Difference(_Op):
    op: Literal["difference"]
    of: tuple[str, str]

    @property
    def kind(self) -> str:
        return "float"


class Ratio(_Op):
    op: Literal["ratio"]
    of: tuple[str, str]

    @property
    def kind(self) -> str:
        return "float"


class Log1p(_Op):
    op: Literal["log1p"]
    of: str

    @property
    def kind(self) -> str:
        return "float"


class Clip(_Op):
    op: Literal["clip"]
    of: str
    min: float | None = None
    max: float | None = None

    @property
    def kind(self) -> str:
        return "float"

    @model_validator(mode="after")
    def _bounds(self) -> "Clip":
        if self.min is None and self.max is None:
            raise ValueError("clip needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"clip's min ({self.min}) is above its max ({self.max})")
        return self


class TimestampOf(_Op):
    op: Literal["timestamp_of"]
    date: str
    clock: str

    def inputs(self) -> tuple[str, ...]:
        return (self.date, self.clock)

    @property
    def kind(self) -> str:
        return "timestamp"


Derived = Annotated[Union[Hour, DayOfWeek, Month, ClockMinutes, ClockDifference, Difference, Ratio, Log1p, Clip,
                          TimestampOf],
                    Field(discriminator="op")]

#: op -> the input kinds it accepts, per input ("number", "clock", "date", "timestamp")
ACCEPTS = {
    "hour": (("timestamp", "clock"),), "day_of_week": (("date", "timestamp"),), "month": (("date", "timestamp"),),
    "clock_minutes": (("clock",),), "clock_difference": (("clock",), ("clock",)),
    "difference": (("number", "clock"), ("number", "clock")), "ratio": (("number", "clock"), ("number", "clock")),
    "log1p": (("number", "clock"),),
    "clip": (("number", "clock"),), "timestamp_of": (("date",), ("clock",)),
}
