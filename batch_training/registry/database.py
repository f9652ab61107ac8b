"""The registry's database: URL parsing, engine set-up, transactions and error translation.

``sqlite:///path`` (the embedded default) or ``postgresql://user:pw@host:port/db`` (production). The
URL is a secret: only ``redact(url)`` may appear in messages, and driver messages are scrubbed of the
password before they are re-raised.

Write transactions serialize per spec (see ``Database.lock_spec``): on SQLite every write transaction
starts with ``BEGIN IMMEDIATE`` (one writer at a time, others wait up to the busy timeout); on
PostgreSQL the spec's rows are locked with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from batch_training.errors import CONFIG, TRANSIENT
from batch_training.libpq import connect_failure_class, sqlstate_class
from batch_training.registry.migrations import migrate  # (declares the ledger's table too)
from batch_training.registry.schema import metadata, model_versions
from batch_training.registry.versions import ConflictError, RegistryConfigError, RegistryError, RegistryUnavailable
from batch_training.urls import SECRET_KEYS, redact_url

BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
_WRITE = "registry_write"
# PostgreSQL SQLSTATEs that mean "a concurrent transaction got in the way": serialization failure,
# deadlock, lock not available.
_PG_CONFLICT_CODES = {"40001", "40P01", "55P03"}
_SCHEMA_LOCK_KEY = 0x62745F7265670001  # pg_advisory_xact_lock key while creating the schema ("bt_reg")


redact = redact_url  # the registry's name for it


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL with an explicit driver: psycopg2 for ``postgresql://``, pysqlite for SQLite."""
    try:
        parsed = sa.make_url(url)
    except Exception:  # noqa: BLE001 - its message quotes the whole URL, password included
        raise RegistryError(f"not a registry URL: {redact(url)!r}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        driver = parsed.get_driver_name() if "+" in parsed.drivername else "psycopg2"
        return parsed.set(drivername=f"postgresql+{driver}")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
            raise RegistryError(f"the registry needs a SQLite file (sqlite:///path), not {redact(url)!r}")
        return parsed.set(drivername="sqlite+pysqlite")
    raise RegistryError(f"unsupported registry URL {redact(url)!r} (use sqlite:///path or postgresql://...)")


class Database:
    """One engine plus the registry's transaction and error conventions."""

    def __init__(self, url: str):
        self.url = parse_url(url)
        self.redacted = redact(url)
        self.dialect = self.url.get_backend_name()
        self._secrets = _secret_forms(self.url)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        if self.dialect == "sqlite":
            Path(self.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_S})
            _configure_sqlite(self.engine)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                           connect_args={"connect_timeout": CONNECT_TIMEOUT_S})

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Connection]:
        self.ensure_schema()
        with self.errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it holds the database's write lock from its first statement."""
        self.ensure_schema()
        with self.errors(), self._write_connection() as conn:
            yield conn

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def lock_spec(self, conn: Connection, spec: str) -> None:
        """Serialize lifecycle changes of one spec until the transaction ends.

        PostgreSQL: lock every row of the spec, in id order (the same order for everybody, so two
        promoters cannot deadlock). A second promoter waits here; once the first commits, its reads
        see the committed state (READ COMMITTED takes a new snapshot per statement). SQLite: the
        transaction already holds the database's write lock (``BEGIN IMMEDIATE``).
        """
        if self.dialect == "postgresql":
            conn.execute(sa.select(model_versions.c.id).where(model_versions.c.spec == spec)
                         .order_by(model_versions.c.id).with_for_update())

    def ensure_schema(self) -> None:
        """Create the tables on first use; safe when several processes start at once."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self.errors(), self._write_connection() as conn:
                if self.dialect == "postgresql":  # two first users must not both CREATE TABLE
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
                metadata.create_all(conn, checkfirst=True)
                migrate(conn, self.dialect)
            self._schema_ready = True

    def dispose(self) -> None:
        self.engine.dispose()

    # -- errors --------------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Database errors as ``RegistryError``/``ConflictError``, with no password in them."""
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate(exc) from None

    def translate(self, exc: sa_exc.SQLAlchemyError) -> RegistryError:
        detail = self.scrub(_first_line(getattr(exc, "orig", None) or exc))
        if _is_conflict(exc):
            return ConflictError(f"concurrent change in the registry ({self.redacted}): {detail}")
        text = f"registry database {self.redacted} failed: {detail}"
        orig = getattr(exc, "orig", None)
        state = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
        found = sqlstate_class(state) if state else None
        if found is None and isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            found = connect_failure_class(detail) if self.dialect == "postgresql" else _sqlite_class(detail)
        kind = {CONFIG: RegistryConfigError, TRANSIENT: RegistryUnavailable}.get(found or "", RegistryError)
        return kind(text)


def _is_conflict(exc: sa_exc.SQLAlchemyError) -> bool:
    if isinstance(exc, sa_exc.IntegrityError):
        return True  # only reached where a race broke a unique rule; callers handle the expected cases
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) in _PG_CONFLICT_CODES or getattr(orig, "sqlstate", None) in _PG_CONFLICT_CODES:
        return True
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(orig)


def _sqlite_class(detail: str) -> str:
    """SQLite's operational errors: a file that cannot be opened is a setting; the rest is transient."""
    return CONFIG if "unable to open database file" in detail else TRANSIENT


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys, WAL, a busy timeout; and transactions we begin ourselves (pysqlite's own
    transaction handling would defer BEGIN and never take the write lock up front)."""

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # autocommit at the driver: SQLAlchemy's begin event issues BEGIN
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses at most the last commits
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _secret_forms(url: URL) -> list[str]:
    """Every credential of the URL (its password, credential query parameters), in each spelling a
    driver might echo."""
    found = [url.password] + [v for k, v in url.query.items() if k.lower() in SECRET_KEYS]
    forms = set()
    for value in found:
        for one in ([value] if isinstance(value, str) else list(value or ())):
            if one:
                forms |= {one, quote(one, safe=""), quote_plus(one)}
    return sorted(forms, key=len, reverse=True)


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
