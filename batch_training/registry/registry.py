"""``Registry``: register model versions with their lineage, and move them through their lifecycle.

Statuses: ``candidate`` (registered) -> ``production`` (promoted) -> ``archived`` (replaced), or
``rejected`` (never to ship). Every status change is one transaction that also appends to the
``promotions`` history, with a reason and an actor.

Concurrency: lifecycle changes of one spec are **serialized, not failed**. Two processes promoting
different versions at once both succeed, one after the other: the second waits for the first to
commit, then archives the first's version (so the history reads A -> B -> C, never a fork). A caller
that must not overwrite a champion it has not seen passes ``expected_production=`` (compare-and-set):
a mismatch raises ``ConflictError``. ``ConflictError`` is also what a lost race looks like when the
database itself intervenes (busy timeout, deadlock, the one-production-row index).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from batch_training.registry.database import Database
from batch_training.registry.schema import model_versions as mv
from batch_training.registry.schema import promotions
from batch_training.registry.values import (
    history_from_row,
    non_empty,
    now,
    to_day,
    to_json,
    version_from_row,
)
from batch_training.registry.versions import (
    ARCHIVED,
    CANDIDATE,
    PRODUCTION,
    REJECTED,
    ConflictError,
    ModelVersion,
    NotFoundError,
    RegistryError,
)

_ANY: Any = object()  # "whatever is in production now"


class Registry:
    """A model registry in SQLite (``sqlite:///path``) or PostgreSQL (``postgresql://...``).

    The URL is a secret: ``str(registry)`` and every error show it redacted. Tables are created on
    first use. One instance may be shared by threads.
    """

    def __init__(self, url: str):
        self._db = Database(url)

    @property
    def url(self) -> str:
        """The URL without its password."""
        return self._db.redacted

    @property
    def engine(self) -> Engine:
        return self._db.engine

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registering ---------------------------------------------------------------------------
    def register(self, *, spec: str, version: str, as_of: dt.date, data_window: dict, data_version: str,
                 code_version: str, metrics: dict, artifact_uri: str, bundle_uri: str | None = None,
                 bundle_hash: str | None = None, image_ref: str | None = None, image_digest: str | None = None,
                 status: str = CANDIDATE, reason: str | None = None) -> ModelVersion:
        """Record a new version. Registering the same spec+version again with the same content returns
        the stored row (a re-run is harmless, whatever its status now); different content is an error.
        ``status`` is ``candidate`` or ``rejected`` (a model that failed its gate, kept for the record;
        ``reason`` then goes to the history). Production is reached only through ``promote``."""
        spec, version = non_empty(spec, "spec name"), non_empty(version, "version")
        if status not in (CANDIDATE, REJECTED):
            raise RegistryError(f"register as {CANDIDATE!r} or {REJECTED!r}, not {status!r}; then promote")
        for name, value in (("data_window", data_window), ("metrics", metrics)):
            if not isinstance(value, Mapping):
                raise RegistryError(f"{name} must be a mapping, not {type(value).__name__}")
        content = {
            "as_of": to_day(as_of, "as_of"), "data_window": to_json(data_window, "data_window"),
            "data_version": non_empty(data_version, "data_version"),
            "code_version": non_empty(code_version, "code_version"), "metrics": to_json(metrics, "metrics"),
            "artifact_uri": non_empty(artifact_uri, "artifact_uri"), "bundle_uri": bundle_uri,
            "bundle_hash": bundle_hash, "image_ref": image_ref, "image_digest": image_digest,
        }
        existing = self._find(spec, version)
        if existing is not None:
            return _same_content(existing, content)
        try:
            with self._db.write() as conn:
                at = now()
                conn.execute(sa.insert(mv).values(spec=spec, version=version, status=status, created_at=at, **content))
                if status == REJECTED:
                    _append(conn, spec, version, None, REJECTED, reason or "rejected when registered", "registry", at)
                return _get(conn, spec, version)
        except ConflictError:  # registered by someone else meanwhile
            existing = self._find(spec, version)
            if existing is None:
                raise
            return _same_content(existing, content)

    # -- reading -------------------------------------------------------------------------------
    def get(self, spec: str, version: str) -> ModelVersion:
        """The version; ``NotFoundError`` (a ``RegistryError`` and ``KeyError``) when there is none."""
        with self._db.read() as conn:
            return _get(conn, spec, version)

    def production(self, spec: str) -> ModelVersion | None:
        with self._db.read() as conn:
            return _production(conn, spec)

    def versions(self, spec: str) -> list[ModelVersion]:
        """All versions of the spec, the most recently registered first."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(mv).where(mv.c.spec == spec).order_by(mv.c.id.desc()))
            return [version_from_row(r) for r in rows]

    def specs(self) -> list[str]:
        with self._db.read() as conn:
            return list(conn.execute(sa.select(mv.c.spec).distinct().order_by(mv.c.spec)).scalars())

    def history(self, spec: str) -> list[dict]:
        """The status changes of the spec's versions, oldest first (dicts: id, spec, version,
        from_status, to_status, reason, actor, at)."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(promotions).where(promotions.c.spec == spec).order_by(promotions.c.id))
            return [history_from_row(r) for r in rows]

    # -- lifecycle -----------------------------------------------------------------------------
    def promote(self, spec: str, version: str, reason: str, actor: str = "pipeline", *,
                expected_production: str | None = _ANY) -> ModelVersion:
        """Make ``version`` the spec's production model and archive the one it replaces, in one
        transaction. Promoting the version already in production changes nothing. A rejected
        version cannot be promoted. With ``expected_production`` (a version, or ``None`` for "no
        production yet"), a different production version raises ``ConflictError``."""
        reason, actor = non_empty(reason, "reason"), non_empty(actor, "actor")
        with self._db.write() as conn:
            self._db.lock_spec(conn, spec)
            target = _get(conn, spec, version)
            current = _production(conn, spec)
            current_version = current.version if current else None
            if expected_production is not _ANY and expected_production != current_version:
                raise ConflictError(f"{spec}: production is {current_version!r}, expected "
                                    f"{expected_production!r}; not promoting {version!r}")
            if target.status == PRODUCTION:
                return target
            if target.status == REJECTED:
                raise RegistryError(f"{spec} {version} was rejected and cannot be promoted")
            return _switch(conn, current, target, reason, actor)

    def reject(self, spec: str, version: str, reason: str, actor: str = "pipeline") -> ModelVersion:
        """Mark a candidate (or archived) version as never to ship. Rejecting a rejected version
        changes nothing; the production version must be rolled back first."""
        reason, actor = non_empty(reason, "reason"), non_empty(actor, "actor")
        with self._db.write() as conn:
            self._db.lock_spec(conn, spec)
            target = _get(conn, spec, version)
            if target.status == REJECTED:
                return target
            if target.status == PRODUCTION:
                raise RegistryError(f"{spec} {version} is in production: roll back before rejecting it")
            _move(conn, target, REJECTED, reason, actor, now())
            return _get(conn, spec, version)

    def rollback(self, spec: str, to_version: str | None, reason: str, actor: str = "operator") -> ModelVersion:
        """Re-point production to ``to_version`` (registered, not rejected), or by default to the version
        that was in production before the current one (from the history, so rolling back twice
        returns to where it started). The current one is archived."""
        reason, actor = non_empty(reason, "reason"), non_empty(actor, "actor")
        with self._db.write() as conn:
            self._db.lock_spec(conn, spec)
            current = _production(conn, spec)
            if current is None:
                raise RegistryError(f"{spec} has no production version to roll back")
            if to_version is None:
                to_version = _previous_production(conn, spec, current.version)
                if to_version is None:
                    raise RegistryError(f"{spec}: no earlier production version than {current.version!r}")
            target = _get(conn, spec, to_version)
            if target.version == current.version:
                raise RegistryError(f"{spec} {to_version} is already in production")
            if target.status == REJECTED:
                raise RegistryError(f"{spec} {to_version} was rejected; refusing to roll back to it")
            return _switch(conn, current, target, reason, actor)

    def _find(self, spec: str, version: str) -> ModelVersion | None:
        try:
            return self.get(spec, version)
        except NotFoundError:
            return None


# -- statements (all run inside the caller's transaction) -------------------------------------------
def _get(conn: Connection, spec: str, version: str) -> ModelVersion:
    row = conn.execute(sa.select(mv).where(mv.c.spec == spec, mv.c.version == version)).first()
    if row is None:
        raise NotFoundError(f"no version {version!r} of spec {spec!r} in the registry")
    return version_from_row(row)


def _production(conn: Connection, spec: str) -> ModelVersion | None:
    row = conn.execute(sa.select(mv).where(mv.c.spec == spec, mv.c.status == PRODUCTION)).first()
    return None if row is None else version_from_row(row)


def _previous_production(conn: Connection, spec: str, current: str) -> str | None:
    promoted = conn.execute(sa.select(promotions.c.version)
                            .where(promotions.c.spec == spec, promotions.c.to_status == PRODUCTION)
                            .order_by(promotions.c.id.desc())).scalars()
    return next((v for v in promoted if v != current), None)


def _switch(conn: Connection, current: ModelVersion | None, target: ModelVersion,
            reason: str, actor: str) -> ModelVersion:
    at = now()
    if current is not None:  # archive first: the one-production index checks every statement
        _move(conn, current, ARCHIVED, reason, actor, at)
    _move(conn, target, PRODUCTION, reason, actor, at)
    return _get(conn, target.spec, target.version)


def _move(conn: Connection, mver: ModelVersion, to_status: str, reason: str, actor: str, at: dt.datetime) -> None:
    done = conn.execute(sa.update(mv).where(mv.c.id == mver.id, mv.c.status == mver.status).values(status=to_status))
    if done.rowcount != 1:  # cannot happen under the spec lock; refuse rather than write a wrong history
        raise ConflictError(f"{mver.spec} {mver.version} changed status concurrently")
    _append(conn, mver.spec, mver.version, mver.status, to_status, reason, actor, at)


def _append(conn: Connection, spec: str, version: str, from_status: str | None, to_status: str,
            reason: str, actor: str, at: dt.datetime) -> None:
    conn.execute(sa.insert(promotions).values(spec=spec, version=version, from_status=from_status,
                                              to_status=to_status, reason=reason, actor=actor, at=at))


def _same_content(existing: ModelVersion, content: dict[str, Any]) -> ModelVersion:
    differing = sorted(k for k, v in content.items() if getattr(existing, k) != v)
    if differing:
        raise RegistryError(f"{existing.spec} {existing.version} is already registered with different "
                            f"{', '.join(differing)}; register the new model under a new version")
    return existing
