"""The flights model as of 2014-01-01 trained in 1 process and in 2 (torchrun, DDP over gloo, CPU),
side by side: wall time of the whole training (process start, data, every member, the checkpoint)
and the holdout MAE, for each of 3 seeds, with the mean and the spread, never the best seed.

Both run the same child the pipeline runs (``batch_training.candidate.child``: ``TrainJob`` in, a
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


def measure(processes: tuple[int, ...] = (1, 2)) -> dict:
    spec = load_specs()[0]
    days, joined = cleansed_days(spec)
    built = training_data(spec, days, joined, AS_OF)
    out: dict = {"as_of": AS_OF.isoformat(), "rows_train": built.train.num_rows, "seeds": list(SEEDS)}
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        write_training_data(built, folder)
        data = read_training_data(folder)
        for n in processes:
            seconds, maes = [], []
            for seed in SEEDS:
                model = spec.model.model_copy(update={"seed": seed})
                job = TrainJob(dataset=str(folder), checkpoint=str(Path(tmp) / f"p{n}-s{seed}" / "model.pt"),
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
            out[f"{n}_process"] = {"seconds": _spread(seconds), "mae": _spread(maes)}
            print(f"  {n} process(es): {out[f'{n}_process']['seconds']['mean']:.1f} s "
                  f"({min(seconds):.1f}..{max(seconds):.1f}), MAE {statistics.fmean(maes):.3f} "
                  f"({min(maes):.3f}..{max(maes):.3f})", flush=True)
    if 1 in processes and 2 in processes:
        one, two = out["1_process"], out["2_process"]
        out["speedup_2_vs_1"] = one["seconds"]["mean"] / two["seconds"]["mean"]
        out["mae_2_vs_1"] = two["mae"]["mean"] / one["mae"]["mean"]
        print(f"  2 processes vs 1: {out['speedup_2_vs_1']:.2f}x as fast, MAE ratio {out['mae_2_vs_1']:.4f}")
    return out


def main() -> dict:
    print(f"flights as of {AS_OF}, trained by the pipeline's child in 1 and 2 CPU processes; {len(SEEDS)} seeds each")
    return measure()


if __name__ == "__main__":
    main()
