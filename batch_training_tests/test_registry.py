"""The model registry on SQLite (a temp file) and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import traceback

import pytest
import sqlalchemy as sa

from batch_training.cli.tables import format_history, format_versions
from batch_training.registry import (
    ConflictError,
    ModelVersion,
    NotFoundError,
    Registry,
    RegistryError,
    redact,
)
from batch_training.registry.schema import model_versions

SPEC = "flights_delay"


@pytest.fixture
def registry(registry_url):
    with Registry(registry_url) as reg:
        yield reg


def lineage(version: str, **overrides) -> dict:
    digits = "".join(c for c in version if c.isdigit())
    day = int(digits or 0) % 28 + 1
    values = dict(
        spec=SPEC, version=version, as_of=dt.date(2013, 12, day),
        data_window={"train": ["2013-11-01", "2013-11-30"], "holdout": [dt.date(2013, 12, 1), dt.date(2013, 12, 7)]},
        data_version=f"data-{version}", code_version="abc123", metrics={"mae": 12.5, "rmse": 20.25, "rows": 1000},
        artifact_uri=f"/artifacts/{version}/model.pt",
    )
    values.update(overrides)
    return values


def register(reg: Registry, *versions: str) -> list[ModelVersion]:
    return [reg.register(**lineage(v)) for v in versions]


def production_rows(reg: Registry, spec: str = SPEC) -> list[str]:
    with reg.engine.connect() as conn:
        return list(conn.execute(sa.select(model_versions.c.version)
                                 .where(model_versions.c.spec == spec, model_versions.c.status == "production")).scalars())


# -- register / get ---------------------------------------------------------------------------------
def test_register_and_get(registry):
    created = registry.register(**lineage("v1", bundle_uri="/b/v1.tar", bundle_hash="sha256:aa",
                                          image_ref="reg/flights:v1", image_digest="sha256:bb"))
    got = registry.get(SPEC, "v1")
    assert got == created
    assert (got.spec, got.version, got.status) == (SPEC, "v1", "candidate")
    assert got.as_of == dt.date(2013, 12, 2)
    assert got.data_window == {"train": ["2013-11-01", "2013-11-30"], "holdout": ["2013-12-01", "2013-12-07"]}
    assert got.metrics == {"mae": 12.5, "rmse": 20.25, "rows": 1000}
    assert (got.bundle_uri, got.bundle_hash, got.image_ref, got.image_digest) == (
        "/b/v1.tar", "sha256:aa", "reg/flights:v1", "sha256:bb")
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - got.created_at) < dt.timedelta(minutes=1)
    assert got.to_dict()["as_of"] == "2013-12-02" and got.to_dict()["metrics"]["mae"] == 12.5
    assert registry.production(SPEC) is None
    with pytest.raises(NotFoundError, match="v9"):
        registry.get(SPEC, "v9")
    with pytest.raises(KeyError):
        registry.get("other_spec", "v1")


def test_reregister_identical_returns_existing_row(registry):
    first = registry.register(**lineage("v1", metrics={"mae": 12.5, "bad": float("nan")}))
    again = registry.register(**lineage("v1", metrics={"mae": 12.5, "bad": float("nan")}))
    assert again == first and again.metrics == {"mae": 12.5, "bad": None}
    registry.promote(SPEC, "v1", "first model")
    rerun = registry.register(**lineage("v1", metrics={"mae": 12.5, "bad": float("nan")}))
    assert (rerun.id, rerun.status) == (first.id, "production")
    assert len(registry.versions(SPEC)) == 1


def test_reregister_with_different_content_is_refused(registry):
    register(registry, "v1")
    with pytest.raises(RegistryError, match="different artifact_uri, metrics"):
        registry.register(**lineage("v1", metrics={"mae": 99.0}, artifact_uri="/elsewhere.pt"))
    assert registry.get(SPEC, "v1").metrics["mae"] == 12.5


def test_register_validates_its_input(registry):
    with pytest.raises(RegistryError, match="then promote"):
        registry.register(**lineage("v1"), status="production")
    with pytest.raises(RegistryError, match="version"):
        registry.register(**lineage(" "))
    with pytest.raises(RegistryError, match="as_of must be a day"):
        registry.register(**lineage("v1", as_of=dt.datetime(2013, 12, 1, 5)))
    assert registry.versions(SPEC) == []


def test_register_rejected_is_recorded_with_its_reason(registry):
    rejected = registry.register(**lineage("v1"), status="rejected", reason="gate: MAE above champion")
    assert rejected.status == "rejected"
    [row] = registry.history(SPEC)
    assert (row["version"], row["from_status"], row["to_status"], row["reason"]) == (
        "v1", None, "rejected", "gate: MAE above champion")


def test_versions_newest_first_and_per_spec(registry):
    register(registry, "v3", "v1", "v2")
    registry.register(**lineage("v1", spec="other"))
    assert [v.version for v in registry.versions(SPEC)] == ["v2", "v1", "v3"]
    assert [v.version for v in registry.versions("other")] == ["v1"]
    assert registry.specs() == [SPEC, "other"]


# -- promote / reject ---------------------------------------------------------------------------------
def test_promote_first_then_second_archives_first(registry):
    register(registry, "v1", "v2")
    promoted = registry.promote(SPEC, "v1", "first model", actor="alice")
    assert promoted.status == "production" and registry.production(SPEC).version == "v1"
    registry.promote(SPEC, "v2", "MAE 12.1 < 12.5")
    assert registry.production(SPEC).version == "v2"
    assert registry.get(SPEC, "v1").status == "archived"
    history = [(h["version"], h["from_status"], h["to_status"], h["reason"], h["actor"]) for h in registry.history(SPEC)]
    assert history == [
        ("v1", "candidate", "production", "first model", "alice"),
        ("v1", "production", "archived", "MAE 12.1 < 12.5", "pipeline"),
        ("v2", "candidate", "production", "MAE 12.1 < 12.5", "pipeline"),
    ]
    assert all(h["at"].tzinfo is not None for h in registry.history(SPEC))
    assert production_rows(registry) == ["v2"]


def test_promote_refusals_and_no_ops(registry):
    register(registry, "v1", "v2", "v3")
    for reason in ("", "   "):
        with pytest.raises(RegistryError, match="reason"):
            registry.promote(SPEC, "v1", reason)
    with pytest.raises(NotFoundError):
        registry.promote(SPEC, "v9", "missing")
    registry.promote(SPEC, "v1", "first")
    assert registry.promote(SPEC, "v1", "again").status == "production"  # already there: nothing changes
    registry.reject(SPEC, "v2", "worse than champion")
    with pytest.raises(RegistryError, match="rejected"):
        registry.promote(SPEC, "v2", "try anyway")
    with pytest.raises(RegistryError, match="roll back"):
        registry.reject(SPEC, "v1", "reject the champion")
    assert [h["reason"] for h in registry.history(SPEC)] == ["first", "worse than champion"]
    assert registry.production(SPEC).version == "v1" and registry.get(SPEC, "v2").status == "rejected"


def test_promote_with_expected_production_is_compare_and_set(registry):
    register(registry, "v1", "v2", "v3")
    with pytest.raises(ConflictError, match="production is None"):
        registry.promote(SPEC, "v1", "first", expected_production="v0")
    registry.promote(SPEC, "v1", "first", expected_production=None)
    registry.promote(SPEC, "v2", "beat v1", expected_production="v1")
    with pytest.raises(ConflictError, match="expected 'v1'"):
        registry.promote(SPEC, "v3", "beat v1 too", expected_production="v1")
    assert registry.production(SPEC).version == "v2"


def test_database_refuses_a_second_production_row(registry):
    register(registry, "v1", "v2")
    registry.promote(SPEC, "v1", "first")
    row = {**lineage("v3"), "data_window": {"train": ["2013-11-01"]}}
    with registry.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        with conn.begin():
            conn.execute(sa.insert(model_versions).values(**row, status="production",
                                                          created_at=dt.datetime.now(dt.UTC)))
    with registry.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        with conn.begin():
            conn.execute(sa.update(model_versions).where(model_versions.c.version == "v2").values(status="production"))
    with registry.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        with conn.begin():
            conn.execute(sa.update(model_versions).where(model_versions.c.version == "v2").values(status="shipped"))
    assert production_rows(registry) == ["v1"]
    assert registry.get(SPEC, "v2").status == "candidate"


# -- rollback ----------------------------------------------------------------------------------------
def test_rollback_to_previous_and_back(registry):
    register(registry, "v1", "v2", "v3")
    with pytest.raises(RegistryError, match="no production version"):
        registry.rollback(SPEC, None, "nothing there")
    registry.promote(SPEC, "v1", "first")
    with pytest.raises(RegistryError, match="no earlier production"):
        registry.rollback(SPEC, None, "only one ever")
    registry.promote(SPEC, "v2", "second")
    restored = registry.rollback(SPEC, None, "v2 drifts in production", actor="oncall")
    assert restored.version == "v1" and restored.status == "production"
    assert registry.get(SPEC, "v2").status == "archived"
    last_two = [(h["version"], h["from_status"], h["to_status"], h["reason"], h["actor"])
                for h in registry.history(SPEC)[-2:]]
    assert last_two == [("v2", "production", "archived", "v2 drifts in production", "oncall"),
                        ("v1", "archived", "production", "v2 drifts in production", "oncall")]
    assert registry.rollback(SPEC, None, "undo the rollback").version == "v2"  # the one before v1 now
    assert production_rows(registry) == ["v2"]


def test_rollback_to_an_explicit_version(registry):
    register(registry, "v1", "v2", "v3", "v4")
    for v in ("v1", "v2", "v3"):
        registry.promote(SPEC, v, f"promote {v}")
    assert registry.rollback(SPEC, "v1", "back to the known good one").version == "v1"
    assert [registry.get(SPEC, v).status for v in ("v1", "v2", "v3", "v4")] == [
        "production", "archived", "archived", "candidate"]
    with pytest.raises(RegistryError, match="already in production"):
        registry.rollback(SPEC, "v1", "same")
    with pytest.raises(NotFoundError):
        registry.rollback(SPEC, "v9", "missing")
    registry.reject(SPEC, "v2", "found a leak in its features")
    with pytest.raises(RegistryError, match="rejected"):
        registry.rollback(SPEC, "v2", "back to the leaky one")
    assert production_rows(registry) == ["v1"]


def test_default_rollback_refuses_a_rejected_predecessor(registry):
    register(registry, "v1", "v2")
    registry.promote(SPEC, "v1", "first")
    registry.promote(SPEC, "v2", "second")
    registry.reject(SPEC, "v1", "bad labels")
    with pytest.raises(RegistryError, match="v1 was rejected"):
        registry.rollback(SPEC, None, "back")
    assert registry.production(SPEC).version == "v2"


# -- concurrency -------------------------------------------------------------------------------------
def assert_consistent_history(reg: Registry, base: str) -> list[str]:
    """Walk the history: every promotion archived the production version before it. Returns the
    production order."""
    prod, order = None, []
    for row in reg.history(SPEC):
        if row["to_status"] == "archived":
            assert (row["version"], row["from_status"]) == (prod, "production"), row
            prod = None
        else:
            assert row["to_status"] == "production" and prod is None, row
            prod = row["version"]
            order.append(prod)
    assert order[0] == base and prod == reg.production(SPEC).version
    return order


@pytest.mark.parametrize("registry_url, threads", [("sqlite", 4), pytest.param("postgresql", 8, marks=pytest.mark.postgres)],
                         indirect=["registry_url"])
def test_concurrent_promotions_are_serialized(registry_url, threads):
    """Each thread has its own Registry (own engine and connections) and promotes a different version
    at the same moment. By design they queue on the spec's lock: all succeed, one after the other."""
    names = [f"v{i}" for i in range(1, threads + 1)]
    with Registry(registry_url) as setup:
        register(setup, "v0", *names)
        setup.promote(SPEC, "v0", "base")
    barrier = threading.Barrier(threads)
    errors: dict[str, BaseException] = {}

    def promote(version: str) -> None:
        with Registry(registry_url) as reg:
            try:
                reg.production(SPEC)  # connect and check the schema before the race
                barrier.wait(timeout=30)
                reg.promote(SPEC, version, f"race {version}", actor=f"thread-{version}")
            except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
                errors[version] = exc

    workers = [threading.Thread(target=promote, args=(v,)) for v in names]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=90)
    assert not any(w.is_alive() for w in workers)
    assert not [e for e in errors.values() if not isinstance(e, ConflictError)], errors
    assert errors == {}  # serialized, not failed
    with Registry(registry_url) as reg:
        assert len(production_rows(reg)) == 1
        order = assert_consistent_history(reg, "v0")
        assert sorted(order[1:]) == names and len(reg.history(SPEC)) == 1 + 2 * threads
        winner = order[-1]
        assert {v.version: v.status for v in reg.versions(SPEC)} == {
            v: ("production" if v == winner else "archived") for v in ["v0", *names]}


