"""Runs whose process is gone: a CLI run killed with SIGKILL stays STARTED in the run storage for
ever, and nothing would ever record it. The CLI (on its next start) and the recovery sensor mark
such runs failed, so they are recorded and relaunched like any other failure."""

from __future__ import annotations

import dagster as dg

from batch_training.operations import tags
from batch_training.operations.liveness import is_gone, this_process

_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


def process_tags() -> dict[str, str]:
    """Tags for a run executed in this process."""
    me = this_process()
    return {tags.HOST: me["host"], tags.PID: me["pid"], tags.PID_STARTED: me["started"]}


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run of this host whose process is gone; their ids."""
    host = this_process()["host"]
    records = instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={tags.HOST: host}), limit=200)
    reaped = []
    for record in records:
        run = record.dagster_run
        pid, started = run.tags.get(tags.PID, ""), run.tags.get(tags.PID_STARTED, "")
        if is_gone(host, pid, started):
            instance.report_run_failed(run, message=f"the process that ran this run (pid {pid} on {host}) is gone: "
                                                    "it was killed or the machine restarted")
            reaped.append(run.run_id)
    return reaped
