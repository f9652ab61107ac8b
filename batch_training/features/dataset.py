"""Assemble the rows of a training window: the cleansed days, only the columns training needs, rows
without a target dropped (and counted), preprocessing fitted on the training days."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from batch_training.errors import DataError
from batch_training.features.preprocess import Preprocessor, fit_preprocessor
from batch_training.features.window import Window
from batch_training.spec import TrainingSpec


class NoTrainingRows(DataError, ValueError):
    """The window's training or holdout days have no row with a target."""


@dataclass
class TrainingData:
    window: Window
    train: pa.Table
    holdout: pa.Table
    preprocessor: Preprocessor
    rows_without_target: int
    data_version: str
    warnings: list[str] = field(default_factory=list)


def needed_columns(spec: TrainingSpec) -> list[str]:
    features = spec.features.numeric + spec.features.categorical
    extra = list(spec.evaluation.slices) + ([spec.evaluation.naive.feature] if spec.evaluation.naive else [])
    return list(dict.fromkeys([spec.source.partition_column, *features, spec.target, *extra]))


def build_training_data(spec: TrainingSpec, window: Window, read_day: Callable[[dt.date], pa.Table],
                        day_fingerprint: Callable[[dt.date], str]) -> TrainingData:
    columns = needed_columns(spec)
    parts = {}
    dropped = 0
    for name, days in (("train", window.train_days), ("holdout", window.holdout_days)):
        table = pa.concat_tables([read_day(day).select(columns) for day in days])
        keep = pc.is_valid(table.column(spec.target))
        dropped += table.num_rows - pc.sum(keep).as_py()
        parts[name] = table.filter(keep)
    if parts["train"].num_rows == 0 or parts["holdout"].num_rows == 0:
        raise NoTrainingRows(f"as of {window.as_of}: no rows with a target in the "
                         f"{'training' if parts['train'].num_rows == 0 else 'holdout'} days")
    pre = fit_preprocessor(parts["train"], spec.features.numeric, spec.features.categorical, spec.target, spec.task)
    warnings = uninformative_features(pre)
    digest = hashlib.sha256(json.dumps(needed_columns(spec)).encode())
    for day in window.days:
        digest.update(f"{day.isoformat()}={day_fingerprint(day)};".encode())
    return TrainingData(window, parts["train"], parts["holdout"], pre, dropped, digest.hexdigest()[:16], warnings)


def uninformative_features(pre: Preprocessor) -> list[str]:
    """Features that cannot tell the model anything in this window: one category, or one number."""
    out = [f"categorical feature {f.name!r} has {'a single value ' + repr(f.vocabulary[0]) if f.vocabulary else 'no value'} "
           "in the training days: it tells the model nothing" for f in pre.categorical if len(f.vocabulary) <= 1]
    out += [f"numeric feature {f.name!r} is constant ({f.mean:g}) in the training days: it tells the model nothing"
            for f in pre.numeric if f.constant]
    return out


def write_training_data(data: TrainingData, folder: Path) -> None:
    """train.parquet, holdout.parquet, preprocessing.json and dataset.json into ``folder``."""
    pq.write_table(data.train, folder / "train.parquet", compression="zstd")
    pq.write_table(data.holdout, folder / "holdout.parquet", compression="zstd")
    (folder / "preprocessing.json").write_text(json.dumps(data.preprocessor.to_dict(), indent=1))
    (folder / "dataset.json").write_text(json.dumps(describe(data), indent=1))


def describe(data: TrainingData) -> dict:
    w = data.window
    return {"as_of": w.as_of.isoformat(), "data_version": data.data_version,
            "train_days": [w.train_days[0].isoformat(), w.train_days[-1].isoformat(), len(w.train_days)],
            "holdout_days": [w.holdout_days[0].isoformat(), w.holdout_days[-1].isoformat(), len(w.holdout_days)],
            "rows_train": data.train.num_rows, "rows_holdout": data.holdout.num_rows,
            "rows_without_target": data.rows_without_target, "warnings": data.warnings}


@dataclass
class LoadedDataset:
    train: pa.Table
    holdout: pa.Table
    preprocessor: Preprocessor
    info: dict


def read_training_data(folder: Path) -> LoadedDataset:
    if not (folder / "dataset.json").exists():
        raise FileNotFoundError(f"no training dataset in {folder} (materialize training_dataset first)")
    return LoadedDataset(pq.read_table(folder / "train.parquet"), pq.read_table(folder / "holdout.parquet"),
                         Preprocessor.from_dict(json.loads((folder / "preprocessing.json").read_text())),
                         json.loads((folder / "dataset.json").read_text()))
