"""What kind of failure is this? transient infrastructure, data, gate, or code.

Only transient faults (a DWH or registry that refused or dropped the connection, a timeout, a
server restarting) are worth retrying; a data-contract failure, a gate rejection or a programming
error fails the same way every time. Classification works on live exceptions (to decide a step
retry) and on the error records Dagster stores (to decide a relaunch), walking the cause chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

TRANSIENT, DATA, GATE, CODE = "transient", "data", "gate", "code"

_TRANSIENT_TYPES = {
    "WarehouseError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
    "BrokenPipeError", "TimeoutError", "timeout", "OperationalError", "InterfaceError", "URLError", "RemoteDisconnected",
    "IncompleteRead", "ConflictError", "ImageBuildError",
}
_TRANSIENT_TEXT = re.compile(
    r"connection refused|could not connect|connection reset|server closed the connection|terminating connection"
    r"|connection (?:was )?(?:lost|closed|timed out)|timed? ?out|the database system is (?:starting up|shutting down"
    r"|in recovery mode)|too many connections|temporarily unavailable|database is locked|network is unreachable",
    re.IGNORECASE,
)
_GATE_CHECKS = ("gate", "smoke_test")
_DATA_TYPES = {"SpecError", "NotEnoughDays", "SchemaDriftError"}


class ErrorLike(Protocol):
    """A live exception or Dagster's SerializableErrorInfo (cls_name, message, cause, context)."""


def _chain(error) -> Iterator[tuple[str, str]]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, BaseException):
            yield type(error).__name__, str(error)
            error = error.__cause__ or error.__context__
        else:  # SerializableErrorInfo
            yield getattr(error, "cls_name", "") or "", getattr(error, "message", "") or ""
            error = getattr(error, "cause", None) or getattr(error, "context", None)


def classify(error) -> str:
    """The failure class of an exception or a stored error record."""
    links = list(_chain(error))
    for name, message in links:
        if name == "DagsterAssetCheckFailedError" or "blocking asset check failed" in message:
            return GATE if any(re.search(rf"\b{check}\b", message) for check in _GATE_CHECKS) else DATA
        if "evaluation gate" in message or "not promoted" in message:
            return GATE
        if name in _DATA_TYPES:
            return DATA
    for name, message in links:
        if name in _TRANSIENT_TYPES or _TRANSIENT_TEXT.search(message):
            return TRANSIENT
    return CODE


def is_transient(error) -> bool:
    return classify(error) == TRANSIENT


def summary(error, limit: int = 2000) -> str:
    """One paragraph: the first error that is not Dagster's own wrapper, and its innermost cause."""
    links = [(name, " ".join(message.split())) for name, message in _chain(error)]
    if not links:
        return "unknown error"
    outer = next(((n, m) for n, m in links if not n.startswith("Dagster") and m), links[0])
    inner = next(((n, m) for n, m in reversed(links) if m), outer)
    text = f"{outer[0]}: {outer[1]}"
    if inner != outer:
        text += f" (caused by {inner[0]}: {inner[1]})"
    return text[:limit]
