"""The failure ledger: the operating team's record of failed jobs, one entry per failing partition.

An entry names the spec, job, asset and partition, the failure class (``transient``, ``data``,
``gate``, ``code``), a one-paragraph error summary, the failing run and where its log is, how many
times it was relaunched, and its status:

``open`` --request_relaunch--> ``open`` with a pending relaunch key --mark_rekicked (the run exists)--> ``rekicked``
``rekicked`` --record/reopen (failed again)--> ``open``
``open``/``rekicked`` --resolve (a later run succeeded)--> ``resolved``;  --ignore (with a reason)--> ``ignored``

A relaunch is two steps, so that none can be lost: the sensor first records the request's key on
the entries (they stay open, but are no longer due), and only once a run carrying that key
demonstrably exists are they marked re-kicked with the run's id. A request whose run never appeared
(the daemon died in between) is requested again with the same key on the next tick.

Recording is idempotent: the same run's failure of a partition is recorded once, however often a
sensor sees it (``failed_runs`` keeps every run recorded). A partition that is still open or
re-kicked keeps its one entry: a new failure updates it (and re-opens a re-kicked one) instead of
adding a second. Every change is one transaction of the registry's ``Database`` (``BEGIN IMMEDIATE``
on SQLite; the rows changed are locked ``FOR UPDATE`` on PostgreSQL). Errors are the registry's:
``RegistryError``, ``NotFoundError`` (also a ``KeyError``) and ``ConflictError``. No Dagster here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from batch_training.operations.ledger_schema import (
    ACTIVE,
    FAILURE_CLASSES,
    IGNORED,
    MAX_ERROR_CHARS,
    OPEN,
    REKICKED,
    RESOLVED,
    STATUSES,
    Failure,
    failures,
    from_row,
)
from batch_training.registry.database import Database
from batch_training.registry.values import non_empty, now
from batch_training.registry.versions import ConflictError, NotFoundError, RegistryError

__all__ = ["FAILURE_CLASSES", "STATUSES", "Failure", "Ledger"]

# What ``on_change`` hears besides RESOLVED and IGNORED (which name the new status)
RECORDED, RELAUNCHED = "recorded", "relaunched"


class Ledger:
    """The failure ledger in the registry's database (``sqlite:///path`` or ``postgresql://...``).

    The URL is a secret: ``repr`` and every error show it redacted. The table is created on first use.

    ``on_change(change, entries)``, when set, hears of every change once it is committed: ``recorded``
    (a failure, new or again), ``relaunched``, ``resolved`` and ``ignored``, with the entries as they
    now are (the Dagster side shows them on their asset partitions).
    """

    def __init__(self, url: str, on_change: Callable[[str, list[Failure]], None] | None = None):
        self._db = Database(url)
        self.on_change = on_change

    def _changed(self, change: str, entries: list[Failure]) -> None:
        if self.on_change is not None and entries:
            self.on_change(change, entries)

    @property
    def url(self) -> str:
        """The URL without its password."""
        return self._db.redacted

    def __repr__(self) -> str:
        return f"Ledger({self.url!r})"

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording -----------------------------------------------------------------------------
    def record(self, *, spec: str, job: str, asset: str, partition: str, failure_class: str, error: str,
               run_id: str, log_ref: str, next_attempt_at: dt.datetime | None = None) -> tuple[Failure, str]:
        """Record that ``run_id`` failed to materialize ``asset``/``partition``; ``(entry, outcome)``
        with outcome ``"created"``, ``"updated"`` or ``"seen"``.

        The same run's failure again returns its entry untouched (``"seen"``). An open or re-kicked
        entry of the partition is updated instead of adding a second one (``"updated"``): its error,
        class, job, run, log and next attempt become this failure's, and a re-kicked one is open again.
        """
        values = {
            "spec": non_empty(spec, "spec name"), "job": non_empty(job, "job name"),
            "asset": non_empty(asset, "asset key"), "partition_key": _partition(partition),
            "failure_class": _failure_class(failure_class), "error": summarize(error),
            "run_id": non_empty(run_id, "run id"), "log_ref": non_empty(log_ref, "log reference"),
            "next_attempt_at": _when(next_attempt_at, "next_attempt_at"),
        }
        for attempt in range(2):
            try:
                with self._db.write() as conn:
                    entry, outcome = _record(conn, values)
                if outcome != "seen":
                    self._changed(RECORDED, [entry])
                return entry, outcome
            except ConflictError:  # another process inserted the partition's entry first: update it
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- reading -------------------------------------------------------------------------------
    def get(self, id: int) -> Failure:
        """The entry; ``NotFoundError`` (a ``RegistryError`` and ``KeyError``) when there is none."""
        with self._db.read() as conn:
            return _get(conn, id)

    def list(self, *, spec: str | None = None, status: str | Sequence[str] | None = None) -> list[Failure]:
        """Entries, oldest first; optionally of one spec and with the given status(es)."""
        query = sa.select(failures).order_by(failures.c.id)
        if spec is not None:
            query = query.where(failures.c.spec == spec)
        if status is not None:
            query = query.where(failures.c.status.in_(_statuses(status)))
        with self._db.read() as conn:
            return [from_row(r) for r in conn.execute(query)]

    def due(self, now: dt.datetime, failure_class: str | None = "transient") -> list[Failure]:
        """Open entries of the class (any class for ``None``) whose next attempt is due at ``now``
        (or not set), the longest waiting first."""
        at = _when(now, "now")
        query = sa.select(failures).where(
            failures.c.status == OPEN, failures.c.relaunch_key.is_(None),
            sa.or_(failures.c.next_attempt_at.is_(None), failures.c.next_attempt_at <= at),
        ).order_by(sa.func.coalesce(failures.c.next_attempt_at, failures.c.created_at), failures.c.id)
        if failure_class is not None:
            query = query.where(failures.c.failure_class == _failure_class(failure_class))
        with self._db.read() as conn:
            return [from_row(r) for r in conn.execute(query)]

    def pending(self) -> list[Failure]:
        """Open entries with a relaunch requested but not yet seen to exist, oldest request first."""
        query = sa.select(failures).where(failures.c.status == OPEN, failures.c.relaunch_key.is_not(None)) \
            .order_by(failures.c.relaunch_requested_at, failures.c.id)
        with self._db.read() as conn:
            return [from_row(r) for r in conn.execute(query)]

    # -- transitions ---------------------------------------------------------------------------
    def request_relaunch(self, ids: Sequence[int], key: str, at: dt.datetime) -> list[Failure]:
        """A relaunch with request key ``key`` is being asked for these open entries: they are no
        longer due, and wait for the run to appear (``mark_rekicked``). All or none."""
        ids = list(dict.fromkeys(_id(i) for i in ids))
        key, when = non_empty(key, "relaunch key"), _when(at, "at")
        with self._db.write() as conn:
            rows = {f.id: f for f in _locked(conn, failures.c.id.in_(ids))}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise NotFoundError(f"no ledger entries {missing}")
            wrong = [f"#{f.id} is {f.status}" for f in rows.values() if f.status != OPEN]
            if wrong:
                raise RegistryError(f"only open entries can be relaunched: {', '.join(wrong)}")
            conn.execute(sa.update(failures).where(failures.c.id.in_(ids)).values(
                relaunch_key=key, relaunch_requested_at=when, updated_at=now()))
            return [_get(conn, i) for i in ids]

    def mark_rekicked(self, ids: Sequence[int], run_id: str, next_attempt_at: dt.datetime | None = None, *,
                      backfill_id: str | None = None) -> list[Failure]:
        """Run ``run_id`` (or backfill ``backfill_id``, whose id is then ``run_id`` too) relaunches these
        open (or re-kicked) entries: each counts one more attempt. All or none: an unknown id or a
        resolved/ignored entry refuses the lot. Marking an entry again for the same run changes
        nothing (a sensor that retries its tick counts once)."""
        ids = list(dict.fromkeys(_id(i) for i in ids))
        run_id = non_empty(run_id, "run id")
        next_at = _when(next_attempt_at, "next_attempt_at")
        if not ids:
            return []
        with self._db.write() as conn:
            rows = {f.id: f for f in _locked(conn, failures.c.id.in_(ids))}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise NotFoundError(f"no ledger entries {missing}")
            closed = [f"#{f.id} is {f.status}" for f in rows.values() if f.status not in ACTIVE]
            if closed:
                raise RegistryError(f"only open or re-kicked entries can be re-kicked: {', '.join(closed)}")
            todo = [i for i in ids if not (rows[i].status == REKICKED and rows[i].last_run_id == run_id)]
            if todo:
                values = {"backfill_id": backfill_id} if backfill_id else {}
                conn.execute(sa.update(failures).where(failures.c.id.in_(todo)).values(
                    attempts=failures.c.attempts + 1, status=REKICKED, last_run_id=run_id,
                    next_attempt_at=next_at, relaunch_key=None, relaunch_requested_at=None, updated_at=now(), **values))
            out = [_get(conn, i) for i in ids]
        self._changed(RELAUNCHED, [e for e in out if e.id in todo])
        return out

    def reopen(self, id: int, error: str, run_id: str, next_attempt_at: dt.datetime | None, *,
               log_ref: str | None = None) -> Failure:
        """A relaunch (``run_id``) failed again: the entry is open, with this failure's error and run.
        Without ``log_ref``, the stored one is pointed at the new run (its run id replaced)."""
        error, run_id = summarize(error), non_empty(run_id, "run id")
        next_at = _when(next_attempt_at, "next_attempt_at")
        with self._db.write() as conn:
            entry = _get(conn, id, lock=True)
            if entry.status not in ACTIVE:
                raise RegistryError(f"ledger entry #{id} is {entry.status}; only open or re-kicked entries reopen")
            if log_ref is None:
                log_ref = entry.log_ref.replace(entry.run_id, run_id) if entry.run_id in entry.log_ref \
                    else f"dagster run {run_id}"
            _update(conn, entry, status=OPEN, error=error, run_id=run_id, last_run_id=run_id,
                    log_ref=non_empty(log_ref, "log reference"), next_attempt_at=next_at,
                    failed_runs=_with_run(entry.failed_runs, run_id))
            out = _get(conn, id)
        self._changed(RECORDED, [out])
        return out

    def resolve(self, *, spec: str, asset: str, partition: str, run_id: str) -> list[Failure]:
        """A later run (``run_id``) materialized the partition: its open and re-kicked entries are
        resolved. Returns them (none when nothing was failing)."""
        run_id = non_empty(run_id, "run id")
        with self._db.write() as conn:
            active = _locked(conn, failures.c.spec == spec, failures.c.asset == asset,
                             failures.c.partition_key == _partition(partition), failures.c.status.in_(ACTIVE))
            for entry in active:
                _update(conn, entry, status=RESOLVED, reason=f"resolved by successful run {run_id}",
                        last_run_id=run_id, next_attempt_at=None, **_NOT_PENDING)
            out = [_get(conn, entry.id) for entry in active]
        self._changed(RESOLVED, out)
        return out

    def ignore(self, id: int, reason: str) -> Failure:
        """Stop tracking an open or re-kicked entry, saying why. Ignoring it again changes nothing;
        a resolved entry is refused."""
        reason = non_empty(reason, "reason")
        with self._db.write() as conn:
            entry = _get(conn, id, lock=True)
            if entry.status == IGNORED:
                return entry
            if entry.status == RESOLVED:
                raise RegistryError(f"ledger entry #{id} is already resolved ({entry.reason}); not ignoring it")
            _update(conn, entry, status=IGNORED, reason=reason, next_attempt_at=None, **_NOT_PENDING)
            out = _get(conn, id)
        self._changed(IGNORED, [out])
        return out


def summarize(error: str) -> str:
    """One paragraph (whitespace collapsed), cut to ``MAX_ERROR_CHARS`` with an ellipsis."""
    text = " ".join(str(error or "").split()) or "(no error message)"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# -- statements (all run inside the caller's transaction) -------------------------------------------
_NOT_PENDING = {"relaunch_key": None, "relaunch_requested_at": None}


def _record(conn: Connection, values: dict[str, Any]) -> tuple[Failure, str]:
    run_id = values["run_id"]
    entries = _locked(conn, failures.c.spec == values["spec"], failures.c.asset == values["asset"],
                      failures.c.partition_key == values["partition_key"])
    seen = next((f for f in entries if run_id in f.failed_runs), None)
    if seen is not None:
        return seen, "seen"
    active = next((f for f in entries if f.status in ACTIVE), None)
    if active is not None:
        # a pending relaunch stays pending: its run, once seen, still counts as an attempt
        _update(conn, active, status=OPEN, last_run_id=run_id, failed_runs=_with_run(active.failed_runs, run_id),
                **{k: values[k] for k in ("job", "failure_class", "error", "run_id", "log_ref", "next_attempt_at")})
        return _get(conn, active.id), "updated"
    at = now()
    inserted = conn.execute(sa.insert(failures).values(
        **values, failed_runs=[run_id], attempts=0, status=OPEN, created_at=at, updated_at=at))
    return _get(conn, inserted.inserted_primary_key[0]), "created"


def _locked(conn: Connection, *where: Any) -> list[Failure]:
    """The matching entries, locked until the transaction ends (``FOR UPDATE`` on PostgreSQL; on
    SQLite the write transaction already holds the database's lock and SQLAlchemy omits the clause)."""
    rows = conn.execute(sa.select(failures).where(*where).order_by(failures.c.id).with_for_update())
    return [from_row(r) for r in rows]


def _get(conn: Connection, id: int, lock: bool = False) -> Failure:
    id = _id(id)
    found = _locked(conn, failures.c.id == id) if lock else [
        from_row(r) for r in conn.execute(sa.select(failures).where(failures.c.id == id))]
    if not found:
        raise NotFoundError(f"no ledger entry #{id}")
    return found[0]


def _update(conn: Connection, entry: Failure, **values: Any) -> None:
    done = conn.execute(sa.update(failures).where(failures.c.id == entry.id, failures.c.status == entry.status)
                        .values(updated_at=now(), **values))
    if done.rowcount != 1:  # cannot happen under the row lock; refuse rather than write a wrong state
        raise ConflictError(f"ledger entry #{entry.id} changed concurrently")


def _id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RegistryError(f"a ledger entry id is a number, not {value!r}") from None


def _with_run(runs: tuple[str, ...], run_id: str) -> list[str]:
    return [*runs, run_id] if run_id not in runs else list(runs)


def _when(value: dt.datetime | None, what: str) -> dt.datetime | None:
    """Aware datetimes in UTC (SQLite stores them as text without a zone); naive ones are refused,
    as a naive ``datetime.now()`` is local time."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise RegistryError(f"{what} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(dt.UTC)


def _partition(partition: str) -> str:
    if not isinstance(partition, str):
        raise RegistryError(f"a partition key is text ('' for an unpartitioned asset), not {partition!r}")
    return partition  # as Dagster spells it: the key must match its materializations


def _failure_class(value: str) -> str:
    if value not in FAILURE_CLASSES:
        raise RegistryError(f"unknown failure class {value!r} (one of {', '.join(FAILURE_CLASSES)})")
    return value


def _statuses(status: str | Sequence[str]) -> list[str]:
    wanted = [status] if isinstance(status, str) else list(status)
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise RegistryError(f"unknown ledger status {unknown} (one of {', '.join(STATUSES)})")
    return wanted
