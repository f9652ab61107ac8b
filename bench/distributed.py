"""The flights model as of 2014-01-01 trained in 1 process (its members one after the other), with
its members in processes of their own (the spec's ``model.processes``, as the pipeline trains it) and
in 2 processes (torchrun, DDP over gloo, CPU), side by side: wall time of the whole training
(process start, data, every member, the checkpoint) and the holdout MAE, for each of 3 seeds, with
the mean and the spread, never the best seed.

All three run the same child the pipeline runs (``batch_training.candidate.child``: ``TrainJob`` in, a
checkpoint out): one process as ``python -m batch_training.candidate.child``, two under
``torchrun --standalone --nproc-per-node 2``. The data is bench.train's (the sample year, cleansed,
joined, derived features).

    python -m bench.distributed
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch_training.candidate import Predictor
from batch_training.candidate.evaluate import evaluate
from batch_training.candidate.job import TrainJob
from batch_training.features.dataset import read_training_data, write_training_data
from batch_training.spec import load_specs
from batch_training.training import load_checkpoint
from bench.train import AS_OF, SEEDS, cleansed_days, training_data

CHILD = ["-m", "batch_training.candidate.child"]


def _command(processes: int, job_file: Path) -> list[str]:
    if processes == 1:
        return [sys.executable, *CHILD, str(job_file)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            *CHILD, str(job_file)]


def _spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "values": values}


#: mode -> (processes of the child, model.processes); None: the spec's
MODES = {"1_process": (1, 1), "member_processes": (1, None), "2_process": (2, 1)}


def measure(modes: tuple[str, ...] = tuple(MODES)) -> dict:
    spec = load_specs()[0]
    days, joined = cleansed_days(spec)
    built = training_data(spec, days, joined, AS_OF)
    out: dict = {"as_of": AS_OF.isoformat(), "rows_train": built.train.num_rows, "seeds": list(SEEDS)}
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        write_training_data(built, folder)
        data = read_training_data(folder)
        for mode in modes:
            n, members = MODES[mode]
            seconds, maes = [], []
            for seed in SEEDS:
                model = spec.model.model_copy(update={"seed": seed, "processes": members or spec.model.processes})
                job = TrainJob(dataset=str(folder), checkpoint=str(Path(tmp) / f"{mode}-s{seed}" / "model.pt"),
                               model=model.model_dump(mode="json"), lineage={"bench": True},
                               numeric=list(spec.features.numeric), categorical=list(spec.features.categorical),
                               device="cpu", mode="torchrun" if n > 1 else "in_process")
                job.folder.mkdir(parents=True)
                job_file = job.write(job.folder / "job.json")
                start = time.perf_counter()
                subprocess.run(_command(n, job_file), check=True, stdout=subprocess.DEVNULL)
                seconds.append(time.perf_counter() - start)
                checkpoint = load_checkpoint(Path(job.checkpoint))
                report, _, _ = evaluate(spec.model_copy(update={"model": model}), data, Predictor(checkpoint))
                maes.append(report["candidate"]["mae"])
            out[mode] = {"seconds": _spread(seconds), "mae": _spread(maes), "child_processes": n,
                         "member_processes": model.processes}
            print(f"  {mode.replace('_', ' ')}: {out[mode]['seconds']['mean']:.1f} s "
                  f"({min(seconds):.1f}..{max(seconds):.1f}), MAE {statistics.fmean(maes):.3f} "
                  f"({min(maes):.3f}..{max(maes):.3f})", flush=True)
    one = out.get("1_process")
    for mode in ("member_processes", "2_process"):
        if one and mode in out:
            out[f"speedup_{mode}_vs_1"] = one["seconds"]["mean"] / out[mode]["seconds"]["mean"]
            out[f"mae_{mode}_vs_1"] = out[mode]["mae"]["mean"] / one["mae"]["mean"]
            print(f"  {mode.replace('_', ' ')} vs 1 process: {out[f'speedup_{mode}_vs_1']:.2f}x as fast, "
                  f"MAE ratio {out[f'mae_{mode}_vs_1']:.4f}")
    return out


def main() -> dict:
    print(f"flights as of {AS_OF}, trained by the pipeline's child in 1 process, with its members in processes of "
          f"their own, and in 2 CPU processes (torchrun); {len(SEEDS)} seeds each")
    return measure()


if __name__ == "__main__":
    main()
