"""``make up`` / ``make down``: the production-shaped stack on one machine, on loopback.

``up`` starts, in this order, and records each part in ``$BATCH_TRAINING_HOME/stack/state.json``
as soon as it runs (so ``down`` can stop whatever a failed ``up`` left):

1. PostgreSQL: a local durable server under ``stack/postgres`` (databases ``dagster``, ``dwh``,
   ``registry``; the DWH seeded with the sample data when its ``flights`` table is missing), unless
   ``DAGSTER_PG_HOST`` points at a server, which then must hold everything (the URLs of the DWH and
   the registry come from ``BATCH_TRAINING_WAREHOUSE_URL`` / ``BATCH_TRAINING_REGISTRY_URL``).
2. ``dagster-webserver -h 127.0.0.1 -p PORT -w stack/workspace.yaml`` (written here), then ``dagster-daemon run -w
   workspace.yaml``, each in its own process group, with ``DAGSTER_HOME=stack/dagster_home`` (a
   copy of the top-level ``dagster.yaml``) and ``BATCH_TRAINING_ENV=production``. Secrets travel
   only in these processes' environment; what is printed is redacted.

It reports ready once the webserver answers, the code location is LOADED and the scheduler, sensor
and run-queue daemons have fresh heartbeats. Logs: ``stack/logs/{postgres,webserver,daemon}.log``.
``down`` stops exactly the recorded process groups (SIGTERM, then SIGKILL) and the PostgreSQL that
``up`` started (``pg_ctl stop``), nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from batch_training.settings import DAGSTER_EVENT_ENV, REGISTRY_URL_VAR, WAREHOUSE_URL_VAR
from batch_training.stack import databases, health, procs
from batch_training.stack.databases import StackError
from batch_training.storage import write_text_atomic

INSTANCE_YAML_VAR = "BATCH_TRAINING_DAGSTER_YAML"  # the production dagster.yaml, when not found from the current folder
LOCATION = "batch_training"
DEFAULT_UI_PORT = 3000
READY_TIMEOUT_S = 300.0
PG_VARS = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD")
URL_VARS = (WAREHOUSE_URL_VAR, REGISTRY_URL_VAR)  # their names are the settings' own

__all__ = ["StackError", "Layout", "layout", "up", "down", "read_state"]


class Layout:
    """Where the stack keeps its things, under ``$BATCH_TRAINING_HOME/stack``."""

    def __init__(self, home: Path):
        self.home = Path(home).expanduser().resolve()
        self.stack = self.home / "stack"
        self.logs = self.stack / "logs"
        self.state = self.stack / "state.json"
        self.dagster_home = self.stack / "dagster_home"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def layout(home: Path | str | None = None) -> Layout:
    return Layout(Path(home or os.environ.get("BATCH_TRAINING_HOME") or ".batch_training"))


# -- state file --------------------------------------------------------------------------------
def read_state(where: Layout) -> dict | None:
    try:
        return json.loads(where.state.read_text())
    except FileNotFoundError:
        return None


def _write_state(where: Layout, state: dict) -> None:
    tmp = where.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(where.state)


def _alive(state: dict) -> dict[str, bool]:
    return {name: bool(procs.running_members(rec)) for name, rec in state.get("processes", {}).items()}


# -- up ----------------------------------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the webserver binds: connections of a stopped server in TIME_WAIT don't count, a listener does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _executable(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise StackError(f"{name} not found (pip install -e . in the venv)")
    return found


def _postgres(where: Layout, state: dict, seed, echo) -> dict[str, str]:
    """Start (or find) PostgreSQL; the connection variables for the Dagster processes."""
    if os.environ.get("DAGSTER_PG_HOST"):
        missing = [v for v in (*PG_VARS, *URL_VARS) if not os.environ.get(v)]
        if missing:
            raise StackError(f"DAGSTER_PG_HOST is set, so these must be too: {', '.join(missing)}")
        state["postgres"] = {"local": False, "host": os.environ["DAGSTER_PG_HOST"], "started": False}
        echo(f"PostgreSQL: using {os.environ['DAGSTER_PG_HOST']}:{os.environ['DAGSTER_PG_PORT']} (not managed here)")
        return {v: os.environ[v] for v in (*PG_VARS, *URL_VARS)}
    server = databases.local_server(where.stack, where.log("postgres"))
    started = databases.start(server)
    state["postgres"] = {"local": True, "started": started, "data_dir": str(server.data_dir), "port": server.port}
    _write_state(where, state)
    echo(f"PostgreSQL: {'started' if started else 'already running (down leaves it running)'} "
         f"on 127.0.0.1:{server.port}, data {server.data_dir}")
    databases.ensure_databases(server)
    seeded = databases.seed_if_missing(server.url("dwh"), seed)
    if seeded:
        echo(seeded)
    return _local_connections(server)


def _local_connections(server) -> dict[str, str]:
    return {"DAGSTER_PG_HOST": server.host, "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USER": server.user, "DAGSTER_PG_PASSWORD": server.password,
            WAREHOUSE_URL_VAR: server.url("dwh"), REGISTRY_URL_VAR: server.url("registry")}


def _connections_again(where: Layout, state: dict) -> dict[str, str]:
    """The connection variables of a stack that is up (to start one of its processes again)."""
    if not (state.get("postgres") or {}).get("local"):
        return {v: os.environ[v] for v in (*PG_VARS, *URL_VARS) if v in os.environ}
    server = databases.local_server(where.stack, where.log("postgres"))
    if not databases.is_running(server):
        raise StackError("the stack's PostgreSQL is not running: `batch-training down`, then `up`")
    return _local_connections(server)


def _environment(where: Layout, connections: dict[str, str], ui_url: str, extra: dict[str, str] | None) -> dict:
    env = {**DAGSTER_EVENT_ENV, **os.environ, **connections, "BATCH_TRAINING_ENV": "production", "BATCH_TRAINING_HOME": str(where.home),
           "DAGSTER_HOME": str(where.dagster_home), "BATCH_TRAINING_UI_URL": ui_url}
    return {**env, **(extra or {})}


def _project_root(root: Path | None) -> Path:
    """Where the processes start and ``dagster.yaml`` comes from: ``root``, else the folder of
    ``$BATCH_TRAINING_DAGSTER_YAML``, else the first of the current folder and its parents holding a
    ``dagster.yaml`` (a checkout, or a deployment folder beside an installed package)."""
    if root is None and os.environ.get(INSTANCE_YAML_VAR):
        root = Path(os.environ[INSTANCE_YAML_VAR]).expanduser().resolve().parent
    here = Path.cwd().resolve()
    for candidate in ([root] if root else [here, *here.parents]):
        if (candidate / "dagster.yaml").is_file():
            return candidate
    raise StackError(f"no dagster.yaml in {root or f'{here} nor its parents'}: run from the repository or set "
                     f"{INSTANCE_YAML_VAR}")


# The workspace is the stack's own file: one code location, this package's definitions, so an
# installed package needs no checkout to find it.
_WORKSPACE = f"""\
load_from:
  - python_module:
      module_name: batch_training.definitions
      location_name: {LOCATION}
