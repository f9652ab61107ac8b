"""What a request carries, and what the model is fed from it.

A request carries the raw fields the model's features come from (``metadata.json`` ``inputs``): the
main table's columns, the joined tables' columns as ``<join>.<column>`` (the caller supplies, say,
today's weather), and the columns the derived features are computed from. Dates are ``YYYY-MM-DD``
strings; timestamps ISO 8601 strings, with an offset (an instant) or without one (wall-clock time,
read by the spec's rule: in its timezone unless it says UTC). The derived features are computed here
with the very module training used (``derive.py``), so server and training cannot disagree.

A bundle made before inputs existed lists only its features: they are its inputs then.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from .derive import US_PER_S, category_text, derive, instants_of_wall

KINDS = ("numeric", "categorical", "dates", "timestamps")
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                     r"(Z|[+-](0[0-9]|1[0-3])(:?[0-5][0-9])?|[+-]14(:?00)?)?$")
DATE_RULE = "a real calendar day of years 1 to 9999"
_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|([+-])(\d{2}):?(\d{2})?)?$")
_EPOCH = dt.date(1970, 1, 1)


def request_inputs(metadata: dict) -> dict[str, list[str]]:
    """``{numeric, categorical, dates, timestamps}``: the fields a request row carries."""
    given = metadata.get("inputs")
    if given is None:
        features = metadata["features"]
        return {"numeric": list(features["numeric"]), "categorical": list(features["categorical"]),
                "dates": [], "timestamps": []}
    return {kind: list(given.get(kind, [])) for kind in KINDS}


def day_number(text: str) -> int | None:
    """Days since 1970-01-01 of a ``YYYY-MM-DD`` text, or None when it is no real day."""
    try:
        day = dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return None
    return (day - _EPOCH).days


def wall_or_instant(text: str) -> tuple[float, bool] | None:
    """(seconds since 1970-01-01, has a zone) of an ISO text: UTC seconds if it has one, local
    wall-clock seconds if not; None when its day is no real day."""
    m = _STAMP.match(text)
    days = day_number(text[:10]) if m else None
    if days is None:
        return None
    seconds = days * 86400 + int(m[4]) * 3600 + int(m[5]) * 60 + int(m[6]) + int((m[7] or "0").ljust(6, "0")) / US_PER_S
    if m[8] is None:
        return seconds, False
    offset = 0 if m[8] == "Z" else (1 if m[9] == "+" else -1) * (int(m[10]) * 3600 + int(m[11] or 0) * 60)
    return seconds - offset, True


def instants(texts: list[str | None], timezone: str, naive: str) -> np.ndarray:
    """Valid ISO texts (or None) as instants in microseconds UTC, NaN for None."""
    out = np.full(len(texts), np.nan)
    wall = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        if text is None:
            continue
        found = wall_or_instant(text)
        if found is None:  # not a real day: the request checks refuse it before this
            continue
        seconds, zoned = found
        if zoned or naive == "utc":
            out[i] = seconds * US_PER_S
        else:
            wall[i] = seconds
    local = np.isfinite(wall)
    if local.any():
        out[local] = instants_of_wall(wall[local], timezone)
    return out


class Derivation:
    """From the checked input columns to the model's feature columns."""

    def __init__(self, metadata: dict):
        self.recipes = dict(metadata.get("derived") or {})
        time = metadata.get("time") or {}
        self.timezone, self.naive = time.get("timezone", "UTC"), time.get("naive", "local")
        inputs, contract = request_inputs(metadata), metadata.get("contract", {})
        self.kinds = {**{n: "clock" if contract.get(n, {}).get("clock") else "number" for n in inputs["numeric"]},
                      **{n: "date" for n in inputs["dates"]}, **{n: "timestamp" for n in inputs["timestamps"]}}
        self.categorical = set(metadata["features"]["categorical"])

    def features(self, columns: dict, n: int) -> dict:
        if not self.recipes:
            return columns
        numbers = {name: columns[name] for name in self.kinds if name in columns}
        out = dict(columns)
        for name, values in derive(self.recipes, numbers, self.kinds, self.timezone).items():
            out[name] = category_text(values) if name in self.categorical else values
        return out
