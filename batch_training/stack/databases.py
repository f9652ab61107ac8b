"""The stack's own PostgreSQL (when no ``DAGSTER_PG_HOST`` is given): one durable server under
``<stack>/postgres`` holding the databases ``dagster``, ``dwh`` and ``registry``.

Its password is generated once and kept in ``<stack>/postgres/password`` (mode 0600); its port is
chosen once and kept in ``<stack>/postgres/port``; both are reused by every later ``up``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import stat
from pathlib import Path

from batch_training.ports import free_port
from batch_training.stack.postgres import PG_OS_USER, PostgresServer, find_bindir

DATABASES = ("dagster", "dwh", "registry")


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says why and where to look."""


def _as_root() -> bool:
    return os.geteuid() == 0




def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _check_reachable(folder: Path) -> None:
    """As root the server runs as ``postgres``, which must be able to pass through every parent."""
    if not _as_root():
        return
    blocked = [p for p in folder.parents if not os.stat(p).st_mode & stat.S_IXOTH]
    if blocked:
        raise StackError(f"the {PG_OS_USER} OS user cannot reach {folder}: {blocked[0]} is not traversable "
                         f"(chmod o+x {blocked[0]}, or choose another BATCH_TRAINING_HOME)")


def _remembered(path: Path, make) -> tuple[str, bool]:
    if path.exists():
        return path.read_text().strip(), False
    return make(), True


def local_server(stack_dir: Path, log_file: Path) -> PostgresServer:
    """The server object for ``<stack>/postgres`` (not started): remembered password and port."""
    bindir = find_bindir()
    if bindir is None:
        raise StackError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql, "
                         "or point DAGSTER_PG_HOST (and the other DAGSTER_PG_* variables) at a server")
    base = stack_dir / "postgres"
    base.mkdir(parents=True, exist_ok=True)
    _check_reachable(base)
    password_file, port_file = base / "password", base / "port"
    password, new_password = _remembered(password_file, lambda: secrets.token_urlsafe(24))
    port, _ = _remembered(port_file, lambda: str(free_port()))
    server = PostgresServer(bindir, base_dir=base, port=int(port), password=password, durable=True)
    if new_password and server.initialized:
        raise StackError(f"{password_file} is missing but {server.data_dir} holds a database whose password "
                         "it was: restore the file, or remove the folder to start over (its data is lost)")
    _write_private(password_file, password + "\n")
    port_file.write_text(port + "\n")
    server.log_file = log_file
    _prepare_log(log_file)
    return server


def _prepare_log(log_file: Path) -> None:
    """pg_ctl writes the log as the server's OS user: create the file and hand it over."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch(exist_ok=True)
    if _as_root():
        pg = pwd.getpwnam(PG_OS_USER)
        os.chown(log_file, pg.pw_uid, pg.pw_gid)
    os.chmod(log_file, 0o600)


def is_running(server: PostgresServer) -> bool:
    if not server.initialized:
        return False
    return server._run("pg_ctl", "status", "-D", str(server.data_dir)).returncode == 0


def start(server: PostgresServer) -> bool:
    """Initialise (first time) and start the server; False if it was already running."""
    if not server.initialized:
        server.initdb()
    if is_running(server):
        server._running = True
        server._wait_until_ready()
        return False
    try:
        server.start()
    except RuntimeError as exc:
        raise StackError(f"PostgreSQL did not start on 127.0.0.1:{server.port}: {exc}\n"
                         f"log: {server.log_file}") from None
    return True


def stop(server: PostgresServer) -> str:
    if not is_running(server):
        return "not running"
    res = server._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(server.data_dir))
    if res.returncode != 0:
        raise StackError(f"pg_ctl stop failed ({res.returncode}): {res.stderr.strip()}; log: {server.log_file}")
    server._running = False
    return "stopped"


def ensure_databases(server: PostgresServer, names: tuple[str, ...] = DATABASES) -> None:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as con:
        have = {row[0] for row in con.execute("SELECT datname FROM pg_database").fetchall()}
    for name in names:
        if name not in have:
            server.create_database(name)


def table_exists(url: str, table: str) -> bool:
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def seed_if_missing(url: str, options=None) -> str | None:
    """Seed the sample DWH when its ``flights`` table is missing; a one-line report, or None."""
    from batch_training.sample.seed import SeedOptions, seed_warehouse

    options = options or SeedOptions()
    if table_exists(url, options.flights_table):
        return None
    report = seed_warehouse(url, options)
    return f"seeded {report.warehouse}: flights {report.flights_rows} rows, weather {report.weather_rows} rows"
