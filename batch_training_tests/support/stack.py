"""The production-shaped stack (``ops.stack.up``: its own PostgreSQL, the Dagster webserver and
daemon) in a temporary BATCH_TRAINING_HOME with a few weeks of the flights spec, for the tests that
drive it; always taken down, and checked that no process is left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_training.ports import free_port
from batch_training.stack import control, databases, procs
from batch_training.stack.postgres import postgres_available
from batch_training_tests.support import flights


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(reason: str | None, what: str = "the stack tests") -> None:
    if reason:
        if in_ci():
            pytest.fail(f"{reason}; CI must run {what}", pytrace=False)
        pytest.skip(reason)




def wait_for(what: str, check, timeout: float = 180.0, interval: float = 0.5):
    """Poll ``check()`` until it returns something truthy; that. Fails saying what it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def processes_with_home(home: Path) -> list[int]:
    """Processes whose environment names this stack's BATCH_TRAINING_HOME (ours, or left behind)."""
    marker = f"BATCH_TRAINING_HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def assert_all_stopped(home: Path, state: dict) -> None:
    deadline = time.monotonic() + 10
    while processes_with_home(home) and time.monotonic() < deadline:
        time.sleep(0.2)  # zombies being reaped
    leftovers = [pid for pid in processes_with_home(home) if not procs.is_zombie(pid)]
    assert not leftovers, f"processes left behind: {leftovers}"
    for name, record in state["processes"].items():
        assert not procs.running_members(record), f"{name} still running"
    server = databases.local_server(control.layout(home).stack, control.layout(home).log("postgres"))
    assert not databases.is_running(server), "PostgreSQL still running"


@contextlib.contextmanager
def running_stack(env: dict[str, str], prefix: str = "bt-stack-") -> Iterator[tuple[dict, Path]]:
    require(None if postgres_available() else "PostgreSQL server binaries not found (apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(home, 0o755)  # the postgres OS user must pass through it
    state = None
    with pytest.MonkeyPatch.context() as mp:
        for var in control.PG_VARS:  # always its own PostgreSQL, whatever the caller's environment
            mp.delenv(var, raising=False)
        try:
            env = {**env, "BATCH_TRAINING_SPEC_DIR": str(flights.write_small_flights(home / "specs"))}
            state = control.up(home, port=free_port(), seed=flights.SEED, extra_env=env, timeout=420)
            yield state, home
        finally:
            control.down(home)
            said: list[str] = []
            assert not control.down(home, echo=said.append) and said[0].startswith("nothing to stop")
            state = state or {"processes": {}}
            try:
                assert_all_stopped(home, state)
            finally:
                shutil.rmtree(home, ignore_errors=True)


def set_connections(server, database: str, allowed: bool) -> None:
    """A database that refuses new connections (and loses the open ones): an outage of the DWH
    that the server itself reports, as "not currently accepting connections"."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.url(), autocommit=True) as con:
        con.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(database), sql.SQL("true" if allowed else "false")))
        if not allowed:
            con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
