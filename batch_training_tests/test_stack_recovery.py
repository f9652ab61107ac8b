"""Recovery that cannot be lost, on the production-shaped stack (real PostgreSQL, webserver, daemon):
the daemon is killed with SIGKILL in the very tick that relaunches a failure, after the ledger was
written and before the run existed. The ledger must not claim a relaunch that never happened: the
entry stays open with its request pending, and the restarted daemon asks again and recovers it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from batch_training.operations.ledger import Ledger
from batch_training.stack import control, databases, procs
from batch_training_tests.support import browser as api
from batch_training_tests.support import stack as support_stack

pytestmark = pytest.mark.postgres

FAILPOINT = "recovery.before_requests_return"
ENV = {"BATCH_TRAINING_RELAUNCH_BACKOFF_S": "0", "BATCH_TRAINING_RETRY_MAX": "0",
       "BATCH_TRAINING_RECOVERY_INTERVAL_S": "5", "BATCH_TRAINING_FAILPOINTS": f"{FAILPOINT}=pause:600"}
DAY = "2013-01-09"


def _entries(server) -> list:
    with Ledger(server.url("registry")) as book:
        return book.list(spec="flights_delay")


@pytest.mark.timeout(900)
def test_a_daemon_killed_while_relaunching_loses_no_relaunch():
    with support_stack.running_stack(ENV, prefix="bt-recovery-stack-") as (state, home):
        base = state["ui_url"]
        server = databases.local_server(control.layout(home).stack, control.layout(home).log("postgres"))
        support_stack.set_connections(server, "dwh", allowed=False)  # the DWH refuses connections
        try:
            run_id = api.launch_run(base, "flights_delay__ingest", tags={"dagster/partition": DAY})
            assert api.wait_for_run(base, run_id) == "FAILURE"
        finally:
            support_stack.set_connections(server, "dwh", allowed=True)

        # the recovery sensor records the failure, asks for the relaunch, and stops at the failpoint
        marker = Path(home) / "failpoints" / FAILPOINT
        support_stack.wait_for("the relaunching tick", marker.exists)
        daemon = state["processes"]["daemon"]
        os.killpg(daemon["pgid"], signal.SIGKILL)  # the daemon and its code server, at that moment
        support_stack.wait_for("the daemon to be gone", lambda: not procs.running_members(daemon), timeout=30)

        entries = _entries(server)  # the flights' and the weather's extract of the day
        assert sorted((e.asset, e.partition, e.failure_class, e.status, e.attempts) for e in entries) == [
            (asset, DAY, "transient", "open", 0) for asset in ("flights_delay/raw", "flights_delay/weather/raw")]
        key = entries[0].relaunch_key
        assert key and {e.relaunch_key for e in entries} == {key}  # asked for, not claimed: no run carries it
        recovery = {"batch_training/trigger": "recovery", "dagster/asset_partition_range_end": DAY}
        assert api.runs(base, tags=recovery) == []

        restarted = control.up(home, extra_env=ENV)  # `make up` again starts the dead daemon
        assert procs.running_members(restarted["processes"]["daemon"])
        reruns = api.wait_for_runs(base, lambda: api.runs(base, tags=recovery), timeout=300)
        assert [r["status"] for r in reruns] == ["SUCCESS"], reruns
        assert reruns[0]["tags"]["batch_training/relaunch"] == key

        def both_resolved():
            found = [e for e in _entries(server) if e.status == "resolved"]
            return found if len(found) == len(entries) else None

        resolved = support_stack.wait_for("the entries to be resolved", both_resolved, timeout=120)
        assert sorted((e.id, e.attempts, e.last_run_id) for e in resolved) == sorted(
            (e.id, 1, reruns[0]["runId"]) for e in entries)
        assert len(api.runs(base, tags=recovery)) == 1  # asked twice, launched once
