"""A real, throwaway PostgreSQL server for tests and the benchmark (``batch_training.stack.postgres``),
as a pytest plugin (``pytest_plugins = ["batch_training_tests.support.postgres"]``) with the
fixtures ``postgres_server`` (one server per session), ``postgres_url`` (a new database per
test) and ``registry_url`` (SQLite, then PostgreSQL); tests that use the server are marked ``postgres``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from batch_training.stack.postgres import PostgresServer, postgres_available, running_postgres

__all__ = ["PostgresServer", "postgres_available", "running_postgres"]


# -- pytest plugin ------------------------------------------------------------------------------
def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (skipped where there is none, except in CI)."""
    if not postgres_available():
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if _in_ci():
            pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(message)
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database for this test."""
    name = f"t_{uuid.uuid4().hex}"
    url = postgres_server.create_database(name)
    yield url
    try:
        postgres_server.drop_database(name)
    except Exception:  # noqa: BLE001 - e.g. a test left the server stopped; it goes away at the end anyway
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry_url(request, tmp_path) -> str:
    """A registry database URL: a SQLite file, then a new PostgreSQL database (a test runs on each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry' / 'registry.sqlite'}"
    return request.getfixturevalue("postgres_url")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the server are marked ``postgres`` (so ``-m "not postgres"`` works)."""
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