# -- secrets -----------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _full_text(exc: BaseException) -> str:
    return str(exc) + "".join(traceback.format_exception(exc))


def test_password_never_in_errors():
    password = "S3cret-Pw_4registry"
    url = f"postgresql://bt:{password}@127.0.0.1:{_closed_port()}/registry"
    reg = Registry(url)
    assert password not in repr(reg) and "***" in reg.url
    with pytest.raises(RegistryError) as caught:
        reg.versions(SPEC)
    assert password not in _full_text(caught.value)
    assert "bt:***@127.0.0.1" in str(caught.value)
    with pytest.raises(RegistryError) as caught:
        Registry(f"mysql://bt:{password}@127.0.0.1/registry")
    assert password not in _full_text(caught.value) and "unsupported" in str(caught.value)
    with pytest.raises(RegistryError, match="SQLite file"):
        Registry("sqlite://")
    assert redact(url) == url.replace(password, "***")


@pytest.mark.postgres
def test_wrong_password_is_not_echoed(postgres_url):
    wrong = "Wr0ng-" + "p" * 12
    user_part, _, rest = postgres_url.partition("@")
    bad_url = user_part.rsplit(":", 1)[0] + f":{wrong}@{rest}"
    with pytest.raises(RegistryError, match="password authentication failed") as caught:
        Registry(bad_url).production(SPEC)
    assert wrong not in _full_text(caught.value)


# -- CLI text ----------------------------------------------------------------------------------------
def test_format_versions_and_history(registry):
    register(registry, "v1", "v2")
    registry.promote(SPEC, "v1", "first model")
    registry.promote(SPEC, "v2", "better\nMAE")
    table = format_versions(registry.versions(SPEC)).splitlines()
    assert table[0].split() == ["version", "status", "as_of", "metrics", "created"]
    assert table[2].split()[:5] == ["v2", "production", "2013-12-03", "mae=12.5", "rmse=20.25"]
    assert table[3].split()[:3] == ["v1", "archived", "2013-12-02"]
    assert table[3].endswith("Z") and len(table) == 4
    assert "mae=12.5" not in format_versions(registry.versions(SPEC), metrics=["rows"])
    history = format_history(registry.history(SPEC)).splitlines()
    assert history[0].split() == ["at", "version", "change", "actor", "reason"]
    assert history[2].split()[2:] == ["v1", "candidate", "->", "production", "pipeline", "first", "model"]
    assert history[-1].endswith("better MAE") and len(history) == 5
    assert format_versions([]) == "(no versions)" and format_history([]) == "(no history)"
