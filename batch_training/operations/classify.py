"""The failure class of an error, from its type: a live exception (to decide a step retry where it
happens) or the error record Dagster stored (to decide a relaunch in the recovery sensor).

The platform's own errors carry their class (``batch_training.errors``); the step's failure boundary
also stores it in the failure's metadata (``FAILURE_CLASS_KEY``), which a stored record is read by
first. Beyond those, a few standard exception types have a fixed meaning: connection and timeout
errors are transient, an ``OSError`` of a full, read-only or failing file system is
infrastructure. Messages are never parsed here.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from batch_training.errors import CODE, FAILURE_CLASSES, INFRASTRUCTURE, TRANSIENT, PlatformError
from batch_training.operations.tags import FAILURE_CLASS_KEY, HINT_KEY

__all__ = ["FAILURE_CLASS_KEY", "HINT_KEY", "classify_exception", "classify_record", "hint_of", "summary"]

_TRANSIENT_TYPES = {
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError",
    "TimeoutError", "timeout", "RemoteDisconnected", "IncompleteRead",
}
INFRASTRUCTURE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def _links(error) -> Iterator[object]:
    """The error and its causes (``__cause__``/``__context__``, or a record's ``cause``/``context``)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        if isinstance(error, BaseException):
            error = error.__cause__ or error.__context__
        else:
            error = getattr(error, "cause", None) or getattr(error, "context", None)


def _platform_classes() -> dict[str, str]:
    """Class name -> failure class of every PlatformError subclass (for stored records)."""
    found, todo = {}, [PlatformError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls.failure_class
        todo += cls.__subclasses__()
    return found


def classify_exception(exc: BaseException) -> str:
    """The failure class of a live exception: the first link of its chain with a known type."""
    for link in _links(exc):
        if isinstance(link, PlatformError):
            return link.failure_class
        if isinstance(link, OSError) and link.errno in INFRASTRUCTURE_ERRNOS:
            return INFRASTRUCTURE
        if type(link).__name__ in _TRANSIENT_TYPES:
            return TRANSIENT
    return CODE


def hint_of(exc: BaseException) -> str:
    """What an operator should do about it, when the error's type says."""
    for link in _links(exc):
        if isinstance(link, PlatformError) and link.hint:
            return link.hint
        if isinstance(link, OSError) and link.errno in INFRASTRUCTURE_ERRNOS:
            return "free or repair the storage, then rekick"
    return ""


def classify_record(error, metadata: dict | None = None) -> str:
    """The failure class of a stored error (Dagster's SerializableErrorInfo): the class recorded in
    the failure's metadata, else the class of the first link whose type name is known."""
    recorded = (metadata or {}).get(FAILURE_CLASS_KEY)
    if recorded in FAILURE_CLASSES:
        return recorded
    known = _platform_classes()
    for link in _links(error):
        name = getattr(link, "cls_name", None) or ""
        if name in known:
            return known[name]
        if name in _TRANSIENT_TYPES:
            return TRANSIENT
    return CODE


def summary(error, limit: int = 2000) -> str:
    """One paragraph: the first error that is not Dagster's own wrapper, and its innermost cause."""
    links = []
    for link in _links(error):
        if isinstance(link, BaseException):
            links.append((type(link).__name__, " ".join(str(link).split())))
        else:
            links.append((getattr(link, "cls_name", "") or "", " ".join((getattr(link, "message", "") or "").split())))
    if not links:
        return "unknown error"
    outer = next(((n, m) for n, m in links if not n.startswith("Dagster") and m), links[0])
    inner = next(((n, m) for n, m in reversed(links) if m), outer)
    text = f"{outer[0]}: {outer[1]}"
    if inner != outer:
        text += f" (caused by {inner[0]}: {inner[1]})"
    return text[:limit]
