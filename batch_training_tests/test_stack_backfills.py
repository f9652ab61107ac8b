"""Recovery as Dagster backfills on the production-shaped stack (real PostgreSQL, webserver, daemon).

A user's backfill of three days of the ingest (what the UI's "Materialize" of several partitions
launches) meets a DWH outage. The recovery sensor relaunches exactly those partitions as asset
backfills, one per attempt: attempt 1 meets the outage too, attempt 2 the DWH back. Every failed
partition is materialized exactly once more, the ledger is resolved with 2 attempts (the budget),
no third backfill is made, and the ledger's story is on each partition as observations."""

from __future__ import annotations

import time

import pytest

from batch_training.operations.ledger import Ledger
from batch_training.stack import control, databases
from batch_training_tests.support import browser as api
from batch_training_tests.support import stack as support_stack

pytestmark = pytest.mark.postgres

# attempt n waits 15 * 2**(n-1) s after the failure: attempt 2 waits 30 s, time to end the outage
ENV = {"BATCH_TRAINING_RELAUNCH_BACKOFF_S": "15", "BATCH_TRAINING_RETRY_MAX": "0",
       "BATCH_TRAINING_RECOVERY_INTERVAL_S": "5", "BATCH_TRAINING_RELAUNCH_BUDGET": "2"}
DAYS = ["2013-01-14", "2013-01-15", "2013-01-16"]
INGEST = [f"flights_delay/{a}" for a in ("raw", "cleansed", "quarantine", "weather/raw", "weather/cleansed",
                                         "weather/quarantine")]
EXTRACTS = ("flights_delay/raw", "flights_delay/weather/raw")


def _finished(base: str, backfill_id: str) -> dict | None:
    [found] = [b for b in api.backfills(base) if b["id"] == backfill_id]
    return found if found["status"] in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED") else None


def _runs_of(base: str, backfill_id: str) -> list[dict]:
    """The backfill's runs, once it has some and all are finished."""
    return api.wait_for_runs(base, lambda: api.runs(base, tags={"dagster/backfill": backfill_id}), timeout=240)


def _recovery(base: str) -> list[dict]:
    return sorted(api.backfills(base, {"batch_training/trigger": "recovery"}), key=lambda b: b["tags"]["batch_training/attempt"])


@pytest.mark.timeout(900)
def test_a_dwh_outage_during_a_range_backfill_ends_with_one_recovery_backfill_per_attempt():
    with support_stack.running_stack(ENV, prefix="bt-backfill-stack-") as (state, home):
        base = state["ui_url"]
        server = databases.local_server(control.layout(home).stack, control.layout(home).log("postgres"))
        support_stack.set_connections(server, "dwh", allowed=False)  # the DWH refuses connections
        try:
            user = api.launch_backfill(base, INGEST, DAYS, title="ingest three days")
            assert [r["status"] for r in _runs_of(base, user)] == ["FAILURE"]
            # attempt 1 meets the outage too; its run's failure is seen at once (the backfill's own
            # status follows at the daemon's next backfill iteration, up to 30 s later)
            first = support_stack.wait_for("attempt 1", lambda: _recovery(base), 240, interval=1.0)
            assert [b["tags"]["batch_training/attempt"] for b in first] == ["1"]
            assert [r["status"] for r in _runs_of(base, first[0]["id"])] == ["FAILURE"]
        finally:
            support_stack.set_connections(server, "dwh", allowed=True)  # attempt 2 waits 30 s after that

        def recovered():
            found = _recovery(base)
            return found if len(found) == 2 and _finished(base, found[1]["id"]) else None

        attempts = support_stack.wait_for("attempt 2", recovered, 300, interval=1.0)
        assert [(b["tags"]["batch_training/attempt"], b["status"]) for b in attempts] == [
            ("1", "COMPLETED_FAILED"), ("2", "COMPLETED_SUCCESS")]
        # exactly the failed partitions, all six assets on the three days; attempt 2 materialized them all
        for backfill in attempts:
            assert sorted(backfill["counts"]) == sorted(INGEST)
            assert all(c[0] == len(DAYS) for c in backfill["counts"].values())
            assert backfill["tags"]["dagster/sensor_name"] == "recovery"
        assert all(c == (len(DAYS), 0, len(DAYS), 0) for c in attempts[1]["counts"].values()), attempts[1]
        assert all(c[3] == len(DAYS) for c in attempts[0]["counts"].values()), attempts[0]
        # a run per contiguous range: one run per attempt, over the three days
        for backfill in attempts:
            [run] = api.runs(base, tags={"dagster/backfill": backfill["id"]})
            assert (run["tags"]["dagster/asset_partition_range_start"], run["tags"]["dagster/asset_partition_range_end"]) \
                == (DAYS[0], DAYS[-1])

        def resolved():
            with Ledger(server.url("registry")) as book:
                found = book.list(spec="flights_delay")
            return found if found and all(e.status == "resolved" for e in found) else None

        entries = support_stack.wait_for("the ledger to be resolved", resolved, 120, interval=1.0)
        assert sorted((e.asset, e.partition, e.attempts, e.backfill_id) for e in entries) == sorted(
            (asset, day, 2, attempts[1]["id"]) for asset in EXTRACTS for day in DAYS)

        time.sleep(20)  # four more ticks: nothing more is relaunched
        assert len(_recovery(base)) == 2
        for asset in INGEST:  # every failed partition materialized exactly once, by attempt 2
            made, _ = api.asset_events(base, asset, DAYS)
            assert sorted(m["partition"] for m in made) == DAYS, (asset, made)
        _, seen = api.asset_events(base, "flights_delay/raw", [DAYS[0]])
        story = [(o["ledger_change"], o["ledger_status"], o["attempts"]) for o in sorted(seen, key=lambda o: o["timestamp"])]
        assert story[0] == ("recorded", "open", 0) and story[-1] == ("resolved", "resolved", 2), story
        assert ("relaunched", "rekicked", 1) in story and ("relaunched", "rekicked", 2) in story
        assert [o for o in seen if o["ledger_change"] == "resolved"][0]["backfill"].endswith(
            f"/runs/b/{attempts[1]['id']}")
