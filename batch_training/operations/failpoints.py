"""Failpoints: named moments where a test can make the platform stop, to prove that a fault there
loses nothing (e.g. the daemon killed between asking for a relaunch and the run existing).

Off unless ``BATCH_TRAINING_FAILPOINTS`` names them: ``name=ACTION[,name=...]`` with ACTION
``pause:SECONDS``, ``raise`` (a ``FailpointError``) or ``exit:CODE`` (the process ends at once, as a
crash would). A failpoint that is reached writes ``<BATCH_TRAINING_HOME>/failpoints/<name>`` (so the
test knows the moment has come) and acts, once per home: the file also says it happened, and a
later pass goes on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

VARIABLE = "BATCH_TRAINING_FAILPOINTS"


class FailpointError(RuntimeError):
    """Raised where a test armed a ``raise`` failpoint."""


def _armed() -> dict[str, tuple[str, float]]:
    out = {}
    for item in filter(None, (part.strip() for part in os.environ.get(VARIABLE, "").split(","))):
        name, _, action = item.partition("=")
        kind, _, value = action.partition(":")
        if kind in ("pause", "raise", "exit"):
            out[name.strip()] = (kind, float(value or (60 if kind == "pause" else 1)))
    return out


def reach(name: str) -> None:
    """Act here if a test armed this failpoint and it was not reached before in this home."""
    armed = _armed().get(name)
    if armed is None:
        return
    kind, value = armed
    marker = Path(os.environ.get("BATCH_TRAINING_HOME", ".batch_training")) / "failpoints" / name
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    if kind == "raise":
        raise FailpointError(f"failpoint {name} reached")
    if kind == "exit":
        os._exit(int(value))
    time.sleep(value)
