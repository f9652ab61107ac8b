"""The training child: ``torchrun ... -m batch_training.candidate.child JOB.json`` (or one process).

Every rank reads the job, joins the process group (gloo on CPU, nccl on GPU) and trains its shard;
rank 0 alone opens Dagster Pipes (``dagster-pipes``, never ``dagster``), logs each epoch through it,
writes the checkpoint and reports the materialization. Started outside Dagster (``make bench``),
rank 0 prints instead. A rank that fails writes its error and class beside the checkpoint
(``job.write_failure``) before it exits non-zero.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack

from batch_training.candidate.job import TrainJob, data_version, metadata, run_job, write_failure
from batch_training.operations import failpoints
from batch_training.training import EpochStats, World, resolve_device


class _Epochs:
    """Rank 0's progress: one line per epoch, to the Pipes log (the step's log) or stdout."""

    def __init__(self, log):
        self.log, self.member = log, ""

    def on_member_start(self, i: int, n: int) -> None:
        self.member = f"model {i + 1} of {n}, " if n > 1 else ""

    def on_epoch_end(self, stats: EpochStats) -> None:
        self.log(f"{self.member}epoch {stats.epoch}: train loss {stats.train_loss:.4f}, valid loss "
                 f"{stats.valid_loss:.4f}, {stats.samples_per_s:,.0f} samples/s per rank{' (best)' if stats.improved else ''}")


def _pipes_wanted() -> bool:
    return bool(os.environ.get("DAGSTER_PIPES_CONTEXT"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m batch_training.candidate.child JOB.json", file=sys.stderr)
        return 2
    job = TrainJob.read(args[0])
    world = World.from_env()
    try:
        with ExitStack() as stack:
            world.start(resolve_device(job.device))
            stack.callback(world.stop)
            failpoints.reach(f"trainer.rank{world.rank}")  # a test crashes one rank here
            if not world.is_main:
                run_job(job, world)
                return 0
            pipes = None
            if _pipes_wanted():
                from dagster_pipes import open_dagster_pipes

                pipes = stack.enter_context(open_dagster_pipes())
            log = pipes.log.info if pipes is not None else (lambda line: print(line, flush=True))
            log(f"training {job.lineage.get('spec')} as of {job.lineage.get('as_of')} in {world.size} process(es)")
            summary = run_job(job, world, [_Epochs(log)])
            assert summary is not None
            if pipes is not None:
                pipes.report_asset_materialization(metadata=metadata(summary), data_version=data_version(summary))
            else:
                print(json.dumps({"summary": summary}, default=str), flush=True)
        return 0
    except BaseException as exc:
        write_failure(job, world, exc)
        raise


if __name__ == "__main__":
    sys.exit(main())
