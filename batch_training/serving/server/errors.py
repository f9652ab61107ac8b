"""422 bodies: FastAPI's error shape, capped in size.

A bad request gets FastAPI's ``{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}``, with the
types and messages pydantic would give for the request models of ``schema.py`` (so a client cannot
tell the column-wise checks of ``columns.py`` from pydantic's), plus ``"errors_total"``: how many
errors the request has in all. Only the first ``MAX_ERRORS`` entries are listed, in pydantic's order
(row by row; in a row, feature by feature, then unknown fields), because a 4 MiB batch of bad rows
has millions of errors and listing them all made a 3.9 MB reply that took seconds to build.

Each entry is small too: the ``input`` it echoes is cut down (see ``echo``), and so is an unknown
field's name in its ``loc``. Bodies are written as ASCII JSON, so a lone surrogate (which Python's
JSON reader accepts) is escaped instead of failing the reply with a 500.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from starlette.responses import Response

MAX_ERRORS = 20
ECHO_CHARS = 64   # characters kept of an echoed string (or of an unknown field's name)
ECHO_ITEMS = 16   # values an echoed array or object may hold in all, nested ones included

FIELD_REQUIRED = "Field required"
NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


class Errors:
    """The errors of one request: all counted, the first ``limit`` kept."""

    def __init__(self, limit: int = MAX_ERRORS):
        self.limit, self.entries, self.total = limit, [], 0

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.limit

    def add(self, kind: str, loc: tuple, msg: str, value: Any, ctx: dict | None = None) -> None:
        self.total += 1
        if not self.full:
            entry = {"type": kind, "loc": list(loc), "msg": msg, "input": echo(value)}
            if ctx is not None:
                entry["ctx"] = ctx
            self.entries.append(entry)

    def count(self, n: int) -> None:
        """Errors past the listed ones: counted without building their entries."""
        self.total += n

    def __bool__(self) -> bool:
        return self.total > 0

    def response(self) -> Response:
        body = {"detail": self.entries, "errors_total": self.total}
        return Response(json.dumps(body, allow_nan=False, separators=(",", ":")).encode("ascii"),
                        status_code=422, media_type="application/json")


class Invalid(Exception):
    """Raised with the errors of a request that cannot go further (the app answers 422)."""

    def __init__(self, errors: Errors):
        super().__init__(f"{errors.total} validation errors")
        self.errors = errors


def invalid(kind: str, loc: tuple, msg: str, value: Any, ctx: dict | None = None) -> Invalid:
    errors = Errors()
    errors.add(kind, loc, msg, value, ctx)
    return Invalid(errors)


def key(name: str) -> str:
    """An unknown field's name as its ``loc`` shows it (a name can be megabytes long)."""
    return name if len(name) <= ECHO_CHARS else name[:ECHO_CHARS] + "..."


def echo(value: Any) -> Any:
    """``value`` as an error's ``input``: strict JSON (NaN and infinities by name, as before) and
    small. Strings keep their first ``ECHO_CHARS`` characters; an array or object with more than
    ``ECHO_ITEMS`` values in all becomes a short description such as ``"<array of 1300000 items>"``;
    so does an integer too long to print."""
    if isinstance(value, (list, dict)) and _items(value, ECHO_ITEMS) < 0:
        return f"<{'array' if isinstance(value, list) else 'object'} of {len(value)} items>"
    return _echo(value)


def _items(value: Any, budget: int) -> int:
    """``budget`` less the values inside ``value``; negative once it runs out (stops there)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        budget = _items(child, budget - 1)
        if budget < 0:
            break
    return budget


def _echo(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "..."
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<integer of about {int(value.bit_length() * math.log10(2)) + 1} digits>"
    if isinstance(value, bytes):  # a body that was not declared JSON, echoed as FastAPI does: its text
        return _echo(value[:ECHO_CHARS * 4].decode("utf-8", errors="replace"))
    if isinstance(value, list):
        return [_echo(v) for v in value]
    if isinstance(value, dict):
        return {key(k): _echo(v) for k, v in value.items()}
    return value


def number(bound: float | int) -> str:
    """A bound as pydantic prints it in a message: no exponent, no trailing ``.0`` (1e-07 is
    ``0.0000001``, 6000.0 is ``6000``)."""
    if isinstance(bound, int):
        return str(bound)
    text = format(Decimal(repr(bound)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
