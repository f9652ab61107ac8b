"""Derived features, computed from columns: the one implementation, used for training (through
``batch_training.features.derive``) and by the prediction server from a request's raw fields, so the
two can never disagree. NumPy and the standard library only (it ships in every bundle).

Columns are float64 arrays with NaN for a missing value, whatever they hold: numbers and HHMM clocks
as they are, dates as days since 1970-01-01, timestamps as microseconds since 1970-01-01 UTC (an
instant; float64 holds each microsecond exactly up to 2**53 us, the year 2255). Strings are lists. The operations are those of the spec's
vocabulary (``batch_training/spec/derived.py``); local times are in the spec's timezone, and a
wall-clock time that does not exist or exists twice takes the offset before the transition.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np

US_PER_S, S_PER_HOUR, S_PER_DAY = 1_000_000, 3600, 86400
EPOCH = dt.datetime(1970, 1, 1)


def _offsets(seconds: np.ndarray, zone: ZoneInfo, wall: bool) -> np.ndarray:
    """UTC offset (seconds) at each time: ``seconds`` are UTC instants, or local wall-clock times if
    ``wall`` (read with fold=0). Looked up once per hour; an hour with a transition in it, per value."""
    out = np.zeros(seconds.shape)
    good = np.isfinite(seconds)
    hours = np.floor(seconds[good] / S_PER_HOUR)
    unique, inverse = np.unique(hours, return_inverse=True)

    def offset(s: float) -> float:
        if wall:
            return (EPOCH + dt.timedelta(seconds=s)).replace(tzinfo=zone).utcoffset().total_seconds()
        return dt.datetime.fromtimestamp(s, zone).utcoffset().total_seconds()

    start = np.array([offset(h * S_PER_HOUR) for h in unique])
    end = np.array([offset(h * S_PER_HOUR + S_PER_HOUR - 1) for h in unique])
    values = start[inverse]
    mixed = np.flatnonzero((start != end)[inverse])  # a transition inside that hour
    picked = seconds[good]
    for i in mixed:
        values[i] = offset(float(picked[i]))
    out[good] = values
    return out


def local_seconds(us: np.ndarray, timezone: str) -> np.ndarray:
    """Instants (us UTC) as local wall-clock seconds since 1970-01-01 (NaN stays NaN)."""
    seconds = us / US_PER_S
    return seconds + _offsets(seconds, ZoneInfo(timezone), wall=False)


def instants_of_wall(seconds: np.ndarray, timezone: str) -> np.ndarray:
    """Local wall-clock seconds as instants (us UTC), by the offset before a transition."""
    return (seconds - _offsets(seconds, ZoneInfo(timezone), wall=True)) * US_PER_S


def clock_minutes(hhmm: np.ndarray) -> np.ndarray:
    hours = np.floor(hhmm / 100)
    return hours * 60 + (hhmm - hours * 100)


def _days(values: np.ndarray, kind: str, timezone: str) -> np.ndarray:
    """Local days since 1970-01-01 of dates or instants."""
    return values if kind == "date" else np.floor(local_seconds(values, timezone) / S_PER_DAY)


def _month(days: np.ndarray) -> np.ndarray:
    out = np.full(days.shape, np.nan)
    good = np.isfinite(days)
    months = days[good].astype("int64").astype("datetime64[D]").astype("datetime64[M]").astype("int64")
    out[good] = months % 12 + 1
    return out


def _hour(values: np.ndarray, kind: str, timezone: str) -> np.ndarray:
    if kind == "clock":
        return np.floor(values / 100) % 24
    return np.floor(local_seconds(values, timezone) / S_PER_HOUR) % 24


def _log1p(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(x >= 0, np.log1p(np.where(x >= 0, x, 0.0)), np.nan)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b; missing where b is 0 (no infinities reach the model)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = a / np.where(b == 0, np.nan, b)
    return np.where(np.isfinite(out), out, np.nan)


def apply(recipe: dict, columns: dict[str, np.ndarray], kinds: dict[str, str], timezone: str) -> np.ndarray:
    """One derived feature from its recipe (the spec's ``derived:`` entry as a dict)."""
    op = recipe["op"]
    if op == "timestamp_of":
        days, clock = columns[recipe["date"]], columns[recipe["clock"]]
        return instants_of_wall(days * S_PER_DAY + clock_minutes(clock) * 60, timezone)
    of = recipe["of"]
    if op in ("clock_difference", "difference", "ratio"):
        a, b = columns[of[0]], columns[of[1]]
        if op == "ratio":
            return _ratio(a, b)
        return np.mod(clock_minutes(a) - clock_minutes(b), 1440) if op == "clock_difference" else a - b
    x, kind = columns[of], kinds[of]
    if op == "hour":
        return _hour(x, kind, timezone)
    if op == "day_of_week":
        return np.mod(_days(x, kind, timezone) + 3, 7)  # 1970-01-01 was a Thursday; Monday is 0
    if op == "month":
        return _month(_days(x, kind, timezone))
    if op == "clock_minutes":
        return clock_minutes(x)
    if op == "log1p":
        return _log1p(x)
    if op == "clip":
        low = -math.inf if recipe.get("min") is None else recipe["min"]
        high = math.inf if recipe.get("max") is None else recipe["max"]
        return np.clip(x, low, high)
    raise ValueError(f"unknown derived operation {op!r}")


def derive(recipes: dict[str, dict], columns: dict[str, np.ndarray], kinds: dict[str, str],
           timezone: str) -> dict[str, np.ndarray]:
    """Every recipe, in order (one may use an earlier one): name -> float64 array."""
    columns, kinds = dict(columns), dict(kinds)
    out = {}
    for name, recipe in recipes.items():
        out[name] = columns[name] = apply(recipe, columns, kinds, timezone)
        kinds[name] = "timestamp" if recipe["op"] == "timestamp_of" else "number"
    return out


def category_text(values: np.ndarray) -> list[str | None]:
    """A derived number used as a category, as text: whole numbers without a fraction ("3", not "3.0").
    Each distinct value is written once (a derived category has few: hours, weekdays), unless there
    are only a few values, where ``np.unique`` would cost more than it saves."""
    if len(values) <= 16:
        return [_text(v) for v in values.tolist()]
    distinct, inverse = np.unique(values, return_inverse=True)  # NaNs are one value
    texts = [_text(v) for v in distinct.tolist()]
    return list(map(texts.__getitem__, inverse.reshape(-1).tolist()))


def _text(v: float) -> str | None:
    return None if not math.isfinite(v) else (str(int(v)) if v == int(v) else repr(float(v)))
