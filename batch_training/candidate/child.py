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

from batch_training.candidate.job import EpochLog, TrainJob, data_version, metadata, run_job, write_failure
from batch_training.operations import failpoints
from batch_training.training import World, resolve_device


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
            summary = run_job(job, world, [EpochLog(log, world.size)])
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
