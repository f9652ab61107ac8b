"""Credentials are never shown, in every form libpq accepts them: the URL's userinfo, ``password=``
(and its kin) in the URL's query, and a key/value connection string; through the CLI too."""

from __future__ import annotations

import pytest

from batch_training.registry import Registry, RegistryError
from batch_training.urls import redact_url
from batch_training_tests.test_cli import run_cli

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("url, shown", [
    (f"postgresql://u:{SECRET}@db.example:5432/dwh", "postgresql://u:***@db.example:5432/dwh"),
    (f"postgres://:{SECRET}@db.example/dwh", "postgres://***@db.example/dwh"),
    (f"postgresql://db.example/dwh?user=u&password={SECRET}&sslmode=require",
     "postgresql://db.example/dwh?user=u&password=***&sslmode=require"),
    (f"postgresql://db.example/dwh?PASSWORD={SECRET}", "postgresql://db.example/dwh?PASSWORD=***"),
    (f"postgresql://db.example/dwh?sslpassword={SECRET}&sslkey=/k.pem", "postgresql://db.example/dwh?sslpassword=***&sslkey=/k.pem"),
    (f"host=db.example dbname=dwh password={SECRET} user=u", "host=db.example dbname=dwh password=*** user=u"),
    (f"host=db.example password = '{SECRET} with spaces' dbname=dwh", "host=db.example password=*** dbname=dwh"),
    (f"host=db.example password='it\\'s {SECRET}' dbname=dwh", "host=db.example password=*** dbname=dwh"),
    ("postgresql://u@db.example/dwh?sslmode=require", "postgresql://u@db.example/dwh?sslmode=require"),
    ("duckdb:///var/lib/dwh.duckdb", "duckdb:///var/lib/dwh.duckdb"),
])
def test_every_credential_form_is_redacted(url, shown):
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


def _query_form(postgres_url: str) -> tuple[str, str]:
    """The test server's URL with its password moved from the userinfo to the query."""
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    return (f"postgresql://{parts.hostname}:{parts.port}{parts.path}?user={parts.username}&password={parts.password}",
            parts.password)


def test_seed_never_prints_a_password_given_in_the_query(postgres_url, tmp_path):
    url, password = _query_form(postgres_url)
    done = run_cli("seed", "--warehouse", url, "--first-day", "2013-01-01", "--last-day", "2013-01-01", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "seeded postgresql://" in done.stdout and "password=***" in done.stdout
    assert password not in done.stdout + done.stderr
    wrong = url.replace(password, SECRET)
    failed = run_cli("seed", "--warehouse", wrong, "--first-day", "2013-01-01", "--last-day", "2013-01-01", home=tmp_path)
    assert failed.returncode == 2 and "password authentication failed" in failed.stderr
    assert SECRET not in failed.stdout + failed.stderr


def test_the_registry_hides_a_password_given_in_the_query(postgres_url):
    url, password = _query_form(postgres_url)
    with Registry(url) as registry:
        assert password not in repr(registry) and "password=***" in registry.url
        assert registry.versions("flights_delay") == []
    with pytest.raises(RegistryError) as failed, Registry(url.replace(password, SECRET)) as broken:
        broken.versions("flights_delay")
    assert SECRET not in str(failed.value) and "password authentication failed" in str(failed.value)
