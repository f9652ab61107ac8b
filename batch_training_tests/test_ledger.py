"""The failure ledger on SQLite (a temp file) and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from batch_training.cli.tables import format_failures
from batch_training.operations.ledger import Failure, Ledger
from batch_training.registry import NotFoundError, Registry, RegistryError

SPEC = "flights_delay"
ASSET = "raw_flights"
T0 = dt.datetime(2014, 1, 5, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def ledger(registry_url):
    with Ledger(registry_url) as led:
        yield led


def fail(led: Ledger, run_id: str, partition: str = "2013-12-01", **overrides) -> tuple[Failure, str]:
    values = dict(spec=SPEC, job="daily_ingest", asset=ASSET, partition=partition, failure_class="transient",
                  error=f"connection reset in {run_id}", run_id=run_id,
                  log_ref=f"dagster run {run_id} (UI: http://dagit:3000/runs/{run_id})")
    values.update(overrides)
    return led.record(**values)


# -- record -----------------------------------------------------------------------------------------
def test_record_creates_an_open_entry(ledger):
    entry, created = fail(ledger, "run-aaaaaaaa-1", next_attempt_at=T0)
    assert created == "created"
    assert (entry.spec, entry.job, entry.asset, entry.partition, entry.failure_class) == (
        SPEC, "daily_ingest", ASSET, "2013-12-01", "transient")
    assert (entry.status, entry.attempts, entry.reason, entry.last_run_id) == ("open", 0, None, None)
    assert (entry.run_id, entry.failed_runs, entry.error) == ("run-aaaaaaaa-1", ("run-aaaaaaaa-1",),
                                                              "connection reset in run-aaaaaaaa-1")
    assert entry.log_ref == "dagster run run-aaaaaaaa-1 (UI: http://dagit:3000/runs/run-aaaaaaaa-1)"
    assert entry.next_attempt_at == T0 and entry.next_attempt_at.tzinfo is not None
    assert entry.created_at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - entry.created_at) < dt.timedelta(minutes=1)
    assert ledger.get(entry.id) == entry
    as_dict = entry.to_dict()
    assert as_dict["next_attempt_at"] == "2014-01-05T06:00:00+00:00"
    assert as_dict["failed_runs"] == ["run-aaaaaaaa-1"] and as_dict["status"] == "open"


def test_record_is_idempotent_per_run_and_partition(ledger):
    first, _ = fail(ledger, "run-1")
    again, created = fail(ledger, "run-1", error="a different message", failure_class="code")
    assert created == "seen"
    assert again == first  # untouched: same error, class, updated_at
    other_day, created = fail(ledger, "run-1", partition="2013-12-02")
    assert created == "created" and other_day.id != first.id
    assert [f.partition for f in ledger.list()] == ["2013-12-01", "2013-12-02"]


def test_one_entry_per_failing_partition_counts_relaunches(ledger):
    first, _ = fail(ledger, "run-1")
    [rekicked] = ledger.mark_rekicked([first.id], "relaunch-2", next_attempt_at=T0)
    assert (rekicked.status, rekicked.attempts, rekicked.last_run_id) == ("rekicked", 1, "relaunch-2")

    # the relaunch failed too: the same entry, open again, with the new failure
    again, created = fail(ledger, "relaunch-2", failure_class="data", error="quarantine rate 40%",
                          job="backfill", next_attempt_at=T0 + dt.timedelta(hours=1))
    assert created == "updated" and again.id == first.id
    assert (again.status, again.attempts, again.failure_class, again.job) == ("open", 1, "data", "backfill")
    assert (again.error, again.run_id, again.last_run_id) == ("quarantine rate 40%", "relaunch-2", "relaunch-2")
    assert again.failed_runs == ("run-1", "relaunch-2")
    assert again.next_attempt_at == T0 + dt.timedelta(hours=1)
    assert "relaunch-2" in again.log_ref and again.updated_at >= first.updated_at

    # a sensor that sees the first run again changes nothing
    assert fail(ledger, "run-1") == (again, "seen")
    ledger.mark_rekicked([first.id], "relaunch-3")
    assert ledger.get(first.id).attempts == 2
    assert len(ledger.list()) == 1


def test_a_new_failure_after_resolve_or_ignore_is_a_new_entry(ledger):
    first, _ = fail(ledger, "run-1")
    ledger.resolve(spec=SPEC, asset=ASSET, partition="2013-12-01", run_id="run-ok")
    resolved_seen_again, created = fail(ledger, "run-1")
    assert created == "seen" and resolved_seen_again.status == "resolved"
    second, created = fail(ledger, "run-2")
    assert created == "created" and second.id != first.id and second.attempts == 0
    ledger.ignore(second.id, "known bad day in the DWH")
    third, created = fail(ledger, "run-3")
    assert created == "created"
    assert [(f.id, f.status) for f in ledger.list()] == [
        (first.id, "resolved"), (second.id, "ignored"), (third.id, "open")]


def test_record_summarizes_and_validates(ledger):
    entry, _ = fail(ledger, "run-1", error="Traceback:\n  File x\n\n" + "boom " * 1000)
    assert "\n" not in entry.error and entry.error.startswith("Traceback: File x boom")
    assert len(entry.error) == 2000 and entry.error.endswith("…")
    assert fail(ledger, "run-2", partition="2013-12-09", error="  ")[0].error == "(no error message)"
    unpartitioned, _ = fail(ledger, "run-3", partition="", asset="weather_stations")
    assert unpartitioned.partition == ""
    with pytest.raises(RegistryError, match="unknown failure class 'flaky'"):
        fail(ledger, "run-4", failure_class="flaky")
    with pytest.raises(RegistryError, match="run id"):
        fail(ledger, " ")
    with pytest.raises(RegistryError, match="timezone-aware"):
        fail(ledger, "run-5", next_attempt_at=dt.datetime(2014, 1, 1))
    assert len(ledger.list()) == 3


def test_concurrent_records_of_one_partition_make_one_entry(ledger, registry_url):
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with Ledger(registry_url) as led:
                fail(led, f"run-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ledger.list()  # create the table first: this test is about the entries
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    [entry] = ledger.list()
    assert sorted(entry.failed_runs) == ["run-0", "run-1", "run-2", "run-3"] and entry.status == "open"


# -- due --------------------------------------------------------------------------------------------
def test_due_filters_by_time_status_and_class_oldest_first(ledger):
    late, _ = fail(ledger, "r1", partition="d1", next_attempt_at=T0 + dt.timedelta(hours=2))
    early, _ = fail(ledger, "r2", partition="d2", next_attempt_at=T0 - dt.timedelta(hours=1))
    unset, _ = fail(ledger, "r3", partition="d3")  # no time set: due at once, waiting since it was created
    at_t0, _ = fail(ledger, "r4", partition="d4", next_attempt_at=T0)
    data, _ = fail(ledger, "r5", partition="d5", failure_class="data", next_attempt_at=T0 - dt.timedelta(hours=3))
    gone, _ = fail(ledger, "r6", partition="d6", next_attempt_at=T0 - dt.timedelta(hours=5))
    ledger.mark_rekicked([gone.id], "relaunch")

    assert [f.id for f in ledger.due(T0)] == [early.id, at_t0.id, unset.id]
    assert [f.id for f in ledger.due(T0 + dt.timedelta(hours=2))] == [early.id, at_t0.id, late.id, unset.id]
    assert [f.id for f in ledger.due(T0, failure_class="data")] == [data.id]
    assert [f.id for f in ledger.due(T0, failure_class=None)] == [data.id, early.id, at_t0.id, unset.id]
    other_zone = dt.timezone(dt.timedelta(hours=-5))
    assert [f.id for f in ledger.due(T0.astimezone(other_zone))] == [early.id, at_t0.id, unset.id]
    ledger.mark_rekicked([unset.id, early.id], "relaunch-2")
    assert [f.id for f in ledger.due(T0 - dt.timedelta(seconds=1))] == []
    with pytest.raises(RegistryError, match="timezone-aware"):
        ledger.due(dt.datetime(2014, 1, 5))


# -- transitions ------------------------------------------------------------------------------------
def test_mark_rekicked_all_or_none_and_idempotent(ledger):
    a, _ = fail(ledger, "r1", partition="d1")
    b, _ = fail(ledger, "r2", partition="d2")
    out = ledger.mark_rekicked([b.id, a.id, b.id], "relaunch-1", next_attempt_at=T0)
    assert [(f.id, f.status, f.attempts, f.last_run_id, f.next_attempt_at) for f in out] == [
        (b.id, "rekicked", 1, "relaunch-1", T0), (a.id, "rekicked", 1, "relaunch-1", T0)]
    assert ledger.mark_rekicked([a.id], "relaunch-1")[0].attempts == 1  # the same relaunch counts once
    assert ledger.mark_rekicked([], "relaunch-x") == []

    with pytest.raises(NotFoundError, match="999"):
        ledger.mark_rekicked([a.id, 999], "relaunch-2")
    assert ledger.get(a.id).attempts == 1  # nothing changed
    ledger.resolve(spec=SPEC, asset=ASSET, partition="d2", run_id="ok-1")
    with pytest.raises(RegistryError, match=f"#{b.id} is resolved"):
        ledger.mark_rekicked([a.id, b.id], "relaunch-2")
    assert ledger.get(a.id).attempts == 1
    with pytest.raises(RegistryError, match="run id"):
        ledger.mark_rekicked([a.id], "")


def test_reopen_after_a_failed_relaunch(ledger):
    entry, _ = fail(ledger, "run-1aaaaaaaa")
    ledger.mark_rekicked([entry.id], "relaunch-2")
    reopened = ledger.reopen(entry.id, "timeout\nagain", "relaunch-2", T0)
    assert (reopened.status, reopened.error, reopened.run_id, reopened.last_run_id, reopened.attempts) == (
        "open", "timeout again", "relaunch-2", "relaunch-2", 1)
    assert reopened.log_ref == "dagster run relaunch-2 (UI: http://dagit:3000/runs/relaunch-2)"
    assert reopened.next_attempt_at == T0 and reopened.failed_runs == ("run-1aaaaaaaa", "relaunch-2")
    assert ledger.due(T0) == [reopened]
    explicit = ledger.reopen(entry.id, "oom", "relaunch-3", None, log_ref="dagster run relaunch-3")
    assert (explicit.log_ref, explicit.next_attempt_at) == ("dagster run relaunch-3", None)

    with pytest.raises(NotFoundError):
        ledger.reopen(12345, "x", "r", None)
    ledger.ignore(entry.id, "flaky upstream, handled by hand")
    with pytest.raises(RegistryError, match="is ignored"):
        ledger.reopen(entry.id, "x", "relaunch-4", None)


def test_resolve_closes_the_partitions_open_and_rekicked_entries(ledger):
    open_one, _ = fail(ledger, "r1", partition="d1", next_attempt_at=T0)
    rekicked, _ = fail(ledger, "r2", partition="d1", asset="cleansed_flights")
    ledger.mark_rekicked([rekicked.id], "relaunch")
    other, _ = fail(ledger, "r3", partition="d2")

    [done] = ledger.resolve(spec=SPEC, asset=ASSET, partition="d1", run_id="good-run")
    assert (done.id, done.status, done.last_run_id, done.next_attempt_at) == (open_one.id, "resolved", "good-run", None)
    assert done.reason == "resolved by successful run good-run"
    [done2] = ledger.resolve(spec=SPEC, asset="cleansed_flights", partition="d1", run_id="relaunch")
    assert (done2.id, done2.status, done2.attempts) == (rekicked.id, "resolved", 1)
    assert ledger.resolve(spec=SPEC, asset=ASSET, partition="d1", run_id="good-run") == []
    assert ledger.resolve(spec="other_spec", asset=ASSET, partition="d2", run_id="x") == []
    assert ledger.get(other.id).status == "open"
    assert ledger.due(T0) == [ledger.get(other.id)]  # its next attempt was never set: due now


def test_ignore_needs_a_reason_and_refuses_resolved(ledger):
    a, _ = fail(ledger, "r1", partition="d1")
    b, _ = fail(ledger, "r2", partition="d2", next_attempt_at=T0)
    with pytest.raises(RegistryError, match="reason"):
        ledger.ignore(a.id, "   ")
    with pytest.raises(NotFoundError, match="#4242"):
        ledger.ignore(4242, "gone")
    ignored = ledger.ignore(b.id, " DWH lost that day for good ")
    assert (ignored.status, ignored.reason, ignored.next_attempt_at) == ("ignored", "DWH lost that day for good", None)
    assert ledger.ignore(b.id, "another reason") == ignored
    assert ledger.due(T0) == [ledger.get(a.id)]
    ledger.resolve(spec=SPEC, asset=ASSET, partition="d1", run_id="ok")
    with pytest.raises(RegistryError, match="already resolved"):
        ledger.ignore(a.id, "too late")
    assert ledger.get(a.id).status == "resolved"
    with pytest.raises(RegistryError, match="ignored"):
        ledger.mark_rekicked([b.id], "relaunch")


def test_list_by_spec_and_status(ledger):
    a, _ = fail(ledger, "r1", partition="d1")
    b, _ = fail(ledger, "r2", partition="d2")
    c, _ = fail(ledger, "r3", partition="d1", spec="tiny_spec")
    ledger.mark_rekicked([b.id], "relaunch")
    ledger.ignore(c.id, "test spec")
    assert [f.id for f in ledger.list()] == [a.id, b.id, c.id]
    assert [f.id for f in ledger.list(status="open")] == [a.id]
    assert [f.id for f in ledger.list(status=["open", "rekicked"])] == [a.id, b.id]
    assert [f.id for f in ledger.list(spec="tiny_spec")] == [c.id]
    assert ledger.list(spec="tiny_spec", status="open") == []
    with pytest.raises(RegistryError, match="unknown ledger status"):
        ledger.list(status="closed")


def test_ledger_lives_beside_the_registry(registry_url, ledger):
    fail(ledger, "r1")
    with Registry(registry_url) as registry:
        assert registry.specs() == []
        tables = set(sa.inspect(registry.engine).get_table_names())
    assert {"model_versions", "promotions", "failure_ledger"} <= tables
    if registry_url.startswith("postgresql"):
        password = sa.make_url(registry_url).password
        assert password not in repr(ledger) and "***" in repr(ledger)


def test_format_failures(ledger):
    assert format_failures([]) == "(no failures)"
    entry, _ = fail(ledger, "0123456789abcdef", error="E" * 100)
    lines = format_failures(ledger.list()).splitlines()
    assert lines[0].split() == ["id", "status", "class", "spec", "asset", "partition", "attempts", "run", "error"]
    assert lines[2].split() == [str(entry.id), "open", "transient", SPEC, ASSET, "2013-12-01", "0", "01234567",
                                "E" * 60]
