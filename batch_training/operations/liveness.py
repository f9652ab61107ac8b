"""Is the process that runs a run still there? A run the CLI executes in its own process is tagged
with the host, the pid and the process's start time (so a reused pid is not mistaken for it); when
that process is gone the run can never finish, whatever the run store says."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


def this_process() -> dict[str, str]:
    return {"host": socket.gethostname(), "pid": str(os.getpid()), "started": _start_time(os.getpid()) or ""}


def is_gone(host: str, pid: str, started: str) -> bool:
    """True when the process was on this host and no longer runs (or its pid now names another one).
    A process on another host cannot be judged from here: False."""
    if host != socket.gethostname() or not pid.isdigit():
        return False
    now = _start_time(int(pid))
    return now is None or (bool(started) and now != started)
