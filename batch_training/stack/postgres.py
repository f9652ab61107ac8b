"""A local PostgreSQL server from the machine's binaries: throwaway for tests and benchmarks, or
kept under a folder of your choice for ``make up``.

It listens only on 127.0.0.1 on a port it picks (or is given), asks for a password
(scram-sha-256), and runs without durability when it holds test data only. Its binaries refuse to
run as root, so as root they run as the ``postgres`` OS user, which then owns the folder.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batch_training.ports import free_port

PG_OS_USER = "postgres"
START_TIMEOUT_S = 60
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "log_min_messages": "warning",
}


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[./]", Path(path).parent.name))


def find_bindir() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: from ``pg_config --bindir``, Debian's layout, or PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:  # a symlink (e.g. /usr/local/bin/initdb): pg_ctl finds `postgres` next to the real file
        candidates.append(Path(initdb).resolve().parent)
    return next((c for c in candidates if _has_server_binaries(c)), None)


def _as_root() -> bool:
    return os.geteuid() == 0


def postgres_available() -> bool:
    """Whether a server can be started here (binaries found, and a non-root user to run them)."""
    if find_bindir() is None:
        return False
    if not _as_root():
        return True
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        return False
    return shutil.which("runuser") is not None




def _traversable_by_others(path: Path) -> bool:
    """Every folder from / down to ``path`` can be entered by another user."""
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _make_base_dir() -> Path:
    """A new private temp folder whose parents the ``postgres`` user can pass through."""
    for parent in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(parent) and (not _as_root() or _traversable_by_others(Path(parent))):
            return Path(tempfile.mkdtemp(prefix="bt-postgres-", dir=parent))
    raise RuntimeError("no temporary folder that the postgres user can reach")


class PostgresServer:
    """One running test server. Build it with ``running_postgres()``, which also cleans up."""

    def __init__(self, bindir: Path, base_dir: Path | None = None, port: int | None = None,
                 password: str | None = None, durable: bool = False):
        self.bindir = bindir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.user = "postgres"
        self.password = password or secrets.token_urlsafe(18)  # URL-safe: no quoting needed in a URL
        self.durable = durable
        if base_dir is not None:
            base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir = base_dir or _make_base_dir()
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self._running = False
        if _as_root():
            pg = pwd.getpwnam(PG_OS_USER)
            os.chown(self.base_dir, pg.pw_uid, pg.pw_gid)
        os.chmod(self.base_dir, 0o700)

    # -- plumbing ------------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if _as_root():
            cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        return subprocess.run(cmd, cwd=self.base_dir, env=env, capture_output=True, text=True, timeout=timeout)

    def _write_private(self, path: Path, text: str) -> None:
        path.write_text(text)
        os.chmod(path, 0o600)
        if _as_root():
            pg = pwd.getpwnam(PG_OS_USER)
            os.chown(path, pg.pw_uid, pg.pw_gid)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no server log)"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initdb(self) -> None:
        pwfile = self.base_dir / "pwfile"
        self._write_private(pwfile, self.password + "\n")
        try:
            res = self._run(
                "initdb", "-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        self._write_settings()

    def _write_settings(self) -> None:
        settings = {**_SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.data_dir}'"}
        if self.durable:  # a server that keeps real data: the defaults (fsync on) stay
            for key in ("fsync", "synchronous_commit", "full_page_writes"):
                settings.pop(key)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# batch_training\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    # -- public interface ----------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def start(self) -> None:
        """Start (again) on the same port and data folder; return once it accepts connections."""
        res = self._run("pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data_dir),
                        "-l", str(self.log_file), timeout=START_TIMEOUT_S + 10)
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed ({res.returncode}): {res.stderr.strip()}\n{self._log_tail()}")
        self._running = True
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=3) as con:
                    con.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections: {exc}\n{self._log_tail()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast stop (connections are cut); ``start()`` brings the server back."""
        if not self._running:
            return
        res = self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        if res.returncode != 0 and "Is server running?" not in res.stderr:
            raise RuntimeError(f"pg_ctl stop failed ({res.returncode}): {res.stderr.strip()}")
        self._running = False

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def cleanup(self) -> None:
        """Stop the server (if running) and remove its folder."""
        try:
            self.stop()
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh server for the block; stopped and deleted afterwards, on errors too."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    server = PostgresServer(bindir)
    atexit.register(server.cleanup)  # in case the block is never left normally
    try:
        server.initdb()
        for attempt in range(3):
            try:
                server.start()
                break
            except RuntimeError:  # the port picked may have been taken in the meantime
                if attempt == 2 or server._running:
                    raise
                server.port = free_port()
                server._write_settings()  # later settings win in postgresql.conf
        yield server
    finally:
        server.cleanup()
        atexit.unregister(server.cleanup)