"""


def _dagster_home(where: Layout, root: Path) -> None:
    where.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / "dagster.yaml", where.dagster_home / "dagster.yaml")
    write_text_atomic(where.stack / "workspace.yaml", _WORKSPACE)


def _wait(what: str, check: Callable[[], None], state: dict, where: Layout, log: str, deadline: float) -> None:
    """Call ``check`` until it passes; fail early if a recorded process died or it is Broken."""
    last = "not asked yet"
    while True:
        dead = [name for name, ok in _alive(state).items() if not ok]
        if dead:
            raise StackError(f"{' and '.join(dead)} exited while waiting for {what}; see {where.log(dead[0])}")
        try:
            check()
            return
        except health.Broken as exc:
            raise StackError(f"{what}: {exc}; see {where.log(log)}") from None
        except health.NotReady as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise StackError(f"timed out waiting for {what} ({last}); see {where.log(log)}")
        time.sleep(1.0)


def _start_dagster(where: Layout, state: dict, env: dict, port: int, root: Path, deadline: float,
                   only: tuple[str, ...] = ("webserver", "daemon")) -> None:
    base = state["ui_url"]
    workspace = str(where.stack / "workspace.yaml")
    if "webserver" in only:
        web = [_executable("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace]
        state["processes"]["webserver"] = procs.start(web, env, where.log("webserver"), root)
        _write_state(where, state)
    # the webserver creates the instance's tables; the daemon starts once that is done (no race)
    _wait("the webserver (GET /server_info)", lambda: health.server_info(base), state, where, "webserver", deadline)
    daemon_started = time.time()
    if "daemon" in only:
        daemon = [_executable("dagster-daemon"), "run", "-w", workspace]
        state["processes"]["daemon"] = procs.start(daemon, env, where.log("daemon"), root)
        _write_state(where, state)
    _wait(f"code location {LOCATION!r} to load", lambda: health.location_loaded(base, LOCATION),
          state, where, "webserver", deadline)
    _wait("daemon heartbeats (scheduler, sensors, run queue)", lambda: health.daemons_healthy(base, daemon_started),
          state, where, "daemon", deadline)


def up(home: Path | str | None = None, port: int | None = None, seed=None, extra_env: dict[str, str] | None = None,
       timeout: float = READY_TIMEOUT_S, root: Path | None = None, echo: Callable[[str], None] = print) -> dict:
    """Start the stack (see the module's docs) and return its state; a no-op when it already runs.

    ``seed``: ``SeedOptions`` for a DWH that is seeded now (e.g. fewer days); ``extra_env``: more
    deployment settings for the webserver and daemon (e.g. ``BATCH_TRAINING_RELAUNCH_BACKOFF_S``).
    """
    where = layout(home)
    state = read_state(where)
    if state is not None:
        alive = _alive(state)
        if alive and all(alive.values()):
            echo(f"already up: {state['ui_url']} ({', '.join(f'{n} {_word(a)}' for n, a in alive.items())}); "
                 f"logs in {where.logs}")
            return state
        if any(alive.values()):
            return _restart(where, state, [n for n, ok in alive.items() if not ok], extra_env, timeout, root, echo)
        echo("a previous stack did not stop cleanly: cleaning up what it left")
        down(where.home, echo=echo)
    root = _project_root(root)
    port = port or int(os.environ.get("BATCH_TRAINING_UI_PORT") or DEFAULT_UI_PORT)
    if not _port_free(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use: choose another with --port or BATCH_TRAINING_UI_PORT")
    where.logs.mkdir(parents=True, exist_ok=True)
    ui_url = f"http://127.0.0.1:{port}"
    state = {"ui_url": ui_url, "port": port, "home": str(where.home), "logs": str(where.logs),
             "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "processes": {}}
    _write_state(where, state)
    deadline = time.monotonic() + timeout
    try:
        connections = _postgres(where, state, seed, echo)
        _dagster_home(where, root)
        _start_dagster(where, state, _environment(where, connections, ui_url, extra_env), port, root, deadline)
    except BaseException:
        echo("start-up failed: stopping what was started")
        down(where.home, echo=echo)
        raise
    _write_state(where, state)
    echo(f"Dagster UI: {ui_url}")
    echo(f"logs: {where.logs}/{{postgres,webserver,daemon}}.log")
    echo(f"DAGSTER_HOME: {where.dagster_home}; stop with `batch-training down` (or `make down`)")
    return state


def _restart(where: Layout, state: dict, dead: list[str], extra_env, timeout: float, root, echo) -> dict:
    """Start again the processes of a running stack that died (e.g. a killed daemon)."""
    echo(f"{' and '.join(dead)} not running: starting {'them' if len(dead) > 1 else 'it'} again")
    root = _project_root(root)
    env = _environment(where, _connections_again(where, state), state["ui_url"], extra_env)
    for name in dead:
        state["processes"].pop(name, None)
    _start_dagster(where, state, env, state["port"], root, time.monotonic() + timeout, only=tuple(dead))
    _write_state(where, state)
    echo(f"Dagster UI: {state['ui_url']}")
    return state


def _word(alive: bool) -> str:
    return "running" if alive else "not running"


# -- down --------------------------------------------------------------------------------------
def down(home: Path | str | None = None, timeout: float = procs.STOP_TIMEOUT_S,
         echo: Callable[[str], None] = print) -> bool:
    """Stop what ``up`` recorded; False (and a message) when nothing was recorded."""
    where = layout(home)
    state = read_state(where)
    if state is None:
        echo(f"nothing to stop: no stack recorded in {where.state}")
        return False
    for name in ("daemon", "webserver"):  # the daemon first: it launches runs
        record = state.get("processes", {}).get(name)
        if record:
            echo(f"{name} (process group {record['pgid']}): {procs.stop_group(record, timeout)}")
    pg = state.get("postgres") or {}
    if pg.get("local") and pg.get("started"):
        server = databases.local_server(where.stack, where.log("postgres"))
        echo(f"PostgreSQL on 127.0.0.1:{server.port}: {databases.stop(server)}")
    elif pg.get("local"):
        echo("PostgreSQL: left running (it was running before `up`)")
    where.state.unlink(missing_ok=True)
    return True
