"""Failpoints: named moments where a test can make the platform stop, to prove that a fault there
loses nothing (e.g. the daemon killed between asking for a relaunch and the run existing).

Off unless ``BATCH_TRAINING_FAILPOINTS`` names them: ``name=pause:SECONDS[,name=...]``. A failpoint
that is reached writes ``<BATCH_TRAINING_HOME>/failpoints/<name>`` (so the test knows the moment has
come) and pauses, once per home: the file also says it happened, and a later pass goes on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

VARIABLE = "BATCH_TRAINING_FAILPOINTS"


def _armed() -> dict[str, float]:
    out = {}
    for item in filter(None, (part.strip() for part in os.environ.get(VARIABLE, "").split(","))):
        name, _, action = item.partition("=")
        kind, _, seconds = action.partition(":")
        if kind == "pause":
            out[name.strip()] = float(seconds or 60)
    return out


def reach(name: str) -> None:
    """Pause here if a test armed this failpoint and it was not reached before in this home."""
    seconds = _armed().get(name)
    if seconds is None:
        return
    marker = Path(os.environ.get("BATCH_TRAINING_HOME", ".batch_training")) / "failpoints" / name
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    time.sleep(seconds)
