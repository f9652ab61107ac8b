"""Long-running processes in their own process groups: start them, tell whether they still run, stop them.

A process is recorded by its PID, its process group (the same number: it is started with
``start_new_session=True``), its start time in clock ticks since boot and the boot it was started
in. That record identifies it safely later, from another command: a PID reused by an unrelated
process after a reboot or a wrap-around has another start time or another boot, and is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses: split after the last ")"
    return text[text.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started (field 22 of /proc/PID/stat), or None."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] == "Z"


def group_members(pgid: int, started_from: int = 0) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` started at or after ``started_from``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and int(fields[2]) == pgid and fields[0] != "Z" and int(fields[19]) >= started_from:
            members.append(int(entry))
    return members


def start(argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> dict:
    """Start ``argv`` in a new session (its own process group), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return {"pid": proc.pid, "pgid": proc.pid, "start_time": start_time(proc.pid), "boot_id": boot_id(),
            "argv": argv, "log": str(log_path)}


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child (a zombie would look alive)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def leader_alive(record: dict) -> bool:
    """Whether the recorded process itself still runs (same boot, same PID, same start time)."""
    _reap(record["pid"])
    if record.get("boot_id") != boot_id() or is_zombie(record["pid"]):
        return False
    return start_time(record["pid"]) == record.get("start_time")


def running_members(record: dict) -> list[int]:
    """The processes of the recorded group that still run (its leader, or children it left behind)."""
    if record.get("boot_id") != boot_id():
        return []
    _reap(record["pid"])
    return group_members(record["pgid"], record.get("start_time") or 0)


def _signal_group(record: dict, sig: int) -> None:
    try:
        os.killpg(record["pgid"], sig)
    except ProcessLookupError:
        pass


def stop_group(record: dict, timeout: float = STOP_TIMEOUT_S) -> str:
    """SIGTERM to the recorded process group, SIGKILL after ``timeout``; says what it did."""
    if not running_members(record):
        return "not running"
    _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running_members(record):
            return "stopped"
        time.sleep(0.2)
    _signal_group(record, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running_members(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    return "killed" if not running_members(record) else "still running after SIGKILL"
