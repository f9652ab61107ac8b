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
from batch_training.features.columns import joined_columns, main_columns
from batch_training.features.derive import add_derived
from batch_training.features.join import as_of_join
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
    joins: dict[str, dict] = field(default_factory=dict)  # part -> join -> rows, matched, unmatched, too_old
    joined_days: dict[str, list[dt.date]] = field(default_factory=dict)  # join -> the days of it read


def needed_columns(spec: TrainingSpec) -> list[str]:
    """The main table's columns read for a window (see ``columns.py``)."""
    return main_columns(spec)


@dataclass
class JoinedDays:
    """How to read a joined table's cleansed days: ``read(join, day)`` and ``fingerprint(join, day)``."""

    read: Callable[[str, dt.date], pa.Table]
    fingerprint: Callable[[str, dt.date], str]


def _joined_span(spec: TrainingSpec, name: str, window: Window) -> list[dt.date]:
    """The joined table's days a window reads: its own days and the tolerance's margin before them."""
    join = spec.joins[name]
    first = max(window.days[0] - dt.timedelta(days=join.margin_days), spec.source.first_day)
    last = window.days[-1] if spec.source.last_day is None else min(window.days[-1], spec.source.last_day)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _joined(spec: TrainingSpec, name: str, window: Window, days: JoinedDays) -> tuple[pa.Table, list[dt.date]]:
    """The joined table's rows of the window's days and the tolerance's margin before them."""
    wanted = list(dict.fromkeys([spec.joins[name].time, *spec.joins[name].keys.values(), *joined_columns(spec, name)]))
    span = _joined_span(spec, name, window)
    tables = [days.read(name, day).select(wanted) for day in span]
    return (pa.concat_tables(tables) if tables else pa.schema([]).empty_table()), span


def window_data_version(spec: TrainingSpec, window: Window, day_fingerprint: Callable[[dt.date], str],
                        joined_days: JoinedDays | None = None) -> str:
    """The identity of a window's inputs: the columns and feature declarations read, and the
    fingerprint of every day read (the main table's and each joined table's). Computed without
    reading any row, so a sensor can tell whether a training would see new inputs."""
    digest = hashlib.sha256(json.dumps([needed_columns(spec), spec.model_dump(include={"joins", "derived", "features"},
                                                                              mode="json")],
                                       sort_keys=True, default=str).encode())
    for day in window.days:
        digest.update(f"{day.isoformat()}={day_fingerprint(day)};".encode())
    for name in spec.joins:
        for day in _joined_span(spec, name, window):
            digest.update(f"{name}/{day.isoformat()}={joined_days.fingerprint(name, day)};".encode())
    return digest.hexdigest()[:16]


def day_rows(spec: TrainingSpec, day: dt.date, read_day: Callable[[dt.date], pa.Table],
             joined_days: JoinedDays | None = None) -> pa.Table:
    """One cleansed day as training sees its rows (joins and derived features), targets missing or not:
    what monitoring compares with the training window and scores the production model on."""
    window = Window(day + dt.timedelta(days=1), (day,), ())
    joined = {name: _joined(spec, name, window, joined_days)[0] for name in spec.joins}
    return _assemble(spec, read_day(day).select(needed_columns(spec)), joined)[0]


def _assemble(spec: TrainingSpec, table: pa.Table, joined: dict[str, pa.Table]) -> tuple[pa.Table, dict]:
    """Derived features of the main columns, the point-in-time joins, then the derived features
    that read joined columns."""
    table = add_derived(table, spec, after_joins=False)
    stats = {}
    for name, rows in joined.items():
        table, stats[name] = as_of_join(table, rows, name, spec.joins[name], joined_columns(spec, name))
    return add_derived(table, spec, after_joins=True), stats


def build_training_data(spec: TrainingSpec, window: Window, read_day: Callable[[dt.date], pa.Table],
                        day_fingerprint: Callable[[dt.date], str], joined_days: JoinedDays | None = None) -> TrainingData:
    columns = needed_columns(spec)
    joined, spans = {}, {}
    for name in spec.joins:
        if joined_days is None:
            raise ValueError(f"spec {spec.name} joins {name!r}: its days must be given")
        joined[name], spans[name] = _joined(spec, name, window, joined_days)
    parts, join_stats = {}, {}
    dropped = 0
    for part, days in (("train", window.train_days), ("holdout", window.holdout_days)):
        table = pa.concat_tables([read_day(day).select(columns) for day in days])
        table, join_stats[part] = _assemble(spec, table, joined)
        keep = pc.is_valid(table.column(spec.target))
        dropped += table.num_rows - pc.sum(keep).as_py()
        parts[part] = table.filter(keep)
    if parts["train"].num_rows == 0 or parts["holdout"].num_rows == 0:
        raise NoTrainingRows(f"as of {window.as_of}: no rows with a target in the "
                             f"{'training' if parts['train'].num_rows == 0 else 'holdout'} days")
    pre = fit_preprocessor(parts["train"], spec.features.numeric, spec.features.categorical, spec.target, spec.task,
                           spec.positive_class, offset=spec.model.residual_of, clip=spec.model.clip_inputs)
    warnings = uninformative_features(pre)
    digest = window_data_version(spec, window, day_fingerprint, joined_days)
    return TrainingData(window, parts["train"], parts["holdout"], pre, dropped, digest, warnings,
                        {part: {n: st.to_dict() for n, st in stats.items()} for part, stats in join_stats.items()},
                        spans)


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


def _span(days: list[dt.date]) -> list:
    return [days[0].isoformat(), days[-1].isoformat(), len(days)] if days else [None, None, 0]


def describe(data: TrainingData) -> dict:
    """The dataset's facts; ``tables`` names the days read of every table (main and joined), the
    model's lineage."""
    w = data.window
    return {"as_of": w.as_of.isoformat(), "data_version": data.data_version,
            "train_days": [w.train_days[0].isoformat(), w.train_days[-1].isoformat(), len(w.train_days)],
            "holdout_days": [w.holdout_days[0].isoformat(), w.holdout_days[-1].isoformat(), len(w.holdout_days)],
            "rows_train": data.train.num_rows, "rows_holdout": data.holdout.num_rows,
            "rows_without_target": data.rows_without_target, "warnings": data.warnings, "joins": data.joins,
            "tables": {"cleansed": _span(w.days), **{f"{name}/cleansed": _span(days) for name, days in data.joined_days.items()}}}


@dataclass
class LoadedDataset:
    train: pa.Table
    holdout: pa.Table
    preprocessor: Preprocessor
    info: dict


def read_dataset_info(folder: Path) -> dict:
    """A training dataset's description (as-of day, data version, days), without its rows."""
    if not (folder / "dataset.json").exists():
        raise FileNotFoundError(f"no training dataset in {folder} (materialize training_dataset first)")
    return json.loads((folder / "dataset.json").read_text())


def read_training_data(folder: Path) -> LoadedDataset:
    info = read_dataset_info(folder)
    return LoadedDataset(pq.read_table(folder / "train.parquet"), pq.read_table(folder / "holdout.parquet"),
                         Preprocessor.from_dict(json.loads((folder / "preprocessing.json").read_text())), info)
